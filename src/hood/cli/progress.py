"""Pull progress as docker prints it: redrawn per-layer lines on a terminal, plain lines
otherwise (no progress bars in CI logs)."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from hood.core.timefmt import human_size
from hood.services.pull import PullEvent


def progress_bar(current: int, total: int, width: int = 200, eta: str = "") -> str:
    """jsonmessage's JSONProgress.String() for a terminal `width` columns wide: the
    50-wide bar of '=' then '>' only past 110 columns, current/total, and the time left
    (`eta`, Go's duration) past 50."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current, 4):>8}"
    percentage = min(50, int(current / total * 100) // 2)
    bar = ""
    if width > 110:
        bar = f"[{'=' * percentage}>{' ' * max(0, 50 - percentage)}] "
    numbers = f"{human_size(current, 4):>8}/{human_size(total, 4)}"
    if current > total:  # a wonky total: the current count alone
        numbers = f"{human_size(current, 4):>8}"
    left = f" {eta}" if eta and width > 50 and percentage < 50 else ""
    return bar + numbers + left


def go_duration(seconds: float) -> str:
    """time.Duration.Round(time.Second).String(): 0s, 7s, 1m5s, 2h0m3s."""
    s = int(seconds + 0.5)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


def terminal_width(out: TextIO) -> int:
    """Columns of the terminal `out` writes to (0: none), read once as docker does."""
    import os

    try:
        return os.get_terminal_size(out.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 0


_UNDER_WAY = frozenset({"Downloading", "Extracting", "Pushing"})  # the states docker draws a bar for


class ProgressPrinter:
    """Receives a pull's or a push's events from worker threads and prints them: on a
    terminal, one line per layer redrawn in place, with docker's progress (fitted to the
    terminal's width); elsewhere plain lines without progress."""

    def __init__(
        self, out: TextIO | None = None, *, tty: bool | None = None, width: int | None = None
    ) -> None:
        out = out or sys.stdout
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.width = terminal_width(out) if width is None else width
        self.lock = threading.Lock()
        self.order: list[str] = []
        self.lines: dict[str, str] = {}
        self.started: dict[tuple[str, str], float] = {}  # (layer, status) -> first progress

    def __call__(self, event: PullEvent) -> None:
        with self.lock:
            if self.tty:
                self._tty(event)
            else:
                self._plain(event)

    def _plain(self, event: PullEvent) -> None:
        if event.status in ("Downloading", "Extracting"):
            return
        text = f"{event.id}: {event.status}" if event.id else event.status
        self.out.write(text + "\n")
        self.out.flush()

    def _eta(self, event: PullEvent) -> str:
        import time

        now = time.monotonic()
        start = self.started.setdefault((event.id, event.status), now)
        if event.current <= 0 or now <= start:
            return ""
        return go_duration((event.total - event.current) * (now - start) / event.current)

    def _tty(self, event: PullEvent) -> None:
        if not event.id or event.status.startswith("Pulling from"):
            text = f"{event.id}: {event.status}" if event.id else event.status
            self.out.write(text + "\n")
            self.out.flush()
            return
        text = f"{event.id}: {event.status}"
        if (event.total or event.current) and event.status in _UNDER_WAY:
            shown = progress_bar(event.current, event.total, self.width, self._eta(event))
            if shown:
                text += " " + shown
        if event.id not in self.lines:
            self.order.append(event.id)
            self.lines[event.id] = text
            self.out.write(text + "\n")
        else:
            self.lines[event.id] = text
            up = len(self.order) - self.order.index(event.id)
            self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
        self.out.flush()


class JsonPrinter:
    """One JSON object per line, shaped as the docker API's pull messages
    (`status`, `id`, `progressDetail`), for programs that follow a pull."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.lock = threading.Lock()

    def __call__(self, event: PullEvent) -> None:
        import json

        message: dict[str, object] = {"status": event.status}
        if event.id:
            message["id"] = event.id
        if event.total or event.current:
            message["progressDetail"] = {"current": event.current, "total": event.total}
        with self.lock:
            self.out.write(json.dumps(message, separators=(",", ":")) + "\n")
            self.out.flush()
