"""The handled-id journal: each app's window of handled persistent ids in SQLite.

Theory of operation.  One table, ``handled(app, seq, pid, confirmed)``: ``seq`` grows
per app, so the window is "the newest ``window`` rows of an app by ``seq``".  A group
commit (``record``) is one transaction: append the handled ids (an id recorded again
moves to the newest end, unconfirmed again), mark the confirmed ones, delete the rows
that fell out of the window (``seq`` at or below the newest minus ``window``: an
index range, so trimming costs what was appended, not the window).

Why SQLite (standard library): an append is a few pages in the write-ahead log, not a
rewrite of the secrets file; with ``journal_mode=WAL`` and ``synchronous=FULL`` a
commit is on disk (WAL fsynced) when ``COMMIT`` returns, and a process killed at any
instant leaves every committed transaction and no part of an uncommitted one (the
WAL is replayed or ignored on the next open).  One fsync per batch, whatever its size:
about 0.3-0.7 ms here for 1-100 ids.  The connection is shared by the threads the
async store offloads to, one call at a time (a lock).

The file holds persistent ids only (no secrets); it is created 0600 all the same, and
SQLite gives its ``-wal``/``-shm`` files the same mode.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from pullkin.errors import ConfigError
from pullkin.store import IdChanges, StoredIds

__all__ = ["JOURNAL_VERSION", "Journal"]

log = logging.getLogger(__name__)

#: Schema version, kept in SQLite's ``user_version``.
JOURNAL_VERSION = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS handled ("
    " app TEXT NOT NULL, seq INTEGER NOT NULL, pid TEXT NOT NULL,"
    " confirmed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (app, pid)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS handled_by_seq ON handled (app, seq)",
)
_APPEND = (
    "INSERT INTO handled (app, seq, pid, confirmed) VALUES (?, ?, ?, 0) "
    "ON CONFLICT (app, pid) DO UPDATE SET seq = excluded.seq, confirmed = 0"
)
_IMPORT = "INSERT OR IGNORE INTO handled (app, seq, pid, confirmed) VALUES (?, ?, ?, ?)"
_CONFIRM = "UPDATE handled SET confirmed = 1 WHERE app = ? AND pid = ?"
_LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM handled WHERE app = ?"
_TRIM = "DELETE FROM handled WHERE app = ? AND seq <= ?"


class Journal:
    """The handled-id windows of every app of one store (see the module docstring)."""

    def __init__(self, connection: sqlite3.Connection, path: Path, window: int) -> None:
        self._db = connection
        self._path = path
        self.window = window
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, window: int = 10_000) -> Journal:
        """Open (creating it 0600 if needed) the journal at *path*."""
        if window < 1:
            raise ConfigError("the journal window must be at least 1")
        path = Path(path)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            _prepare(connection, path)
        except BaseException:
            connection.close()
            raise
        return cls(connection, path, window)

    @property
    def path(self) -> Path:
        return self._path

    def load(self, app: str) -> StoredIds:
        """*app*'s window, oldest first (the newest ``window`` ids if it holds more)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT pid, confirmed FROM handled WHERE app = ? ORDER BY seq", (app,)
            ).fetchall()
        rows = rows[-self.window :]
        return StoredIds([pid for pid, _ in rows], [pid for pid, done in rows if not done])

    def record(self, changes: Sequence[IdChanges]) -> None:
        """Apply *changes* in one durable transaction, then trim each app's window."""
        with self._lock, self._transaction():
            for change in changes:
                last = self._last_seq(change.sender_id)
                if change.handled:
                    self._db.executemany(
                        _APPEND,
                        ((change.sender_id, last + n, pid) for n, pid in
                         enumerate(change.handled, 1)),
                    )  # fmt: skip
                    last += len(change.handled)
                    self._db.execute(_TRIM, (change.sender_id, last - self.window))
                if change.confirmed:
                    self._db.executemany(
                        _CONFIRM, ((change.sender_id, pid) for pid in change.confirmed)
                    )

    def import_ids(self, app: str, handled: Iterable[str], unconfirmed: Iterable[str]) -> None:
        """Add ids read elsewhere (an old credentials file) as older than any recorded;
        ids already in the journal keep their place and state."""
        handled, waiting = list(handled), set(unconfirmed)
        with self._lock, self._transaction():
            first = self._db.execute(
                "SELECT coalesce(min(seq), 1) FROM handled WHERE app = ?", (app,)
            ).fetchone()[0]
            start = first - len(handled)
            self._db.executemany(
                _IMPORT,
                ((app, start + n, pid, int(pid not in waiting)) for n, pid in enumerate(handled)),
            )
            last = self._last_seq(app)
            self._db.execute(_TRIM, (app, last - self.window))

    def forget(self, app: str) -> None:
        """Drop every id of *app*."""
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM handled WHERE app = ?", (app,))

    def apps(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT DISTINCT app FROM handled")]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _last_seq(self, app: str) -> int:
        value: int = self._db.execute(_LAST_SEQ, (app,)).fetchone()[0]
        return value

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def __repr__(self) -> str:
        return f"<Journal {self._path} window={self.window}>"


def _prepare(connection: sqlite3.Connection, path: Path) -> None:
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > JOURNAL_VERSION:
            raise ConfigError(
                f"handled-id journal {path} was written by a newer pullkin (schema version "
                f"{version}; this one reads {JOURNAL_VERSION}): upgrade pullkin"
            )
        connection.execute("PRAGMA busy_timeout = 10000")
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            log.warning("%s: SQLite refused WAL mode (%s); commits are slower", path, mode)
        connection.execute("PRAGMA synchronous = FULL")
        for statement in _SCHEMA:
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {JOURNAL_VERSION}")
    except sqlite3.DatabaseError as exc:
        raise ConfigError(
            f"handled-id journal {path} is unreadable ({exc}). It was left untouched; move "
            "it away to start a new one (messages the server redelivers may then reach "
            "handlers again)"
        ) from None
