"""The group commit: handled ids become durable in the store, then their copies are
acknowledged.  One per ``Pullkin``, whatever the number of sessions and apps.

A worker that finishes a message marks its id handled in the app's ledger and calls
``soon()``.  The commit task then takes every ledger's changes — whatever finished
while the previous commit was being written — records them in **one** store
transaction, and only when that returned makes the ids durable in the ledgers, which
hands back the copies parked on them for acknowledgement (``_ledger`` has the state
machine).  So a batch costs one fsync whatever its size, a mark is durable within
one batch of its handler returning, and it does not depend on a link being up: a
message handled while the connection is down is durable at once and acknowledged on
the next link.  A store that fails keeps the changes; they are retried with backoff
while acknowledgements wait (the server keeps the messages meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from pullkin._ledger import IdLedger
from pullkin.store import IdChanges, Store

__all__ = ["GroupCommit"]

log = logging.getLogger(__name__)

_RETRY_MAX = 30.0


class Committable(Protocol):
    """An app as the commit sees it."""

    key: str
    ledger: IdLedger[Any]


class GroupCommit:
    """Records handled ids in *store* (or only in memory without one), batch by batch."""

    def __init__(self, store: Store | None, apps: Callable[[], Iterable[Committable]]) -> None:
        self.store = store
        self._apps = apps
        self._lock = asyncio.Lock()
        self._wanted = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def soon(self) -> None:
        """Something was handled: commit as soon as the current commit is written."""
        self._wanted.set()

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._loop(), name="pullkin group commit")

    async def stop(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def commit(self) -> None:
        """Make every handled id durable, then acknowledge the copies parked on them."""
        async with self._lock:
            taken = [(app, *app.ledger.take_changes()) for app in self._apps()]
            changes = [IdChanges(app.key, h, c) for app, h, c in taken if h or c]
            if changes and self.store is not None:
                try:
                    await self.store.record_ids(changes)
                except BaseException:
                    for app, handled, confirmed in taken:
                        app.ledger.restore_changes(handled, confirmed)
                    raise
            for app, handled, _ in taken:
                for copy in app.ledger.durable(handled):
                    copy.acknowledge()

    async def _loop(self) -> None:
        failures = 0
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self.commit()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - kept and retried; acks wait meanwhile
                failures += 1
                delay = min(0.1 * 2**failures, _RETRY_MAX)
                log.error("cannot record handled ids (retrying in %.1f s): %s", delay, exc)
                await asyncio.sleep(delay)
                self._wanted.set()
