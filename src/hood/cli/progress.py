"""Pull progress as docker prints it: redrawn per-layer lines on a terminal, plain lines
otherwise (no progress bars in CI logs)."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from hood.core.timefmt import human_size
from hood.services.pull import PullEvent


def progress_bar(current: int, total: int) -> str:
    """jsonmessage's JSONProgress: a 50-wide bar of '=' then '>', then current/total."""
    if total <= 0:
        return f"{human_size(current, 4):>8}" if current > 0 else ""
    filled = min(50, int(current / total * 100) // 2)
    bar = f"[{'=' * filled}>{' ' * (50 - filled)}] "
    if current > total:
        return bar
    return bar + f"{human_size(current, 4):>8}/{human_size(total, 4)}"


class PullPrinter:
    """Receives PullEvents from worker threads and prints them."""

    def __init__(self, out: TextIO | None = None, *, tty: bool | None = None) -> None:
        out = out or sys.stdout
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.lock = threading.Lock()
        self.order: list[str] = []
        self.lines: dict[str, str] = {}

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

    def _tty(self, event: PullEvent) -> None:
        if not event.id or event.status.startswith("Pulling from"):
            text = f"{event.id}: {event.status}" if event.id else event.status
            self.out.write(text + "\n")
            self.out.flush()
            return
        text = f"{event.id}: {event.status}"
        if event.total:
            text += " " + progress_bar(event.current, event.total)
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
