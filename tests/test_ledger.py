"""The delivery state machine of persistent ids (``_ledger``): copies are dispatched
once, parked while their id is in progress, acknowledged only once it is durable;
the durable window stays bounded."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullkin._ledger import IdLedger, Verdict

DISPATCH, WAIT, ACKNOWLEDGE = Verdict.DISPATCH, Verdict.WAIT, Verdict.ACKNOWLEDGE


def commit(ledger: IdLedger[str]) -> list[str]:
    """A group commit that succeeds: the copies it releases."""
    handled, _ = ledger.take_changes()
    return ledger.durable(handled)


def test_a_copy_of_an_id_in_progress_waits_until_the_original_is_durable() -> None:
    ledger: IdLedger[str] = IdLedger()
    assert ledger.receive("m", "original") is DISPATCH
    assert ledger.receive("m", "copy while queued") is WAIT
    ledger.finish("m")
    assert ledger.receive("m", "copy while handled") is WAIT
    handled, confirmed = ledger.take_changes()
    assert (handled, confirmed) == (["m"], [])
    assert ledger.receive("m", "copy while committing") is WAIT
    assert ledger.handled() == []  # not durable: nothing may be acknowledged yet
    released = ledger.durable(handled)
    assert released == ["original", "copy while queued", "copy while handled",
                        "copy while committing"]  # fmt: skip
    assert ledger.receive("m", "copy after") is ACKNOWLEDGE
    assert ledger.handled() == ["m"]
    assert ledger.unconfirmed() == ["m"]


def test_a_failed_commit_keeps_the_ids_waiting() -> None:
    ledger: IdLedger[str] = IdLedger()
    ledger.receive("m", "original")
    ledger.finish("m")
    ledger.confirm([])
    handled, confirmed = ledger.take_changes()
    ledger.restore_changes(handled, confirmed)
    assert ledger.dirty
    assert ledger.receive("m", "copy") is WAIT
    assert commit(ledger) == ["original", "copy"]


def test_abandoned_ids_are_dispatched_again_but_handled_ones_are_kept() -> None:
    ledger: IdLedger[str] = IdLedger()
    ledger.receive("queued", "q1")
    ledger.receive("queued", "q2")
    ledger.receive("done", "d1")
    ledger.finish("done")
    assert ledger.abandon() == ["q1", "q2"]
    assert ledger.receive("queued", "again") is DISPATCH
    assert ledger.receive("done", "d2") is WAIT
    assert commit(ledger) == ["d1", "d2"]


def test_confirmations_reach_the_store_once() -> None:
    ledger: IdLedger[str] = IdLedger(window=3, handled=["a", "b"], unconfirmed=["b"])
    ledger.confirm(["b", "x", "a"])
    assert ledger.take_changes() == ([], ["b"])
    assert ledger.unconfirmed() == []
    ledger.confirm(["b"])
    assert not ledger.dirty
    with pytest.raises(ValueError, match="at least one"):
        IdLedger(window=0)


def test_more_initial_ids_than_the_window_keeps_the_newest() -> None:
    # issue 19: the constructor evicted before its unconfirmed ids existed, so
    # Pullkin(window=2).add_app(..., persistent_ids={"a", "b", "c"}) raised
    ledger: IdLedger[str] = IdLedger(window=2, handled=["a", "b", "c"], unconfirmed=["a", "c"])
    assert ledger.handled() == ["b", "c"]
    assert ledger.unconfirmed() == ["c"]
    assert ledger.receive("a", "copy") is DISPATCH  # fell out of the window


# --- properties over windows, initial ids and orders of events ---------------------------

PIDS = "abcdefgh"


@dataclass
class Model:
    """What the ledger must guarantee, kept the slow obvious way."""

    window: int
    durable: list[str]  # oldest first, at most window
    unconfirmed: set[str]
    active: dict[str, list[int]]  # id -> parked copies
    finished: set[str]
    to_commit: list[str]

    def make_durable(self, pid: str) -> list[int]:
        if pid in self.durable:
            self.durable.remove(pid)
        self.durable = [*self.durable, pid][-self.window :]
        self.unconfirmed = {p for p in {*self.unconfirmed, pid} if p in self.durable}
        self.finished.discard(pid)
        return self.active.pop(pid, [])


events = st.lists(
    st.one_of(
        st.tuples(st.just("receive"), st.sampled_from(PIDS)),
        st.tuples(st.just("finish"), st.sampled_from(PIDS)),
        st.tuples(st.just("commit"), st.booleans()),
        st.tuples(st.just("confirm"), st.sampled_from(PIDS)),
        st.tuples(st.just("abandon"), st.none()),
    ),
    max_size=60,
)


@given(
    window=st.integers(1, 6),
    initial=st.lists(st.sampled_from(PIDS), max_size=12),
    unconfirmed=st.lists(st.sampled_from(PIDS), max_size=12),
    steps=events,
)
def test_copies_are_dispatched_once_and_acknowledged_only_when_durable(
    window: int, initial: list[str], unconfirmed: list[str], steps: list[tuple[str, object]]
) -> None:
    ledger: IdLedger[int] = IdLedger(window, initial, unconfirmed)
    start = list(dict.fromkeys(reversed(initial)))[::-1][-window:]
    model = Model(window, start, set(unconfirmed) & set(start), {}, set(), [])
    assert ledger.handled() == model.durable
    copies = iter(range(10_000))
    pid_of: dict[int, str] = {}
    acknowledged: set[int] = set()

    def acknowledge(copy: int, recorded: list[str]) -> None:
        assert pid_of[copy] in recorded, "acknowledged before durable"
        assert copy not in acknowledged, "acknowledged twice"
        acknowledged.add(copy)

    for kind, arg in steps:
        if kind == "receive":
            assert isinstance(arg, str)
            copy = next(copies)
            pid_of[copy] = arg
            verdict = ledger.receive(arg, copy)
            if arg in model.durable:
                assert verdict is ACKNOWLEDGE
                acknowledge(copy, ledger.handled())
            elif arg in model.active:
                assert verdict is WAIT
                model.active[arg].append(copy)
            else:
                assert verdict is DISPATCH
                model.active[arg] = [copy]
        elif kind == "finish" and arg in model.active:  # a handler returns
            assert isinstance(arg, str)
            ledger.finish(arg)
            if arg not in model.finished:
                model.finished.add(arg)
                model.to_commit.append(arg)
        elif kind == "commit":
            handled, confirmed = ledger.take_changes()
            assert handled == model.to_commit  # in the order the handlers finished
            model.to_commit = []
            if arg:  # the store recorded them
                released = ledger.durable(handled)
                expected = [c for pid in handled for c in model.make_durable(pid)]
                assert released == expected
                for copy in released:
                    acknowledge(copy, handled)
            else:
                ledger.restore_changes(handled, confirmed)
                model.to_commit = handled
        elif kind == "confirm":
            ledger.confirm([str(arg)])
            model.unconfirmed.discard(str(arg))
        elif kind == "abandon":
            dropped = ledger.abandon()
            expected = [
                c for pid in list(model.active) if pid not in model.finished
                for c in model.active.pop(pid)
            ]  # fmt: skip
            assert dropped == expected
        assert ledger.handled() == model.durable
        assert len(ledger.handled()) <= window
        assert set(ledger.unconfirmed()) == model.unconfirmed
        assert ledger.in_progress == len(model.active)
    # Liveness: once every handler finished and a commit succeeded, no copy waits.
    for pid in list(model.active):
        ledger.finish(pid)
    handled, _ = ledger.take_changes()
    for copy in ledger.durable(handled):
        acknowledge(copy, handled)
    assert ledger.in_progress == 0
