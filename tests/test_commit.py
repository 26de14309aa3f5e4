"""The group commit (``pullkin._commit``) takes changes only from the apps that have
some — a commit costs what changed, not the number of apps — and still loses none:
not one made while a commit is being written, not one of a write that failed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from pullkin._commit import GroupCommit
from pullkin._ledger import IdLedger, Verdict
from pullkin.store import IdChanges

pytestmark = pytest.mark.anyio


class _CountingLedger(IdLedger["_Copy"]):
    """A ledger that counts how often the commit takes its changes."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.takes = 0

    def take_changes(self) -> tuple[list[str], list[str]]:
        self.takes += 1
        return super().take_changes()


@dataclass(eq=False)
class _App:
    key: str
    ledger: _CountingLedger = field(default_factory=_CountingLedger)


@dataclass
class _Copy:
    acknowledged: bool = False

    def acknowledge(self) -> None:
        self.acknowledged = True


class _Store:
    """Records each group commit; ``gate`` (when cleared) holds a write open,
    ``failures`` makes the next writes fail."""

    window = 10_000

    def __init__(self) -> None:
        self.commits: list[list[IdChanges]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.writing = asyncio.Event()
        self.failures = 0

    async def record_ids(self, changes: Sequence[IdChanges]) -> None:
        self.writing.set()
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        self.commits.append(list(changes))


def _apps(commit: GroupCommit, n: int) -> list[_App]:
    apps = [_App(str(i)) for i in range(n)]
    for app in apps:
        commit.attach(app)  # type: ignore[arg-type]
    return apps


def _handle(app: _App, pid: str) -> _Copy:
    copy = _Copy()
    assert app.ledger.receive(pid, copy) is Verdict.DISPATCH
    app.ledger.finish(pid)
    return copy


async def test_a_commit_takes_changes_only_from_the_apps_that_have_some() -> None:
    store = _Store()
    commit = GroupCommit(store)  # type: ignore[arg-type]
    apps = _apps(commit, 5_000)
    copy = _handle(apps[7], "0:7")
    apps[9].ledger = _CountingLedger(10, handled=["0:9"], unconfirmed=["0:9"])
    commit.attach(apps[9])  # type: ignore[arg-type]
    apps[9].ledger.confirm(["0:9"])
    await commit.commit()
    assert store.commits == [[IdChanges("7", ["0:7"], []), IdChanges("9", [], ["0:9"])]]
    assert copy.acknowledged  # durable, then acknowledged
    assert sum(app.ledger.takes for app in apps) == 2
    await commit.commit()  # nothing changed: no write, no app asked
    assert len(store.commits) == 1
    assert sum(app.ledger.takes for app in apps) == 2


async def test_a_change_made_while_a_commit_is_written_goes_into_the_next() -> None:
    store = _Store()
    commit = GroupCommit(store)  # type: ignore[arg-type]
    app, other = _apps(commit, 2)
    first = _handle(app, "0:1")
    store.gate.clear()
    writing = asyncio.create_task(commit.commit())
    await store.writing.wait()
    second, third = _handle(app, "0:2"), _handle(other, "0:3")  # the first write is open
    store.gate.set()
    await writing
    assert [first.acknowledged, second.acknowledged, third.acknowledged] == [True, False, False]
    await commit.commit()
    assert store.commits == [
        [IdChanges("0", ["0:1"], [])],
        [IdChanges("0", ["0:2"], []), IdChanges("1", ["0:3"], [])],
    ]
    assert [second.acknowledged, third.acknowledged] == [True, True]


async def test_changes_of_a_failed_write_are_committed_by_the_next() -> None:
    store = _Store()
    commit = GroupCommit(store)  # type: ignore[arg-type]
    app, _ = _apps(commit, 2)
    copy = _handle(app, "0:1")
    store.failures = 1
    with pytest.raises(OSError, match="disk full"):
        await commit.commit()
    assert not copy.acknowledged  # not durable: held back
    await commit.commit()
    assert store.commits == [[IdChanges("0", ["0:1"], [])]]
    assert copy.acknowledged


async def test_an_app_attached_with_changes_is_committed() -> None:
    store = _Store()
    commit = GroupCommit(store)  # type: ignore[arg-type]
    app = _App("late")
    app.ledger.finish("0:1")  # e.g. add_app(persistent_ids=...) before it was attached
    commit.attach(app)  # type: ignore[arg-type]
    await commit.commit()
    assert store.commits == [[IdChanges("late", ["0:1"], [])]]
