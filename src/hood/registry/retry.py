"""How hard the registry client tries again: backoff, a total budget and `Retry-After`."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `attempts` tries per request (and per stall of a blob body), waiting
    `base_delay * 2**n` (at most `max_delay`, or what `Retry-After` says up to
    `max_retry_after`) and giving up once `max_total` seconds would be spent waiting."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0
    max_total: float = 120.0
    jitter: float = 0.2
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def backoff(self, failures: int) -> float:
        delay = min(self.max_delay, self.base_delay * (2 ** max(0, failures - 1)))
        return delay * (1 + random.random() * self.jitter) if self.jitter else delay

    def fits(self, delay: float, spent: float) -> bool:
        """Whether waiting `delay` more keeps the total waited within `max_total`."""
        return spent + delay <= self.max_total

    def wait(self, delay: float, spent: float, before: Callable[[], None] | None = None) -> float:
        """Sleep `delay` (after `before`, e.g. closing a response) unless that would take the
        waiting past `max_total`; returns the new total, or raises OutOfTime."""
        if not self.fits(delay, spent):
            raise OutOfTime
        if before is not None:
            before()
        self.sleep(delay)
        return spent + delay


class OutOfTime(Exception):
    """Waiting once more would spend more than the policy's `max_total`."""


_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = f"({'|'.join(_MONTH_NAMES)})"
_TIME = r"(\d\d):(\d\d):(\d\d)"
# RFC 9110 section 5.6.7: IMF-fixdate, then the obsolete RFC 850 and asctime forms.
_IMF_FIXDATE = re.compile(rf"{_DAY}, (\d\d) {_MONTH} (\d{{4}}) {_TIME} GMT", re.ASCII)
_RFC850 = re.compile(rf"{_LONG_DAY}, (\d\d)-{_MONTH}-(\d\d) {_TIME} GMT", re.ASCII)
_ASCTIME = re.compile(rf"{_DAY} {_MONTH} ([ \d]\d) {_TIME} (\d{{4}})", re.ASCII)
_DELAY_SECONDS = re.compile(r"[0-9]+", re.ASCII)
_MAX_DELAY_DIGITS = 12  # more is "for ever" anyway: never more than the policy waits


def parse_http_date(value: str) -> datetime | None:
    """An HTTP-date (RFC 9110) as an aware UTC datetime; None for anything else."""
    if m := _IMF_FIXDATE.fullmatch(value):
        day, month, year, hh, mm, ss = m.groups()
    elif m := _RFC850.fullmatch(value):
        day, month, yy, hh, mm, ss = m.groups()
        year = str((1900 if int(yy) >= 69 else 2000) + int(yy))  # as Go's time.Parse
    elif m := _ASCTIME.fullmatch(value):
        month, day, hh, mm, ss, year = m.groups()
    else:
        return None
    try:
        return datetime(int(year), _MONTHS[month], int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
    except ValueError:  # 31 Feb, 25:00:00, second 60...
        return None


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header, as RFC 9110 defines it: delay-seconds
    (ASCII digits only) or an HTTP-date. Anything else (`²`, `1.5`, `-1`, words) is
    ignored: None, as if there were no header."""
    value = response.headers.get("retry-after", "").strip(" \t")
    if not value:
        return None
    if _DELAY_SECONDS.fullmatch(value):
        digits = value.lstrip("0") or "0"
        return float(digits) if len(digits) <= _MAX_DELAY_DIGITS else float(10**_MAX_DELAY_DIGITS)
    when = parse_http_date(value)
    if when is None:
        return None
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)
