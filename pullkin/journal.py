"""The handled-id journal: each app's window of handled persistent ids in SQLite.

Theory of operation.  Table ``handled(app, seq, pid, confirmed)``: ``seq`` grows per
app, so the window is "the newest ``window`` rows of an app by ``seq``"; table
``sizes(app, n)`` counts each app's rows.  A group commit (``record``) is one
transaction: append the handled ids (an id recorded again moves to the newest end,
unconfirmed again: it keeps its row, so it adds nothing to ``n``; its old ``seq`` is
left as a gap, which is why the window is counted, not read off the ``seq`` range),
mark the confirmed ones, and delete the ``n - window`` oldest rows (an index range from
the oldest end), so trimming costs what was appended, not the window.

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

#: Schema version, kept in SQLite's ``user_version`` (2: ``sizes``).
JOURNAL_VERSION = 2

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS handled ("
    " app TEXT NOT NULL, seq INTEGER NOT NULL, pid TEXT NOT NULL,"
    " confirmed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (app, pid)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS handled_by_seq ON handled (app, seq)",
    "CREATE TABLE IF NOT EXISTS sizes (app TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID",
)
# Version 1 had no ``sizes``: count the rows once (in the transaction of the upgrade).
_COUNT_ALL = "INSERT OR REPLACE INTO sizes (app, n) SELECT app, count(*) FROM handled GROUP BY app"
_APPEND = (
    "INSERT INTO handled (app, seq, pid, confirmed) VALUES (?, ?, ?, 0) "
    "ON CONFLICT (app, pid) DO UPDATE SET seq = excluded.seq, confirmed = 0"
)
_IMPORT = "INSERT OR IGNORE INTO handled (app, seq, pid, confirmed) VALUES (?, ?, ?, ?)"
_CONFIRM = "UPDATE handled SET confirmed = 1 WHERE app = ? AND pid = ?"
_LAST_SEQ = "SELECT coalesce(max(seq), 0) FROM handled WHERE app = ?"
_SIZE = "SELECT n FROM sizes WHERE app = ?"
_SET_SIZE = "INSERT OR REPLACE INTO sizes (app, n) VALUES (?, ?)"
_TRIM = (
    "DELETE FROM handled WHERE app = ?1 AND seq IN "
    "(SELECT seq FROM handled WHERE app = ?1 ORDER BY seq LIMIT ?2)"
)
_CHUNK = 500  # ids per "IN (...)": well under SQLite's limit of bound parameters


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
                if change.handled:
                    self._append(change.sender_id, change.handled)
                if change.confirmed:
                    self._db.executemany(
                        _CONFIRM, ((change.sender_id, pid) for pid in change.confirmed)
                    )

    def _append(self, app: str, handled: Sequence[str]) -> None:
        """Append *handled* as *app*'s newest ids, then trim it to the window."""
        distinct = list(dict.fromkeys(reversed(handled)))[::-1]  # a repeat: its last place
        fresh = len(distinct) - self._present(app, distinct)
        last = self._last_seq(app)
        self._db.executemany(_APPEND, ((app, last + n, pid) for n, pid in enumerate(distinct, 1)))
        self._resize(app, self._size(app) + fresh)

    def _present(self, app: str, pids: list[str]) -> int:
        """How many of *pids* (distinct) *app* already holds."""
        present = 0
        for start in range(0, len(pids), _CHUNK):
            chunk = pids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            present += self._db.execute(
                f"SELECT count(*) FROM handled WHERE app = ? AND pid IN ({marks})",
                (app, *chunk),
            ).fetchone()[0]
        return present

    def _size(self, app: str) -> int:
        row = self._db.execute(_SIZE, (app,)).fetchone()
        return int(row[0]) if row else 0

    def _resize(self, app: str, rows: int) -> None:
        """*app* holds *rows* rows: delete the oldest beyond the window, record the size."""
        if rows > self.window:
            self._db.execute(_TRIM, (app, rows - self.window))
            rows = self.window
        self._db.execute(_SET_SIZE, (app, rows))

    def import_ids(self, app: str, handled: Iterable[str], unconfirmed: Iterable[str]) -> None:
        """Add ids read elsewhere (an old credentials file) as older than any recorded;
        ids already in the journal keep their place and state."""
        handled, waiting = list(handled), set(unconfirmed)
        with self._lock, self._transaction():
            first = self._db.execute(
                "SELECT coalesce(min(seq), 1) FROM handled WHERE app = ?", (app,)
            ).fetchone()[0]
            start = first - len(handled)
            added = self._db.executemany(
                _IMPORT,
                ((app, start + n, pid, int(pid not in waiting)) for n, pid in enumerate(handled)),
            ).rowcount
            self._resize(app, self._size(app) + added)

    def forget(self, app: str) -> None:
        """Drop every id of *app*."""
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM handled WHERE app = ?", (app,))
            self._db.execute("DELETE FROM sizes WHERE app = ?", (app,))

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
        if version < JOURNAL_VERSION:
            connection.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                connection.execute(statement)
            if version == 1:
                connection.execute(_COUNT_ALL)
            connection.execute(f"PRAGMA user_version = {JOURNAL_VERSION}")
            connection.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise ConfigError(
            f"handled-id journal {path} is unreadable ({exc}). It was left untouched; move "
            "it away to start a new one (messages the server redelivers may then reach "
            "handlers again)"
        ) from None
