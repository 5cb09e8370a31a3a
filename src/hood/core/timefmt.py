"""Time as Go prints and parses it: RFC 3339 with nanoseconds, docker's "2 weeks ago"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\d*(Z|z|[+-]\d{2}:\d{2})?"
)

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class GoTime:
    """A timestamp with Go's nanosecond precision and the offset it was written with."""

    whole: datetime  # timezone-aware, no sub-second part
    nanos: int = 0

    @property
    def datetime(self) -> datetime:
        return self.whole + timedelta(microseconds=self.nanos // 1000)

    def timestamp(self) -> float:
        return self.whole.timestamp() + self.nanos / 1e9

    def rfc3339nano(self) -> str:
        """Go's time.RFC3339Nano: trailing zeros of the fraction dropped; UTC as Z."""
        text = self.whole.strftime("%Y-%m-%dT%H:%M:%S")
        if self.nanos:
            text += "." + f"{self.nanos:09d}".rstrip("0")
        offset = self.whole.utcoffset() or timedelta(0)
        if offset == timedelta(0):
            return text + "Z"
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        minutes = abs(minutes)
        return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_go_time(text: str | None) -> GoTime | None:
    if not text:
        return None
    match = _RFC3339.fullmatch(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    if zone in (None, "Z", "z"):
        tz = UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        whole = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz
        )
    except ValueError:
        return None
    nanos = int((frac or "0").ljust(9, "0")[:9])
    return GoTime(whole, nanos)


def parse_rfc3339(text: str) -> datetime | None:
    parsed = parse_go_time(text)
    return parsed.datetime if parsed else None


def human_duration(delta: timedelta) -> str:
    """docker/go-units HumanDuration."""
    seconds = int(delta.total_seconds())
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = int(delta.total_seconds() / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(delta.total_seconds() / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(delta.total_seconds() / 3600) // 24 // 365} years"


def since(when: datetime | None, now: datetime | None = None) -> str:
    """`2 weeks ago`, or `N/A` for an unknown time, as docker prints CREATED."""
    if when is None or when.year <= 1:
        return "N/A"
    now = now or datetime.now(UTC)
    return human_duration(now - when) + " ago"


def human_size(size: float, precision: int = 3) -> str:
    """docker/go-units HumanSizeWithPrecision: decimal units, `precision` significant
    digits (3 for SIZE columns; 4, as HumanSize, for progress and VirtualSize). Python's
    %g matches Go's, exponent from 1e`precision` on."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.{precision}g}{units[i]}"
