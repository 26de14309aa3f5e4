"""Retry timing shared by registration, senders and the receiver: pure, no sleeping.

``ChromeBackoff`` is Chrome's MCS reconnect policy (net::BackoffEntry: ×2 with up to
33 % less, capped), which the receiver follows.  ``Backoff`` yields exponential delays
with full jitter (AWS architecture blog's
"full jitter": ``uniform(0, min(cap, base * 2**attempt))``), which spreads retries of
many clients apart.  ``parse_retry_after`` reads an HTTP ``Retry-After`` header (delta
seconds or an HTTP date).  Callers own the sleeping, so tests can inject a clock.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import random
from dataclasses import dataclass, field

__all__ = ["Backoff", "ChromeBackoff", "parse_retry_after"]

_MAX_DELAY = 100 * 365 * 86400  # seconds; any larger Retry-After is read as this
_MAX_DIGITS = 12


@dataclass
class Backoff:
    """Exponential backoff with full jitter.

    ``next_delay()`` returns the delay before the next attempt and advances;
    ``reset()`` starts over (after a success or a stable connection).  With
    ``jitter=False`` the delays are the deterministic upper bounds.
    """

    base: float = 0.5
    cap: float = 30.0
    factor: float = 2.0
    jitter: bool = True
    rng: random.Random = field(default_factory=random.Random, repr=False)
    attempt: int = 0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base or self.factor < 1:
            raise ValueError("Backoff needs base > 0, cap >= base and factor >= 1")

    def peek_bound(self) -> float:
        """The upper bound of the next delay."""
        return min(self.cap, self.base * self.factor ** min(self.attempt, 64))

    def next_delay(self) -> float:
        bound = self.peek_bound()
        self.attempt += 1
        return self.rng.uniform(0, bound) if self.jitter else bound

    def reset(self) -> None:
        self.attempt = 0


class ChromeBackoff:
    """net::BackoffEntry as Chrome's MCS uses it: ×2, up to 33 % less, capped."""

    def __init__(self, initial: float, maximum: float, rng: random.Random) -> None:
        self.initial, self.maximum, self._rng = initial, maximum, rng
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        bound = min(self.maximum, self.initial * 2.0 ** min(self.failures - 1, 32))
        return bound * (1 - 0.33 * self._rng.random())

    def reset(self) -> None:
        self.failures = 0


def parse_retry_after(value: str | None, now: _dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, or None if absent or not what
    RFC 9110 §10.2.3 allows: ``delta-seconds`` (ASCII digits only — not ``inf``,
    ``1e999``, ``1_0``, ``-5`` or ``2.5``, which ``float()`` would take) or an HTTP
    date.  A delay of more than 100 years is read as 100 years (still finite)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # int() of thousands of digits raises; no delay needs more than 12
        return float(min(int(value), _MAX_DELAY) if len(value) <= _MAX_DIGITS else _MAX_DELAY)
    if not any(c.isalpha() for c in value):  # every HTTP-date names a day or a month
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())
