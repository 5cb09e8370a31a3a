"""How hard the registry client tries again: backoff, a total budget and `Retry-After`."""

from __future__ import annotations

import email.utils
import random
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


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)
