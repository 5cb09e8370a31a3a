"""docker's json-file log: the writer, and the relay that copies a process's output
pipes into it (the built-in runtime without -t, and runc or crun)."""

from __future__ import annotations

import os
import select
import time

from hood.core.jsonio import dumps
from hood.core.lean import suppress


def _log_time() -> str:
    """Now as Go's RFC3339Nano in UTC, as docker's json-file log writes it."""
    ns = time.time_ns()
    frac = f"{ns % 10**9:09d}".rstrip("0")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9))
    return f"{stamp}.{frac}Z" if frac else f"{stamp}Z"


class JsonLog:
    """docker's json-file log driver: one {"log","stream","time"} object a line."""

    def __init__(self, path: str) -> None:
        self.f = open(path, "ab", buffering=0)  # noqa: SIM115
        self.partial: dict[str, bytes] = {}
        self.failed = False

    def write(self, stream: str, data: bytes) -> None:
        buf = self.partial.get(stream, b"") + data
        *lines, rest = buf.split(b"\n")
        for line in lines:
            self._emit(stream, line + b"\n")
        self.partial[stream] = rest

    def _emit(self, stream: str, raw: bytes) -> None:
        if self.failed:  # a full disk loses the log, never the container's output
            return
        doc = {"log": raw.decode("utf-8", "replace"), "stream": stream, "time": _log_time()}
        try:
            self.f.write(dumps(doc, separators=(",", ":")).encode() + b"\n")
        except OSError:
            self.failed = True

    def close(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                self._emit(stream, rest)
        with suppress(OSError):
            self.f.close()


def write_all(fd: int, data: bytes) -> None:
    """All of `data` to our stdout or stderr; a reader that went away is not our end."""
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass


def relay_to_log(
    pid: int,
    pipes: list[tuple[int, str]],
    log_path: str,
    *,
    echo: bool = False,
    shown: list[str] | None = None,
) -> int:
    """Copy the process's output pipes into its json-file log until they close (with
    `echo`, to our stdout and stderr as well, as they come: those of `shown`, -a's
    streams, when given); its wait status."""
    log = JsonLog(log_path)
    names = dict(pipes)
    targets = {"stdout": 1, "stderr": 2}
    open_fds = [fd for fd, _ in pipes]
    try:
        while open_fds:
            ready, _, _ = select.select(open_fds, [], [])
            for fd in ready:
                data = os.read(fd, 65536)
                if not data:
                    open_fds.remove(fd)
                    os.close(fd)
                    continue
                if echo and (shown is None or names[fd] in shown):
                    write_all(targets[names[fd]], data)
                log.write(names[fd], data)
    finally:
        log.close()
    _, status = os.waitpid(pid, 0)
    return status
