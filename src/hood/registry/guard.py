"""Bounds on waiting that no socket timeout gives.

A socket timeout bounds one read. A registry that answers `100 Continue` for ever, or sends
its headers or body one byte a second, never lets one read time out. So every connection the
client opens goes through a network stream that also enforces:

- a deadline per request (HOOD_REGISTRY_DEADLINE, default 600 s): the response headers, and
  the whole body of what is read in one piece (manifests, tokens, configs, error bodies),
  must arrive within it. Blob bodies have no deadline: they are bounded by their size and
  the minimum rate below. Requests that stream an upload body get none either;
- a minimum transfer rate (HOOD_REGISTRY_MIN_RATE, default 1024 bytes/s): averaged over
  each `window` seconds (the read timeout, HOOD_REGISTRY_TIMEOUT) spent waiting for data.
  Only time blocked in a read counts: a slow consumer is not the registry's fault, and the
  wait for the first byte of an answer (the server thinking) is left to the read timeout;
- at most 5 informational (1xx) responses before the real one, as Go's HTTP client (and so
  docker) allows.

The failures are httpcore exceptions (a ReadTimeout, a RemoteProtocolError) carrying a
message that says which bound was hit; httpx maps them to its own, and the client retries
them as any other transport error.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from hood.core.errors import RegistryError

DEFAULT_DEADLINE = 600.0
DEFAULT_MIN_RATE = 1024.0
MAX_INFORMATIONAL = 5
_MAX_HEAD = 64 * 1024  # scan no further for the end of a response head
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_STATUS = re.compile(rb"[\r\n]*HTTP/\d(?:\.\d)? +(\d{3})")


class TooSlow(httpcore.ReadTimeout):
    """The deadline passed, or the registry sent less than the minimum rate."""


class TooManyInformational(httpcore.RemoteProtocolError):
    """More 1xx responses than any honest server sends before its answer."""


@dataclass(frozen=True)
class Limits:
    deadline: float | None = DEFAULT_DEADLINE  # seconds per request; None: no deadline
    min_rate: float = DEFAULT_MIN_RATE  # bytes per second; 0: no minimum
    window: float = 30.0  # seconds of waiting over which min_rate is averaged
    max_informational: int = MAX_INFORMATIONAL

    @classmethod
    def from_env(
        cls, window: float, deadline: float | None = None, min_rate: float | None = None
    ) -> Limits:
        """The limits, from the arguments when given, else HOOD_REGISTRY_DEADLINE and
        HOOD_REGISTRY_MIN_RATE (0 turns either off), else the defaults."""
        if deadline is None:
            deadline = _env_number("HOOD_REGISTRY_DEADLINE", DEFAULT_DEADLINE, "seconds")
        if min_rate is None:
            min_rate = _env_number("HOOD_REGISTRY_MIN_RATE", DEFAULT_MIN_RATE, "bytes per second")
        return cls(deadline or None, min_rate, max(window, 0.001))


def _env_number(name: str, default: float, unit: str) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise RegistryError(f"{name}={text[:40]!r} is not a number of {unit} (0 turns it off)")
    return value


# --- the deadline of the request this thread is sending or reading -----------------------

_local = threading.local()


@contextlib.contextmanager
def deadline(at: float | None, seconds: float | None = None) -> Iterator[None]:
    """Reads in this thread fail once time.monotonic() passes `at` (None: no deadline of
    its own). Nested deadlines keep the earlier one."""
    outer = getattr(_local, "deadline", None)
    inner = outer
    if at is not None and (outer is None or at < outer[0]):
        inner = (at, seconds)
    _local.deadline = inner
    try:
        yield
    finally:
        _local.deadline = outer


def _current() -> tuple[float, float | None] | None:
    return getattr(_local, "deadline", None)


def _past_deadline(seconds: float | None) -> TooSlow:
    shown = f"{seconds:g} s" if seconds else "its deadline"
    return TooSlow(f"no complete answer within {shown} (HOOD_REGISTRY_DEADLINE)")


def _bounded_timeout(timeout: float | None) -> float | None:
    current = _current()
    if current is None:
        return timeout
    left = current[0] - time.monotonic()
    if left <= 0:
        raise _past_deadline(current[1])
    return left if timeout is None else min(timeout, left)


# --- the network layer ---------------------------------------------------------------------


class GuardedBackend(httpcore.NetworkBackend):
    """Wraps httpcore's backend: every stream it opens is a _GuardedStream."""

    def __init__(self, inner: httpcore.NetworkBackend, limits: Limits) -> None:
        self._inner = inner
        self.limits = limits

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _bounded_timeout(timeout), local_address, socket_options
        )
        return _GuardedStream(stream, self.limits)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, _bounded_timeout(timeout), socket_options)
        return _GuardedStream(stream, self.limits)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _GuardedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, limits: Limits) -> None:
        self._inner = inner
        self._limits = limits
        self._new_request()

    def _new_request(self) -> None:
        self._first = True  # the next read waits for the server to think: not rated
        self._waited = 0.0
        self._got = 0
        self._in_head = True
        self._head = b""
        self._informational = 0

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        current = _current()
        bounded = _bounded_timeout(timeout)
        start = time.monotonic()
        try:
            data = self._inner.read(max_bytes, bounded)
        except httpcore.ReadTimeout:
            if current is not None and time.monotonic() >= current[0]:
                raise _past_deadline(current[1]) from None
            raise
        self._rate(len(data), time.monotonic() - start)
        if self._in_head and data:
            self._scan_head(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # Writing means a request is going out: what is read next answers it.
        self._new_request()
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _bounded_timeout(timeout))
        return _GuardedStream(inner, self._limits)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def _rate(self, got: int, waited: float) -> None:
        limits = self._limits
        if self._first:
            self._first = False
            return
        if limits.min_rate <= 0:
            return
        self._waited += waited
        self._got += got
        if self._waited >= limits.window:
            if self._got < limits.min_rate * self._waited:
                raise TooSlow(
                    f"the registry sent {self._got} bytes in {self._waited:.1f} s, less than "
                    f"{limits.min_rate:g} bytes per second (HOOD_REGISTRY_MIN_RATE)"
                )
            self._waited, self._got = 0.0, 0

    def _scan_head(self, data: bytes) -> None:
        """Count the 1xx response heads before the real one (httpcore skips them for ever)."""
        self._head += data
        while True:
            end = _HEAD_END.search(self._head)
            if end is None:
                if len(self._head) > _MAX_HEAD:  # h11 refuses such a head itself
                    self._in_head, self._head = False, b""
                return
            status = _STATUS.match(self._head)
            code = status.group(1) if status else b""
            if not code.startswith(b"1") or code == b"101":
                self._in_head, self._head = False, b""
                return
            self._informational += 1
            if self._informational > self._limits.max_informational:
                raise TooManyInformational(
                    f"more than {self._limits.max_informational} informational (1xx) "
                    "responses to one request"
                )
            self._head = self._head[end.end() :]


def guard(client: httpx.Client, limits: Limits) -> None:
    """Route every connection of `client` (direct or through a proxy) through the guard.

    httpx has no public way to give a transport a network backend, so this reaches into
    its pools; if a new httpx moves them, hood refuses to talk to registries unguarded."""
    transports = [client._transport, *(t for t in client._mounts.values() if t is not None)]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            raise RegistryError(
                f"this httpx ({httpx.__version__}) keeps its connections where hood cannot "
                "bound them; install the httpx version hood's pyproject.toml names"
            )
        if isinstance(backend, GuardedBackend):
            continue
        pool._network_backend = GuardedBackend(backend, limits)  # type: ignore[union-attr]
