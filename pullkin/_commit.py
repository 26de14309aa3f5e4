"""The group commit: handled ids become durable in the store, then their copies are
acknowledged.  One per ``Pullkin``, whatever the number of sessions and apps.

A worker that finishes a message marks its id handled in the app's ledger and calls
``soon()``.  The commit task then takes the changes — whatever finished while the
previous commit was being written — records them in **one** store transaction, and
only when that returned makes the ids durable in the ledgers, which hands back the
copies parked on them for acknowledgement (``_ledger`` has the state machine).  So a
batch costs one fsync whatever its size, a mark is durable within one batch of its
handler returning, and it does not depend on a link being up: a message handled
while the connection is down is durable at once and acknowledged on the next link.
A store that fails keeps the changes; they are retried with backoff while
acknowledgements wait (the server keeps the messages meanwhile).

A commit costs what changed, not the number of apps (a fleet worker has thousands):
an attached ledger tells the commit (``on_change``) when it gets its first change, and
the commit takes changes only from those apps.  None can slip through: an app leaves
the set in the same step (no ``await`` between) as its changes are taken, and a change
made while they are being written, or put back after a failed write, enters it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
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
    """Records handled ids in *store* (or only in memory without one), batch by batch,
    for the apps ``attach`` gave it."""

    def __init__(self, store: Store | None) -> None:
        self.store = store
        self._changed: dict[Committable, None] = {}  # apps whose ledgers have changes
        self._lock = asyncio.Lock()
        self._wanted = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def attach(self, app: Committable) -> None:
        """Commit *app*'s changes from now on (set it up before changing its ledger)."""
        app.ledger.on_change = functools.partial(self._track, app)
        if app.ledger.dirty:
            self._track(app)

    def _track(self, app: Committable) -> None:
        self._changed[app] = None

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
            apps, self._changed = self._changed, {}
            taken = [(app, *app.ledger.take_changes()) for app in apps]
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
