"""Time as Go prints and parses it: RFC 3339 with nanoseconds, docker's "2 weeks ago"."""

from __future__ import annotations

import re
import time
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


def rfc3339_nano_fixed(text: str) -> str:
    """A recorded RFC 3339 time as docker logs -t prints it (Go's RFC3339NanoFixed: nine
    fraction digits, always)."""
    parsed = parse_go_time(text)
    if parsed is None:
        return text
    whole = parsed.rfc3339nano()
    head = parsed.whole.strftime("%Y-%m-%dT%H:%M:%S")
    zone = whole[len(head) :].lstrip(".0123456789")
    return f"{head}.{parsed.nanos:09d}{zone}"


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


# --- docker's --since/--until values ----------------------------------------------------------

_GO_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_GO_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> int | None:
    """Go's time.ParseDuration in nanoseconds (`1h30m`, `-1.5s`, `42m`), or None."""
    s = text
    sign = 1
    if s and s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        return None
    total = 0
    pos = 0
    while pos < len(s):
        m = _GO_DURATION.match(s, pos)
        if not m or m.group(1) in ("", "."):
            return None
        whole, _, frac = m.group(1).partition(".")
        unit = _GO_DURATION_UNITS[m.group(2)]
        total += int(whole or "0") * unit
        if frac:
            total += int(frac) * unit // 10 ** len(frac)
        pos = m.end()
    return sign * total


_DOCKER_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?"
    r"(Z|[+-]\d{2}:\d{2})?"
)


def docker_timestamp(value: str, now: float) -> tuple[int, int]:
    """docker's GetTimestamp then ParseTimestamps: a `--since`/`--until` value as (seconds,
    nanoseconds) since the epoch. Takes a Go duration before now (`42m`), an RFC 3339 time or
    part of one (`2013-01-02`, `2013-01-02T13:23`, with Z or an offset, else local time),
    or Unix seconds (`1356997417.5`). Raises ValueError with docker's message."""
    duration = parse_go_duration(value) if value != "0" else None
    if duration is not None:
        return (round(now * 1e9) - duration) // 1_000_000_000, 0
    in_location = not any(c in value for c in "zZ+") and value.count("-") != 3
    m = _DOCKER_TIME.fullmatch(value)
    if m and (m.group(8) is None) == in_location:
        year, month, day, hour, minute, second, frac, zone = m.groups()
        try:
            if zone is None:
                offset = timedelta(seconds=time.localtime(now).tm_gmtoff)
            elif zone == "Z":
                offset = timedelta(0)
            else:
                offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
                offset = -offset if zone[0] == "-" else offset
            when = datetime(
                int(year),
                int(month),
                int(day),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                tzinfo=timezone(offset),
            )
        except ValueError as exc:
            raise ValueError(f'parsing time "{value}": {exc}') from None
        nanos = int((frac or "0")[:9].ljust(9, "0"))
        return int(when.timestamp()), nanos
    if "-" in value:
        raise ValueError(f'parsing time "{value}": not a time docker reads')
    whole, dot, fraction = value.partition(".")
    try:
        seconds = int(whole, 10)
        nanos = int(fraction, 10) if dot else 0
        if whole.strip() != whole or (dot and not fraction.isdigit()):
            raise ValueError
    except ValueError:
        raise ValueError(f'failed to parse value as time or duration: "{value}"') from None
    if dot:
        nanos = int(nanos * 10 ** (9 - len(fraction))) if len(fraction) <= 9 else int(fraction[:9])
    return seconds, nanos
