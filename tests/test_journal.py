"""The handled-id journal (SQLite) and ``LocalStore``, the embedded ``Store``: appends,
a bounded window on disk, durability across a kill, migration of old credentials
files."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_store import credentials

from pullkin.client import Pullkin
from pullkin.errors import ConfigError
from pullkin.journal import Journal
from pullkin.local_store import LocalStore, journal_path
from pullkin.store import CredentialStore, IdChanges, Store, StoredIds

pytestmark = pytest.mark.anyio


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal.open(tmp_path / "j", window=5)
    yield opened
    opened.close()


def rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        count: int = db.execute("SELECT count(*) FROM handled").fetchone()[0]
    db.close()
    return count


def test_recorded_ids_load_oldest_first_with_their_confirmations(journal: Journal) -> None:
    journal.record([IdChanges("1", handled=["a", "b", "c"]), IdChanges("2", handled=["x"])])
    journal.record([IdChanges("1", handled=["d"], confirmed=["a", "c", "zz"])])
    assert journal.load("1") == StoredIds(["a", "b", "c", "d"], ["b", "d"])
    assert journal.load("2") == StoredIds(["x"], ["x"])
    assert journal.load("unknown") == StoredIds([], [])
    assert sorted(journal.apps()) == ["1", "2"]


def test_an_id_recorded_again_moves_to_the_newest_end_unconfirmed(journal: Journal) -> None:
    journal.record([IdChanges("1", handled=["a", "b"], confirmed=["a", "b"])])
    journal.record([IdChanges("1", handled=["a"])])
    assert journal.load("1") == StoredIds(["b", "a"], ["a"])


def test_the_window_stays_bounded_on_disk(journal: Journal) -> None:
    for batch in range(20):
        journal.record([IdChanges("1", handled=[f"{batch}:{n}" for n in range(3)])])
    assert journal.load("1").handled == ["18:1", "18:2", "19:0", "19:1", "19:2"]
    assert rows(journal.path) == 5


def test_an_id_recorded_again_leaves_the_window_full(journal: Journal) -> None:
    """The window is the newest ``window`` ids, however many of them were recorded
    before: an id that moves to the newest end must not cost an older id its place."""
    journal.record([IdChanges("1", handled=list("abcde"))])
    journal.record([IdChanges("1", handled=["c", "f"])])
    assert journal.load("1").handled == ["b", "d", "e", "c", "f"]
    journal.record([IdChanges("1", handled=["g", "g", "f", "h"])])  # repeats in one batch
    assert journal.load("1").handled == ["e", "c", "g", "f", "h"]
    assert rows(journal.path) == 5


def window_model(batches: list[list[IdChanges]], window: int) -> dict[str, StoredIds]:
    """What the Store contract says the windows are after *batches* (a plain model)."""
    handled: dict[str, dict[str, None]] = {}
    unconfirmed: dict[str, set[str]] = {}
    for batch in batches:
        for change in batch:
            ids = handled.setdefault(change.sender_id, {})
            waiting = unconfirmed.setdefault(change.sender_id, set())
            for pid in change.handled:
                ids.pop(pid, None)
                ids[pid] = None
                waiting.add(pid)
            for pid in list(ids)[: max(len(ids) - window, 0)]:
                del ids[pid]
            waiting &= set(ids)
            waiting -= set(change.confirmed)
    return {
        app: StoredIds(list(ids), [pid for pid in ids if pid in unconfirmed[app]])
        for app, ids in handled.items()
    }


@pytest.mark.parametrize("seed", range(5))
def test_the_journal_keeps_the_newest_window_of_any_sequence(tmp_path: Path, seed: int) -> None:
    """Random group commits, with ids handled again (recently, long ago, twice in one
    batch) and confirmations, give the window the contract's model gives — also after
    the journal is closed and opened again."""
    rng = random.Random(seed)
    window, batches, pool = 6, [], [f"id{n}" for n in range(30)]
    journal = Journal.open(tmp_path / "j", window=window)
    try:
        for step in range(60):
            batch = [
                IdChanges(app, rng.choices(pool, k=rng.randint(0, 5)),
                          rng.sample(pool, rng.randint(0, 3)))
                for app in ("a", "b") if rng.random() < 0.8
            ]  # fmt: skip
            batches.append(batch)
            journal.record(batch)
            if step % 20 == 19:
                journal.close()
                journal = Journal.open(tmp_path / "j", window=window)
            expected = window_model(batches, window)
            for app in ("a", "b"):
                assert journal.load(app) == expected.get(app, StoredIds([], [])), step
    finally:
        journal.close()
    assert rows(tmp_path / "j") == sum(len(ids.handled) for ids in expected.values())


def test_a_journal_of_schema_version_1_is_upgraded_in_place(tmp_path: Path) -> None:
    """A journal written before the window was counted (``user_version`` 1: the
    ``handled`` table only) opens, keeps its ids and then trims by count."""
    path = tmp_path / "j"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE handled (app TEXT NOT NULL, seq INTEGER NOT NULL, pid TEXT NOT NULL,"
            " confirmed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (app, pid)) WITHOUT ROWID"
        )
        db.execute("CREATE INDEX handled_by_seq ON handled (app, seq)")
        rows_v1 = [("1", 1, "a", 1), ("1", 3, "b", 0), ("1", 4, "c", 0), ("2", 1, "x", 0)]
        db.executemany("INSERT INTO handled VALUES (?, ?, ?, ?)", rows_v1)  # a gap at 2
        db.execute("PRAGMA user_version = 1")
    db.close()
    journal = Journal.open(path, window=4)
    try:
        assert journal.load("1") == StoredIds(["a", "b", "c"], ["b", "c"])
        journal.record([IdChanges("1", handled=["d"])])
        assert journal.load("1").handled == ["a", "b", "c", "d"]  # the gap cost nothing
        journal.record([IdChanges("1", handled=["e"])])
        assert journal.load("1").handled == ["b", "c", "d", "e"]
        assert journal.load("2") == StoredIds(["x"], ["x"])
    finally:
        journal.close()


def test_a_failed_batch_changes_nothing(journal: Journal) -> None:
    journal.record([IdChanges("1", handled=["a"])])
    with pytest.raises(sqlite3.Error):
        journal.record([IdChanges("1", handled=["b"]), IdChanges("2", handled=[object()])])  # type: ignore[list-item]
    assert journal.load("1").handled == ["a"]
    assert journal.load("2").handled == []


def test_forget_drops_one_app(journal: Journal) -> None:
    journal.record([IdChanges("1", handled=["a"]), IdChanges("2", handled=["b"])])
    journal.forget("1")
    assert journal.apps() == ["2"]


def test_a_smaller_window_loads_the_newest_ids(tmp_path: Path) -> None:
    big = Journal.open(tmp_path / "j", window=10)
    big.record([IdChanges("1", handled=list("abcdef"), confirmed=["f"])])
    big.close()
    small = Journal.open(tmp_path / "j", window=2)
    assert small.load("1") == StoredIds(["e", "f"], ["e"])
    small.close()


def test_the_journal_is_private(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "j")
    journal.record([IdChanges("1", handled=["a"])])
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    journal.close()
    assert modes["j"] == 0o600
    assert all(mode == 0o600 for mode in modes.values()), modes  # -wal and -shm too


def test_a_newer_or_corrupt_journal_is_a_config_error_and_left_alone(tmp_path: Path) -> None:
    newer = tmp_path / "newer"
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(ConfigError, match="newer pullkin"):
        Journal.open(newer)
    corrupt = tmp_path / "corrupt"
    corrupt.write_bytes(b"not a database, just bytes" * 100)
    with pytest.raises(ConfigError, match=r"unreadable.*move it away"):
        Journal.open(corrupt)
    assert corrupt.read_bytes() == b"not a database, just bytes" * 100


_KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from pullkin.journal import Journal
    from pullkin.store import IdChanges
    journal = Journal.open(sys.argv[1])
    journal.record([IdChanges("1", handled=["durable"])])
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint: the WAL must hold it
    """
)


