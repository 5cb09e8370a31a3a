"""Session-wide real parts: registries on loopback, fixture images pushed to them, hood runner."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import support.xxx`
# A bug's traceback, not its one-line summary, so the suite's "no Traceback" checks see it
os.environ.setdefault("HOOD_TRACEBACK", "1")

from support import images as fixture_images  # noqa: E402
from support import registry as registries  # noqa: E402
from support.hood import Hood  # noqa: E402


def _start(kind: str, starter):
    try:
        return starter()
    except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
        pytest.skip(f"cannot start the {kind} docker-registry: {exc}")


@pytest.fixture(scope="session")
def plain_registry():
    """Plain-HTTP docker-registry on 127.0.0.1, no auth."""
    reg = _start("plain", registries.start_plain)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def token_registry():
    """TLS docker-registry with Bearer token auth (anonymous pull on public/ only)."""
    reg = _start("token", registries.start_token)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def basic_registry():
    """Plain-HTTP docker-registry with htpasswd basic auth (alice/secret)."""
    reg = _start("basic", registries.start_basic)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def built_images() -> dict:
    """name -> Image | Index, built once per session (known digests)."""
    return fixture_images.all_fixtures()


@pytest.fixture(scope="session")
def plain_images(plain_registry, built_images) -> dict:
    """Every fixture pushed to the plain registry as library/NAME:latest; name -> Pushed."""
    return {
        name: fixture_images.push(plain_registry, thing, f"library/{name}")
        for name, thing in built_images.items()
    }


@pytest.fixture(scope="session")
def token_images(token_registry, built_images) -> dict:
    """busybox pushed to the token registry as public/busybox and private/busybox."""
    bb = built_images["busybox"]
    return {
        "public": fixture_images.push(token_registry, bb, "public/busybox"),
        "private": fixture_images.push(token_registry, bb, "private/busybox"),
    }


@pytest.fixture(scope="session")
def basic_images(basic_registry, built_images) -> dict:
    return {
        "busybox": fixture_images.push(basic_registry, built_images["busybox"], "library/busybox")
    }


@pytest.fixture
def hood(tmp_path) -> Hood:
    """A hood runner with an empty data root of its own and no credentials."""
    return Hood(tmp_path / "root")


@pytest.fixture(scope="session")
def dockerd(plain_registry):
    """Debian's dockerd with its own data/exec roots, trusting the plain registry over HTTP."""
    from support import dockerd as dockerd_mod

    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    try:
        d = dockerd_mod.start([plain_registry.host])
    except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
        pytest.skip(f"cannot start dockerd: {exc}")
    yield d
    d.stop()
