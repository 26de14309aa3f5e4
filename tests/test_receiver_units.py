"""Pure pieces of the receiver: Chrome's reconnect backoff, error-log summarising and
the handler router (the persistent-id ledger: test_ledger.py)."""

from __future__ import annotations

import logging
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullkin._backoff import ChromeBackoff
from pullkin.dispatch import Router
from pullkin.errors import ConfigError, ReadError
from pullkin.models import Message
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import _ErrorLog


@given(seed=st.integers(), failures=st.integers(min_value=1, max_value=40))
def test_chrome_backoff_doubles_with_up_to_a_third_less_and_caps(seed: int, failures: int) -> None:
    backoff = ChromeBackoff(30.0, 600.0, random.Random(seed))
    for attempt in range(failures):
        bound = min(600.0, 30.0 * 2**attempt)
        assert 0.67 * bound <= backoff.next_delay() <= bound
    backoff.reset()
    assert 0.67 * 30 <= backoff.next_delay() <= 30


def test_repeated_errors_are_logged_once_then_counted(caplog: pytest.LogCaptureFixture) -> None:
    log = _ErrorLog()
    caplog.set_level(logging.WARNING, logger="pullkin.receiver")
    for _ in range(50):
        log("MCS connection lost", ReadError("read failed: reset"))
    first, *rest = caplog.records
    assert "read failed: reset" in first.getMessage()
    assert first.exc_info is None  # an expected error needs no traceback
    assert [r.getMessage() for r in rest] == ["MCS connection lost: same error again (10 times)"]
    log("unexpected error", ValueError("bug"))
    assert caplog.records[-1].exc_info is not None  # a bug gets its traceback
    assert "repeated 49 more time" in caplog.records[-2].getMessage()


def test_router_filters_in_order_and_reports_broken_filters() -> None:
    router = Router()

    async def first(message: Message, stanza: DataMessageStanza) -> None: ...

    def second(message: Message, stanza: DataMessageStanza) -> None: ...

    def broken_filter(message: Message, stanza: DataMessageStanza) -> bool:
        raise KeyError("title")

    class AsyncCallable:
        async def __call__(self, message: Message, stanza: DataMessageStanza) -> None: ...

    router.add(first)
    router.add(second, lambda m, s: m.data.get("x") == "1")
    router.add(second, broken_filter)
    router.add(AsyncCallable())
    routes, failed = router.match(Message(data={"x": "1"}), DataMessageStanza())
    assert [r.handler for r in routes][:2] == [first, second]
    assert [r.is_async for r in routes] == [True, False, True]
    assert len(failed) == 1
    assert isinstance(failed[0][1], KeyError)
    with pytest.raises(ConfigError, match="callable"):
        router.add("not a function")  # type: ignore[arg-type]


def test_router_without_filters_matches_every_route_and_a_later_filter_is_called() -> None:
    router = Router()
    calls: list[str] = []

    def first(message: Message, stanza: DataMessageStanza) -> None: ...

    def second(message: Message, stanza: DataMessageStanza) -> None: ...

    def picky(message: Message, stanza: DataMessageStanza) -> bool:
        calls.append("picky")
        return message.data.get("x") == "1"

    router.add(first)
    router.add(second)
    before, failed = router.match(Message(), DataMessageStanza())
    assert [r.handler for r in before] == [first, second]
    assert not failed
    router.add(first, picky)  # a filter: match calls it from now on
    assert [r.handler for r in router.match(Message(), DataMessageStanza())[0]] == [first, second]
    assert [r.handler for r in router.match(Message(data={"x": "1"}), DataMessageStanza())[0]] == [
        first, second, first,
    ]  # fmt: skip
    assert calls == ["picky", "picky"]
    assert [r.handler for r in before] == [first, second]  # a list handed out never changes
    router.remove(first)
    assert [r.handler for r in router.match(Message(), DataMessageStanza())[0]] == [second]
    assert calls == ["picky", "picky"]
