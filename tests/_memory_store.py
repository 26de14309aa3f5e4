"""An in-memory ``Store`` (pullkin.store.Store) for tests on the virtual clock: no
threads, no files.  ``hold()`` makes ``record_ids`` wait (a slow disk) until
``release()``; ``holding`` tells a test that a commit is being written."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import anyio

from pullkin.models import AppCredentials
from pullkin.store import IdChanges, StoredIds


class MemoryStore:
    def __init__(self, window: int = 10_000) -> None:
        self._window = window
        self.credentials: dict[str, AppCredentials] = {}
        self.handled: dict[str, OrderedDict[str, None]] = {}
        self.unconfirmed: dict[str, set[str]] = {}
        self.commits: list[list[IdChanges]] = []
        self._open = anyio.Event()
        self._open.set()
        self.holding = False

    @property
    def window(self) -> int:
        return self._window

    async def get_credentials(self, sender_id: str) -> AppCredentials | None:
        return self.credentials.get(sender_id)

    async def put_credentials(self, sender_id: str, credentials: AppCredentials) -> None:
        self.credentials[sender_id] = credentials

    async def remove_app(self, sender_id: str) -> None:
        for table in (self.credentials, self.handled, self.unconfirmed):
            table.pop(sender_id, None)

    async def sender_ids(self) -> list[str]:
        return list(self.credentials)

    async def load_ids(self, sender_id: str) -> StoredIds:
        window = self.handled.get(sender_id, OrderedDict())
        unconfirmed = self.unconfirmed.get(sender_id, set())
        return StoredIds(list(window), [pid for pid in window if pid in unconfirmed])

    async def record_ids(self, changes: Sequence[IdChanges]) -> None:
        self.holding = not self._open.is_set()
        await self._open.wait()
        self.holding = False
        for change in changes:  # one "transaction": nothing above can fail half way
            window = self.handled.setdefault(change.sender_id, OrderedDict())
            unconfirmed = self.unconfirmed.setdefault(change.sender_id, set())
            for pid in change.handled:
                window[pid] = None
                window.move_to_end(pid)
                unconfirmed.add(pid)
            unconfirmed.difference_update(change.confirmed)
            while len(window) > self._window:
                unconfirmed.discard(window.popitem(last=False)[0])
        self.commits.append(list(changes))

    async def aclose(self) -> None:
        pass

    def hold(self) -> None:
        self._open = anyio.Event()

    def release(self) -> None:
        self._open.set()
