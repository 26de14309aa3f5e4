"""``Pullkin``: registered apps, handlers, and the sessions that feed them.

Apps that share a check-in (android_id) share one MCS connection, as in Chrome; each
incoming message is routed to its app by ``subtype`` (web) or ``category`` (Android
app).  Each app has a queue and ``concurrency`` workers (1 by default, which keeps
the app's messages in order).  A worker decrypts and parses the message, runs every
matching handler — async ones on the event loop, sync ones in a worker thread so
they never stall heartbeats — and then tells the session the message is done
(``_handling`` has the workers and a session's hooks).  One committer per client
makes handled ids durable in the store, a batch per transaction (group commit:
whatever finished while the previous commit was being written goes into the next),
and then has their copies acknowledged (``_ledger`` has the state machine).  A
failing handler is logged with the message id and does not stop anything; an
undecryptable message is reported to ``on_error`` and acknowledged so it is not
redelivered forever.  The running sessions are kept by ``_sessions``; a refused
login is answered by ``_reregister``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pullkin._apps import App as _App
from pullkin._apps import AppTable, starting_ledger
from pullkin._commit import GroupCommit
from pullkin._handling import DeviceHooks, ErrorHandler, Handling, Listener
from pullkin._reregister import Reregistration, adopt
from pullkin._session_types import device_of
from pullkin._sessions import SessionPool
from pullkin.core import PullkinCore
from pullkin.dispatch import Filter, Handler, Router, accept_all
from pullkin.endpoints import Endpoints
from pullkin.errors import ConfigError, LoginError, PullkinError
from pullkin.local_store import LocalStore
from pullkin.mcs.transport import Stream, open_stream
from pullkin.models import AppCredentials, FirebaseConfig, Message
from pullkin.payload import build_message, build_messages
from pullkin.receiver import (
    Connector,
    Device,
    DeviceSession,
    SessionConfig,
    SessionState,
    SessionStats,
)
from pullkin.store import CredentialStore, Store

__all__ = ["ErrorHandler", "Pullkin"]

log = logging.getLogger(__name__)

_H = TypeVar("_H", bound=Handler)
_E = TypeVar("_E", bound=ErrorHandler)


class Pullkin(PullkinCore):
    """Receive pushes for one or more registered apps.  See the module docstring."""

    # How sessions open MCS connections (None: TLS to ``endpoints``).  The seam tests
    # use to put an in-memory, scripted MCS peer in place of the server.
    _connector: Connector | None = None

    def __init__(
        self,
        *args: Any,
        store: Store | CredentialStore | None = None,
        credentials_path: str | Path | None = None,
        window: int = 10_000,
        concurrency: int = 1,
        session_config: SessionConfig | None = None,
        connect_concurrency: int = 32,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if store is not None and credentials_path is not None:
            raise ConfigError("pass either store= or credentials_path=, not both")
        if concurrency < 1 or connect_concurrency < 1:
            raise ConfigError(
                f"concurrency and connect_concurrency must be at least 1, got {concurrency} "
                f"and {connect_concurrency}"
            )
        # A store made here (from a path or a bare credentials file) is closed here.
        self._owns_store = credentials_path is not None or isinstance(store, CredentialStore)
        if credentials_path is not None:
            store = LocalStore.open(credentials_path, window=window)
        elif isinstance(store, CredentialStore):
            store = LocalStore.around(store)
        self.store: Store | None = store
        self.window = window
        self.session_config = session_config or SessionConfig()
        self._router = Router()
        self._error_handlers: list[ErrorHandler] = []
        self._apps = AppTable()
        self._sessions = SessionPool()
        self._listeners: list[Listener] = []
        # build_messages and build_message as this module has them (a test counts calls).
        self._handling = Handling(
            self._router, self._listeners, self._error_handlers, concurrency=concurrency,
            build_messages=build_messages, build_message=build_message,
        )  # fmt: skip
        self._commits = GroupCommit(store)
        # Sessions connecting (TCP and TLS handshake) at once: thousands of devices
        # started together would otherwise share the CPU until every handshake timed out.
        self._connecting = asyncio.Semaphore(connect_concurrency)
        self._stopped = asyncio.Event()
        self._reregistration = Reregistration(
            self, self._apps, self._sessions, store, self._handling.report, self._start_app
        )

    @property
    def concurrency(self) -> int:
        """Workers per app (1: its messages are handled in order)."""
        return self._handling.concurrency

    @concurrency.setter
    def concurrency(self, concurrency: int) -> None:
        self._handling.concurrency = concurrency

    def __repr__(self) -> str:
        return f"<Pullkin apps={len(self._apps)} state={self.state.value}>"

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
        await super().__aexit__(exc_type, exc, tb)

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            if self._owns_store and self.store is not None:
                await self.store.aclose()

    # --- handlers ---------------------------------------------------------------------

    def on_notification(self, handler_filter: Filter = accept_all) -> Callable[[_H], _H]:
        """Decorate a sync or async ``handler(message, stanza)`` run for every message
        *handler_filter* accepts."""

        def register(handler: _H) -> _H:
            self._router.add(handler, handler_filter)
            return handler

        return register

    def on_error(self, handler: _E) -> _E:
        """Decorate ``handler(error, stanza_or_None)``: undecryptable or unroutable
        messages, and permanent failures that stop a session."""
        self._error_handlers.append(handler)
        return handler

    # --- apps ----------------------------------------------------------------------------

    async def add_app(
        self,
        sender_id: str,
        credentials: AppCredentials,
        persistent_ids: set[str] | None = None,
        *,
        key: str | None = None,
    ) -> None:
        """Receive for *credentials*, registered with *sender_id* (which its messages
        carry as ``Message.sender_id``).  *key* names the app in the store and in
        ``run``/``stop``/``listen_coroutine``; by default the sender id.  Give each
        app its own key to receive for several devices of one sender id (as a fleet
        worker does); an app added under a key already taken replaces that app."""
        sender_id = str(sender_id)
        key = sender_id if key is None else str(key)
        if not key:
            raise ConfigError("an app's key must not be empty")
        store = self.store
        previous = self._apps.get(key)
        if previous is not None:
            previous.stop_workers()
            await self._persist()  # what it handled is durable before its ledger goes
        # Read after that commit: it may have been writing them.
        ledger = await starting_ledger(store, key, self.window, previous)
        app = _App(key, sender_id, credentials, ledger)
        self._commits.attach(app)
        for pid in persistent_ids or ():  # the caller's "already handled": recorded too
            if not ledger.seen(pid):
                ledger.finish(pid)
        self._apps.put(app)
        if store is not None and await store.get_credentials(key) != credentials:
            await store.put_credentials(key, credentials)
        if self._sessions:
            self._start_app(app)
        if ledger.dirty:
            self._commits.soon()

    async def add_stored_apps(self) -> list[str]:
        """Add every app the store holds (e.g. registered by ``pullkin register``);
        returns their keys (their sender ids, unless stored under other keys)."""
        if self.store is None:
            raise ConfigError("no store: pass credentials_path= or store= to Pullkin")
        keys = await self.store.sender_ids()
        for key in keys:
            credentials = await self.store.get_credentials(key)
            if credentials is not None:
                config = credentials.config
                await self.add_app(config.sender_id if config else key, credentials, key=key)
        return keys

    async def register_app(self, config: FirebaseConfig, *, retries: int = 5) -> AppCredentials:
        """Reuse the stored registration of *config* (refreshed if due) or register,
        store and add it.  The token to give senders is ``credentials.fcm.token``."""
        store = self.store
        stored = await store.get_credentials(config.sender_id) if store else None
        if store is not None and stored is not None:
            credentials = await self.refresh(adopt(stored, config, store), retries=retries)
        else:
            credentials = await super().register_app(config, retries=retries)
        await self.add_app(config.sender_id, credentials)
        return credentials

    def apps(self) -> dict[str, AppCredentials]:
        """The credentials of every app, by key."""
        return {app.key: app.credentials for app in self._apps.values()}

    # --- running ----------------------------------------------------------------------------

    async def run(self, sender_ids: list[str] | None = None, timer: float = 0.05) -> None:
        """Receive (for the apps *sender_ids* name — keys or sender ids — or every
        app) until :meth:`stop`.  Event driven: *timer* is accepted for compatibility
        with the old Pullkin API and never used to poll."""
        del timer
        self._start(sender_ids)
        await self._stopped.wait()

    async def start(self, sender_ids: Iterable[str] | None = None) -> None:
        """Start receiving for the apps *sender_ids* name (keys or sender ids; every
        app if None) and return: their sessions run in the background until
        :meth:`stop` or :meth:`stop_device`.  Apps already receiving are left as they
        are, so a long-running client calls it again for the apps it adds."""
        self._start(sender_ids)

    async def listen_coroutine(
        self, sender_id: str | None = None
    ) -> AsyncGenerator[Message | None, None]:
        """Yield each message (of the apps *sender_id* names — a key or a sender id —
        or of every app) as it arrives; starts receiving if :meth:`run` is not already
        running."""
        queue: asyncio.Queue[Message] = asyncio.Queue()
        entry = (str(sender_id) if sender_id is not None else None, queue)
        self._listeners.append(entry)
        try:
            self._start(None)
            while True:
                yield await queue.get()
        finally:
            self._listeners.remove(entry)

    async def stop(self, sender_id: str | None = None) -> None:
        """Stop everything (acknowledging what was handled, and closing the HTTP
        session this client opened), or remove the apps *sender_id* names (a key or a
        sender id): their running handlers are cancelled, what they handled is durable
        when this returns, and a device left without apps is disconnected."""
        if sender_id is not None:
            apps = self._apps.named([sender_id])
            await self._remove(apps)
            for android_id in {app.android_id for app in apps}:
                if not self._apps.of_device(android_id):
                    await self._stop_session(android_id)
            return
        try:
            await asyncio.gather(*map(self._stop_session, list(self._sessions)))
            workers = [worker for app in self._apps.values() for worker in app.workers]
            for app in self._apps.values():
                app.stop_workers()
            if workers:  # cancelled mid-handler: unmarked (a plain handler's thread may linger)
                await asyncio.wait(workers, timeout=self.session_config.stop_timeout)
            await self._persist()  # everything handled is durable when stop() returns
        finally:
            await self._commits.stop()
            self._stopped.set()
            # Seed-style code stops without ``async with``: leave no open HTTP session
            # behind (it is opened again if this client registers or refreshes later).
            await self._http.aclose()

    async def wait_connected(self) -> None:
        """Start receiving if needed and return once every session is logged in (a test
        harness awaits this, under its own timeout, before its backend sends)."""
        self._start(None)
        for session in self.sessions:
            await session.wait_connected()

    async def stop_device(self, android_id: int) -> list[str]:
        """Stop receiving on one device and remove its apps; returns their keys.  Its
        connection ends once the messages in its handlers are done (up to
        ``SessionConfig.stop_timeout``) and acknowledged; what its apps handled is
        durable when this returns.  (A fleet worker gives a device up this way.)"""
        await self._stop_session(android_id)
        apps = list(self._apps.of_device(android_id))
        await self._remove(apps)
        return [app.key for app in apps]

    async def _remove(self, apps: list[_App]) -> None:
        """Remove *apps*: their running handlers are cancelled; what they handled is
        durable when this returns."""
        for app in apps:
            self._apps.pop(app.key)
            app.stop_workers()
        await self._persist()

    def _start(self, sender_ids: Iterable[str] | None) -> None:
        if not self._apps:
            raise ConfigError("no app to receive for: call add_app() or register_app() first")
        self._stopped.clear()
        self._commits.start()
        for app in self._apps.named(sender_ids):
            self._start_app(app)

    def _start_app(self, app: _App) -> None:
        """Start *app*'s workers and its device's session, unless they run."""
        app.start_workers(self._handling.work, self.concurrency)
        if self._sessions.needs(app.android_id):
            gcm = app.credentials.gcm
            hooks = DeviceHooks(
                gcm.android_id, self._apps, self._handling, self._commits, self._sessions,
                self._reauthenticate,
            )  # fmt: skip
            session = DeviceSession(
                device_of(gcm), self.endpoints, hooks,
                config=self.session_config, connector=self._connect,
            )  # fmt: skip
            task = asyncio.create_task(self._run_session(session), name=f"pullkin {session}")
            self._sessions.add(session, task)

    async def _connect(self, endpoints: Endpoints) -> Stream:
        """Open an MCS connection, at most ``connect_concurrency`` at a time."""
        async with self._connecting:
            if self._connector is not None:
                return await self._connector(endpoints)
            return await open_stream(endpoints, connect_timeout=self.session_config.connect_timeout)

    async def _run_session(self, session: DeviceSession) -> None:
        try:
            await session.run()
        except PullkinError as exc:
            log.error("receiving stopped for android_id %d: %s", session.device.android_id, exc)
        if not self._sessions.running(exclude=session):
            self._stopped.set()

    async def _stop_session(self, android_id: int) -> None:
        await self._sessions.stop(android_id, self.session_config.stop_timeout)

    # --- persistence and re-registration -------------------------------------------------------

    async def _persist(self) -> None:
        """Make every handled id durable now (and acknowledge what that allows)."""
        await self._commits.commit()

    async def _reauthenticate(self, android_id: int, error: LoginError) -> Device:
        """After a refused MCS login: check in again, and register the device's apps
        again if it is gone (``_reregister.Reregistration``)."""
        return await self._reregistration.reauthenticate(android_id, error)

    # --- observability ----------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The least healthy session state (STOPPED when nothing runs)."""
        return self._sessions.state

    @property
    def stats(self) -> SessionStats:
        """Counters summed over every session, for the life of this client (sessions
        that were stopped still count)."""
        return self._sessions.stats

    @property
    def sessions(self) -> list[DeviceSession]:
        return self._sessions.sessions
