"""The apps one ``Pullkin`` receives for, found by key and by device in O(1).

An app has a **key** — the name it is stored under in the ``Store`` and selected by in
``run``/``stop``/``listen_coroutine`` — and a **sender id**, which messages carry as
``Message.sender_id``.  The key is the sender id unless ``add_app(key=...)`` gives
another: one client receiving for several devices of the same sender (a fleet worker)
needs a key per device.  Each session asks for its device's apps on every message, and
a worker of thousands of devices adds and stops devices one by one, so both lookups
are dictionaries, never a walk over every app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from pullkin._ledger import IdLedger
from pullkin.mcs import events as ev
from pullkin.models import AppCredentials
from pullkin.receiver import DeviceSession
from pullkin.store import Store, StoredIds

__all__ = ["App", "AppTable", "starting_ledger"]


@dataclass(eq=False)
class App:
    """One registered app: credentials, delivery state, and its handler workers."""

    key: str
    sender_id: str
    credentials: AppCredentials
    ledger: IdLedger[Any]
    queue: asyncio.Queue[tuple[DeviceSession, list[ev.DataMessage]]] = field(
        default_factory=asyncio.Queue
    )
    workers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def android_id(self) -> int:
        return self.credentials.gcm.android_id

    def named(self, name: str) -> bool:
        """Whether *name* selects this app (its key or its sender id)."""
        return name in (self.key, self.sender_id)

    def start_workers(self, work: Callable[[App], Coroutine[Any, Any, None]], count: int) -> None:
        """Start *count* tasks running ``work(app)``, unless the app has workers."""
        if not self.workers:
            self.workers = [
                asyncio.create_task(work(self), name=f"pullkin worker {self.key}")
                for _ in range(count)
            ]

    def stop_workers(self) -> None:
        """Cancel the workers.  What they had not finished is not handled: it is
        forgotten (queue and ledger) and comes back from the server."""
        for worker in self.workers:
            worker.cancel()
        self.workers = []
        while not self.queue.empty():
            self.queue.get_nowait()
        for copy in self.ledger.abandon():
            copy.abandon()


class AppTable:
    """Apps by key, and by device (android_id) in the order they were added."""

    def __init__(self) -> None:
        self._by_key: dict[str, App] = {}
        self._by_device: dict[int, list[App]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def __getitem__(self, key: str) -> App:
        return self._by_key[key]

    def values(self) -> list[App]:
        """Every app (a copy: callers add and remove apps meanwhile)."""
        return list(self._by_key.values())

    def get(self, key: str) -> App | None:
        return self._by_key.get(key)

    def put(self, app: App) -> App | None:
        """Add *app*, replacing (and returning) the app of the same key, if any."""
        previous = self.pop(app.key)
        self._by_key[app.key] = app
        self._by_device.setdefault(app.android_id, []).append(app)
        return previous

    def pop(self, key: str) -> App | None:
        app = self._by_key.pop(key, None)
        if app is not None:
            self._unindex(app, app.android_id)
        return app

    def of_device(self, android_id: int) -> list[App]:
        """The apps of *android_id* (the live list: do not change it)."""
        return self._by_device.get(android_id) or []

    def named(self, names: Iterable[str] | None) -> list[App]:
        """The apps *names* select (each a key or a sender id); every app for None."""
        if names is None:
            return self.values()
        chosen: dict[str, App] = {}
        for name in map(str, names):
            app = self._by_key.get(name)
            everyone = self._by_key.values()
            matches = [app] if app is not None else [a for a in everyone if a.sender_id == name]
            chosen.update((a.key, a) for a in matches)
        return list(chosen.values())

    def replace_credentials(self, app: App, credentials: AppCredentials) -> None:
        """Give *app* new credentials (a new registration may bring a new device)."""
        old = app.android_id
        app.credentials = credentials
        if app.android_id != old and self._by_key.get(app.key) is app:
            self._unindex(app, old)
            self._by_device.setdefault(app.android_id, []).append(app)

    def _unindex(self, app: App, android_id: int) -> None:
        apps = self._by_device.get(android_id, [])
        if app in apps:
            apps.remove(app)
        if not apps:
            self._by_device.pop(android_id, None)


async def starting_ledger(
    store: Store | None, key: str, window: int, previous: App | None
) -> IdLedger[Any]:
    """The ledger of an app added under *key*: the ids *store* holds for it, or without
    a store those of the app it replaces (*previous*)."""
    stored: StoredIds | None = None
    if store is not None:
        stored = await store.load_ids(key)
    elif previous is not None:
        stored = StoredIds(previous.ledger.handled(), previous.ledger.unconfirmed())
    return IdLedger(window, *((stored.handled, stored.unconfirmed) if stored else ()))
