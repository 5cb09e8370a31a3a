"""A monitor: the process that keeps a detached container (run -d, start) or exec (-d)
going after hood returns. Forked twice (no zombie for our caller to reap), in a session
of its own, its stdio on /dev/null; it tells hood on a pipe once the process has started,
or why it did not."""

from __future__ import annotations

import os
from collections.abc import Callable

from hood.core.jsonio import dumps, loads
from hood.core.lean import suppress
from hood.runtime.launch import ContainerError

Work = Callable[[Callable[[], None]], None]
"""What the monitor runs: it calls its argument once the process has started, and may
raise (before that) why it could not start."""


def run_in_monitor(
    work: Work,
    *,
    on_failure: Callable[[int, str], None] | None = None,
    died: tuple[int, str] = (125, "the monitor died"),
) -> None:
    """Run `work` in a monitor and return once it has started the process; raise its
    failure (status, message) as a ContainerError, after which the monitor calls
    `on_failure` with them. `died`: what is raised when the monitor says nothing."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the monitor
        try:
            _monitor(work, w, r, on_failure)
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)  # the first fork, gone once the monitor is forked
    with open(r, "rb") as f:
        line = f.readline()
    try:
        status, message = loads(line) if line else died
    except ValueError:
        status, message = died
    if status:
        raise ContainerError(str(message), int(status))


def _monitor(
    work: Work, w: int, r: int, on_failure: Callable[[int, str], None] | None
) -> None:  # pragma: no cover - runs in the monitor
    os.close(r)
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    said = False

    def started() -> None:
        nonlocal said
        said = True
        os.write(w, b'[0, ""]\n')
        os.close(w)

    try:
        work(started)
        return
    except ContainerError as exc:
        status, message = exc.status, str(exc)
    except BaseException as exc:  # noqa: BLE001 - whatever stopped it, said to hood
        status, message = 125, str(exc)
    if not said:
        with suppress(OSError):
            os.write(w, dumps([status, message]).encode() + b"\n")
    if on_failure is not None:
        on_failure(status, message)