def test_a_recorded_batch_survives_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "j"
    child = subprocess.run([sys.executable, "-c", _KILLED, str(path)], timeout=60)
    assert child.returncode == -signal.SIGKILL
    journal = Journal.open(path)
    assert journal.load("1").handled == ["durable"]
    journal.close()


# --- LocalStore ------------------------------------------------------------------------


def old_file(path: Path, handled: list[str], unconfirmed: list[str]) -> None:
    """A credentials file as pullkin wrote it before the journal."""
    app = {
        "credentials": credentials().to_dict(),
        "persistent_ids": handled,
        "unconfirmed_ids": unconfirmed,
    }
    path.write_text(json.dumps({"version": 1, "apps": {"42": app}}))
    path.chmod(0o600)


async def test_local_store_is_a_store(tmp_path: Path) -> None:
    store = LocalStore.open(tmp_path / "c.json")
    assert isinstance(store, Store)
    await store.put_credentials("42", credentials())
    assert await store.sender_ids() == ["42"]
    assert await store.get_credentials("42") == CredentialStore.open(tmp_path / "c.json").get("42")
    await store.record_ids([IdChanges("42", handled=["a", "b"], confirmed=["a"])])
    assert await store.load_ids("42") == StoredIds(["a", "b"], ["b"])
    await store.remove_app("42")
    assert await store.sender_ids() == []
    assert await store.load_ids("42") == StoredIds([], [])
    await store.aclose()
    assert journal_path(tmp_path / "c.json") == tmp_path / "c.json.journal"


