"""The persistent-id ledger: the bounded window of handled ids and the unconfirmed ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullkin._ledger import IdLedger

ids = st.lists(st.sampled_from("abcdefghij"), max_size=30)


def test_ledger_window_evicts_oldest_and_confirms() -> None:
    ledger = IdLedger(window=3, handled=["a", "b"], unconfirmed=["b"])
    ledger.start("c")
    assert ledger.seen("c")
    ledger.finish("c")
    ledger.finish("d")
    assert ledger.handled() == ["b", "c", "d"]
    assert not ledger.seen("a")
    assert ledger.unconfirmed() == ["b", "c", "d"]
    assert ledger.take_changes() == (["c", "d"], [])
    assert not ledger.dirty
    ledger.confirm(["b", "x"])
    assert ledger.dirty
    assert ledger.unconfirmed() == ["c", "d"]
    assert ledger.take_changes() == ([], ["b"])
    with pytest.raises(ValueError, match="at least one"):
        IdLedger(window=0)


def test_more_initial_ids_than_the_window_keeps_the_newest() -> None:
    # issue 19: the constructor evicted before its unconfirmed ids existed
    ledger = IdLedger(window=2, handled=["a", "b", "c"], unconfirmed=["a", "c"])
    assert ledger.handled() == ["b", "c"]
    assert ledger.unconfirmed() == ["c"]


@given(
    window=st.integers(1, 12),
    handled=ids,
    unconfirmed=ids,
    finished=ids,
    confirmed=ids,
)
def test_ledger_keeps_the_newest_window_of_handled_ids(
    window: int, handled: list[str], unconfirmed: list[str], finished: list[str],
    confirmed: list[str],
) -> None:  # fmt: skip
    ledger = IdLedger(window, handled, unconfirmed)
    for pid in finished:
        ledger.finish(pid)
    ledger.confirm(confirmed)
    # model: an ordered set where a repeated id moves to the newest end
    model = list(dict.fromkeys(reversed([*handled, *finished])))[::-1][-window:]
    assert ledger.handled() == model
    assert len(ledger.handled()) <= window
    waiting = set(unconfirmed) | set(finished)
    expected_unconfirmed = [p for p in model if p in waiting and p not in confirmed]
    assert sorted(ledger.unconfirmed()) == sorted(expected_unconfirmed)
    assert all(ledger.seen(pid) for pid in model)
