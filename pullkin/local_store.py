"""``LocalStore``: the embedded ``Store`` — no server, the default of ``Pullkin``.

Credentials live in the JSON credentials file (``store.CredentialStore``: atomic
rewrite, 0600, shared with ``pullkin register``), written only when credentials
change.  Handled ids live in a SQLite journal beside it, ``<file>.journal``
(``journal.Journal``: one appended transaction per group commit).  Blocking file and
database work runs in a worker thread, so the event loop keeps reading the socket.

Migration: a credentials file written before the journal carries its id window in
``persistent_ids``/``unconfirmed_ids``; opening it moves those ids into the journal
(committed first) and then rewrites the file without them, so a kill in between only
repeats an idempotent import.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import anyio

from pullkin.journal import Journal
from pullkin.models import AppCredentials
from pullkin.store import CredentialStore, IdChanges, StoredIds

__all__ = ["LocalStore", "journal_path"]

log = logging.getLogger(__name__)


def journal_path(credentials_path: str | os.PathLike[str]) -> Path:
    """Where the journal of the credentials file at *credentials_path* lives."""
    path = Path(credentials_path).expanduser().absolute()
    return path.with_name(path.name + ".journal")


class LocalStore:
    """A credentials file plus its handled-id journal (see the module docstring)."""

    def __init__(self, credentials: CredentialStore, journal: Journal) -> None:
        self.credentials = credentials
        self.journal = journal
        self._migrate()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, window: int = 10_000) -> LocalStore:
        """Open (creating what is missing) the credentials file *path* and its journal."""
        return cls.around(CredentialStore.open(path, window=window))

    @classmethod
    def around(cls, credentials: CredentialStore) -> LocalStore:
        """The store of an opened credentials file (its journal opened beside it)."""
        window = credentials.window
        return cls(credentials, Journal.open(journal_path(credentials.path), window=window))

    @property
    def window(self) -> int:
        return self.journal.window

    @property
    def path(self) -> Path:
        return self.credentials.path

    async def get_credentials(self, sender_id: str) -> AppCredentials | None:
        return self.credentials.get(sender_id)  # in memory: no I/O

    async def put_credentials(self, sender_id: str, credentials: AppCredentials) -> None:
        await anyio.to_thread.run_sync(self.credentials.put, sender_id, credentials)

    async def remove_app(self, sender_id: str) -> None:
        await anyio.to_thread.run_sync(self.credentials.remove, sender_id)
        await anyio.to_thread.run_sync(self.journal.forget, sender_id)

    async def sender_ids(self) -> list[str]:
        return self.credentials.sender_ids()

    async def load_ids(self, sender_id: str) -> StoredIds:
        return await anyio.to_thread.run_sync(self.journal.load, sender_id)

    async def record_ids(self, changes: Sequence[IdChanges]) -> None:
        await anyio.to_thread.run_sync(self.journal.record, changes)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        self.journal.close()

    def _migrate(self) -> None:
        legacy = {
            sender: state
            for sender in self.credentials.sender_ids()
            if any(state := self.credentials.persistent_state(sender))
        }
        if not legacy:
            return
        for sender, (handled, unconfirmed) in legacy.items():
            self.journal.import_ids(sender, handled, unconfirmed)
            self.credentials.set_persistent_state(sender, [], [])
        self.credentials.save()
        log.info(
            "moved the handled ids of %d app(s) from %s to %s",
            len(legacy), self.credentials.path, self.journal.path,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"<LocalStore {self.credentials.path} window={self.window}>"
