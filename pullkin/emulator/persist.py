"""Optional persistence of the emulator (``--state-dir``): one SQLite file, written through.

With a state directory, a restarted emulator keeps its identity (API key, app ids,
Android certificate, VAPID keys, service-account key), everything in
``EmulatorState`` and the mailboxes' pending stanzas, so old devices and tokens keep
working.  Without one the emulator uses ``NullStore``, whose methods do nothing: memory
mode pays nothing for this module.

Records are JSON (``dataclasses.asdict``) in one key/value table keyed by kind; pending
stanzas are stored as their protobuf bytes.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from pullkin.emulator.mailbox import Pending
from pullkin.emulator.state import (
    Device,
    EmulatorState,
    FcmRegistration,
    GcmRegistration,
    Installation,
    OAuthToken,
)
from pullkin.errors import ConfigError
from pullkin.proto.mcs_pb2 import DataMessageStanza

__all__ = ["DB_NAME", "NullStore", "Record", "SqliteStore", "Store"]

#: File name of the database inside the state directory.
DB_NAME = "emulator.sqlite3"

Record = Device | GcmRegistration | Installation | FcmRegistration | OAuthToken

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS pending (
    persistent_id TEXT PRIMARY KEY, android_id INTEGER NOT NULL, stanza BLOB NOT NULL,
    enqueued_at REAL NOT NULL, expires_at REAL
);
"""


def _kind_and_key(record: Record) -> tuple[str, str]:
    if isinstance(record, Device):
        return "device", str(record.android_id)
    if isinstance(record, GcmRegistration):
        return "gcm", record.token
    if isinstance(record, Installation):
        return "installation", record.fid
    if isinstance(record, FcmRegistration):
        return "fcm", record.token
    return "oauth", record.token


class Store(Protocol):
    """What the emulator calls after each change of its state."""

    def put(self, record: Record) -> None: ...
    def remove(self, kind: str, key: str) -> None: ...
    def put_topic(self, name: str, tokens: Iterable[str]) -> None: ...
    def add_deleted(self, token: str) -> None: ...
    def add_pending(self, android_id: int, pending: Pending) -> None: ...
    def remove_pending(self, persistent_ids: Iterable[str]) -> None: ...


class NullStore:
    """Memory mode: nothing is written."""

    def put(self, record: Record) -> None:
        pass

    def remove(self, kind: str, key: str) -> None:
        pass

    def put_topic(self, name: str, tokens: Iterable[str]) -> None:
        pass

    def add_deleted(self, token: str) -> None:
        pass

    def add_pending(self, android_id: int, pending: Pending) -> None:
        pass

    def remove_pending(self, persistent_ids: Iterable[str]) -> None:
        pass


class SqliteStore:
    """The state directory's database; every method commits before returning."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        try:
            self._db.executescript(_SCHEMA)
            # WAL + NORMAL: a crash may lose the last commit, never corrupt the file.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            self._db.close()
            raise ConfigError(f"cannot open the emulator state database {path}: {exc}") from None
        path.chmod(0o600)

    # --- writes -------------------------------------------------------------------

    def _set(self, kind: str, key: str, value: Any) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO records (kind, key, value) VALUES (?, ?, ?)",
                (kind, key, json.dumps(value)),
            )

    def put(self, record: Record) -> None:
        kind, key = _kind_and_key(record)
        self._set(kind, key, dataclasses.asdict(record))

    def remove(self, kind: str, key: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))

    def put_topic(self, name: str, tokens: Iterable[str]) -> None:
        members = sorted(tokens)
        if members:
            self._set("topic", name, members)
        else:
            self.remove("topic", name)

    def add_deleted(self, token: str) -> None:
        self._set("deleted", token, True)

    def add_pending(self, android_id: int, pending: Pending) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?, ?)",
                (
                    pending.persistent_id,
                    android_id,
                    pending.stanza.SerializeToString(),
                    pending.enqueued_at,
                    pending.expires_at,
                ),
            )

    def remove_pending(self, persistent_ids: Iterable[str]) -> None:
        with self._db:
            self._db.executemany(
                "DELETE FROM pending WHERE persistent_id = ?", [(pid,) for pid in persistent_ids]
            )

    def put_identity(self, identity: Mapping[str, str]) -> None:
        self._set("identity", "emulator", dict(identity))

    def close(self) -> None:
        self._db.close()

    # --- reads --------------------------------------------------------------------

    def _rows(self, kind: str) -> list[tuple[str, Any]]:
        cursor = self._db.execute("SELECT key, value FROM records WHERE kind = ?", (kind,))
        return [(key, json.loads(value)) for key, value in cursor]

    def identity(self) -> dict[str, str] | None:
        rows = self._rows("identity")
        return dict(rows[0][1]) if rows else None

    def load_state(self) -> EmulatorState:
        """Everything written so far, as an ``EmulatorState``."""
        try:
            state = EmulatorState()
            for _, data in self._rows("device"):
                state.devices[data["android_id"]] = Device(**data)
            for token, data in self._rows("gcm"):
                state.gcm[token] = GcmRegistration(**data)
            for fid, data in self._rows("installation"):
                state.installations[fid] = Installation(**data)
            for token, data in self._rows("fcm"):
                state.fcm[token] = FcmRegistration(**data)
            for token, data in self._rows("oauth"):
                state.oauth_tokens[token] = OAuthToken(**data)
            for name, members in self._rows("topic"):
                state.topics[name] = set(members)
            state.deleted_tokens = {token for token, _ in self._rows("deleted")}
        except (TypeError, KeyError, ValueError) as exc:
            raise ConfigError(
                f"the emulator state database {self.path} is unreadable ({exc}); "
                "delete it or use another --state-dir"
            ) from None
        return state

    def load_pending(self) -> dict[int, list[Pending]]:
        """The pending stanzas per device, oldest first."""
        queues: dict[int, list[Pending]] = {}
        cursor = self._db.execute(
            "SELECT android_id, stanza, enqueued_at, expires_at FROM pending ORDER BY enqueued_at"
        )
        for android_id, blob, enqueued_at, expires_at in cursor:
            stanza = DataMessageStanza.FromString(blob)
            queues.setdefault(android_id, []).append(Pending(stanza, enqueued_at, expires_at))
        return queues
