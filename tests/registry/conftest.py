"""Fixtures for the hood.registry tests.

The real registries (plain, TLS + token, htpasswd basic) and the fixture images come from
tests/conftest.py (session-scoped). Here: a clean environment per test (HOME, DOCKER_CONFIG,
HOOD_CERTS_D, HOOD_INSECURE_REGISTRIES), a quick RetryPolicy that records its sleeps, and
`Scripted`, a real HTTP server in a thread whose every answer a test writes itself, for the
faults no real registry produces on demand.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from regkit import Scripted, write_helper

from hood.registry import tls
from hood.registry.retry import RetryPolicy


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No credentials, CAs or insecure hosts leak in from the machine running the tests."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.setenv("HOOD_CERTS_D", str(tmp_path / "no-certs.d"))
    monkeypatch.delenv("HOOD_INSECURE_REGISTRIES", raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    tls.clear_cache()
    yield home
    tls.clear_cache()


@dataclass
class Sleeps:
    """A RetryPolicy.sleep that only records."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def fast_retry(sleeps) -> RetryPolicy:
    """4 tries, 0.01 s base delay, no jitter, nothing really slept (recorded in `sleeps`)."""
    return RetryPolicy(
        attempts=4, base_delay=0.01, max_delay=0.1, max_total=30, jitter=0, sleep=sleeps
    )


@pytest.fixture
def scripted():
    """Factory: scripted(route) → a started Scripted server, stopped after the test."""
    servers: list[Scripted] = []

    def make(route=None, shared=None, tls=None) -> Scripted:
        s = Scripted(route, shared, tls)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def helper_bin(tmp_path, monkeypatch):
    """A bin dir on PATH; returns (bindir, make(name) -> store path)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")

    def make(name: str, initial: dict | None = None) -> Path:
        store = tmp_path / f"helper-{name}.json"
        if initial is not None:
            store.write_text(json.dumps(initial))
        write_helper(bindir, name, store)
        return store

    return make
