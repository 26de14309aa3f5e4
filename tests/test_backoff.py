"""Backoff delays and Retry-After parsing."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullkin._backoff import Backoff, parse_retry_after


def test_delays_double_up_to_the_cap_without_jitter() -> None:
    backoff = Backoff(base=1, cap=10, jitter=False)
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 10, 10]
    backoff.reset()
    assert backoff.next_delay() == 1


@given(seed=st.integers(), attempts=st.integers(min_value=1, max_value=200))
def test_full_jitter_stays_within_the_exponential_bound(seed: int, attempts: int) -> None:
    backoff = Backoff(base=0.5, cap=30, rng=random.Random(seed))
    for _ in range(attempts):
        bound = backoff.peek_bound()
        assert 0 <= backoff.next_delay() <= bound <= 30


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="base > 0"):
        Backoff(base=0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 12 ", 12.0),
        (" 1.5 ", None),
        ("", None),
        (None, None),
        ("soon", None),
        ("-3", None),
    ],
)
def test_retry_after_delta_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date() -> None:
    now = dt.datetime(2026, 11, 25, 12, 0, 0, tzinfo=dt.timezone.utc)
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 25 Nov 2026 11:00:00 GMT", now=now) == 0.0
