"""What `docker logs` shows: the json-file log's entries, tailed, cut by time, followed."""

from __future__ import annotations

import time

from hood.core.errors import HoodError
from hood.core.lean import Record
from hood.store.containers import (
    Container,
    ContainerStore,
)
from hood.store.layout import Layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from hood.core.platform import Platform

    # puller(name, platform, missing): bring the image into the store.
    Puller = Callable[[str, "Platform | None", bool], None]
    Warn = Callable[[str], None]


class LogEntry(Record):
    __slots__ = ("stream", "data", "time")

    def __init__(self, stream: str, data: bytes, time: str) -> None:  # noqa: A002
        self.stream = stream
        self.data = data
        self.time = time


def read_logs(layout: Layout, c: Container, *, follow: bool = False) -> Iterator[LogEntry]:
    """The container's json-file log, entry by entry; with `follow`, until it stops."""
    from hood.core.jsonio import loads

    def entry(line: bytes) -> LogEntry | None:
        try:
            doc = loads(line)
        except (ValueError, RecursionError, UnicodeDecodeError):
            return None
        if not isinstance(doc, dict):
            return None
        stream = doc.get("stream")
        return LogEntry(
            stream if stream in ("stdout", "stderr") else "stdout",
            str(doc.get("log", "")).encode("utf-8", "surrogateescape"),
            str(doc.get("time", "")),
        )

    try:
        f = open(c.log_path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return
    store = ContainerStore(layout)
    with f:
        while True:
            line = f.readline()
            if line.endswith(b"\n"):
                item = entry(line)
                if item is not None:
                    yield item
                continue
            if line:
                f.seek(-len(line), 1)
            if not follow:
                return
            try:
                running = store.load(c.id).running
            except HoodError:  # removed meanwhile
                return
            if not running:
                for raw in f.read().splitlines():
                    item = entry(raw)
                    if item is not None:
                        yield item
                return
            time.sleep(0.1)


def _entry_time(entry: LogEntry) -> tuple[int, int]:
    from hood.core.timefmt import parse_go_time

    when = parse_go_time(entry.time)
    return (int(when.whole.timestamp()), when.nanos) if when else (0, 0)


def container_logs(
    layout: Layout,
    c: Container,
    *,
    follow: bool = False,
    tail: int = -1,
    since: tuple[int, int] | None = None,
    until: tuple[int, int] | None = None,
) -> Iterator[LogEntry]:
    """docker logs: the last `tail` entries (all when negative), those at or after `since`
    and up to `until` ((seconds, nanoseconds) since the epoch); with `follow`, then what
    the container writes until it stops (or until `until` has passed)."""
    skip = 0
    if tail >= 0:
        skip = max(0, sum(1 for _ in read_logs(layout, c)) - tail)
    for i, entry in enumerate(read_logs(layout, c, follow=follow)):
        if i < skip:
            continue
        if since is not None or until is not None:
            when = _entry_time(entry)
            if since is not None and when < since:
                continue
            if until is not None and when > until:
                return
        yield entry