async def test_an_old_credentials_file_migrates_its_ids_into_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    old_file(path, ["0:1", "0:2", "0:3"], ["0:3"])
    store = LocalStore.open(path)
    assert await store.load_ids("42") == StoredIds(["0:1", "0:2", "0:3"], ["0:3"])
    assert await store.get_credentials("42") is not None
    document = json.loads(path.read_text())
    assert document["apps"]["42"]["persistent_ids"] == []
    assert document["apps"]["42"]["unconfirmed_ids"] == []
    await store.record_ids([IdChanges("42", handled=["0:4"])])
    await store.aclose()
    again = LocalStore.open(path)
    assert await again.load_ids("42") == StoredIds(["0:1", "0:2", "0:3", "0:4"], ["0:3", "0:4"])
    await again.aclose()


async def test_a_migration_cut_short_runs_again_without_harm(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    old_file(path, ["0:1", "0:2"], ["0:2"])
    # The ids reached the journal, then the process died before rewriting the file.
    journal = Journal.open(journal_path(path))
    journal.import_ids("42", ["0:1", "0:2"], ["0:2"])
    journal.record([IdChanges("42", handled=["0:3"], confirmed=["0:2"])])
    journal.close()
    store = LocalStore.open(path)
    assert await store.load_ids("42") == StoredIds(["0:1", "0:2", "0:3"], ["0:3"])
    await store.aclose()


async def test_pullkin_takes_a_path_a_credentials_file_or_any_store(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    old_file(path, ["0:1"], [])
    by_path = Pullkin(credentials_path=path)
    assert isinstance(by_path.store, LocalStore)
    await by_path.aclose()
    wrapped = Pullkin(store=CredentialStore.open(path))
    assert isinstance(wrapped.store, LocalStore)
    assert await wrapped.store.load_ids("42") == StoredIds(["0:1"], [])
    await wrapped.aclose()
    mine = LocalStore.open(path)
    shared = Pullkin(store=mine)
    assert shared.store is mine
    await shared.aclose()  # a store it was given stays open
    assert await mine.load_ids("42") == StoredIds(["0:1"], [])
    await mine.aclose()
    with pytest.raises(ConfigError, match="either store= or credentials_path="):
        Pullkin(store=mine, credentials_path=path)


def test_stray_temp_files_of_a_killed_save_are_removed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    CredentialStore.open(path).put("42", credentials())
    strays = [tmp_path / f".c.json.{n}.tmp" for n in range(3)]
    for stray in strays:
        stray.write_text("secret copy")
    unrelated = tmp_path / ".other.json.1.tmp"
    unrelated.write_text("not ours")
    CredentialStore.open(path)
    assert not any(stray.exists() for stray in strays)
    assert unrelated.exists()
