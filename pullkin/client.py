"""``Pullkin``: registered apps, handlers, and the sessions that feed them.

Apps that share a check-in (android_id) share one MCS connection, as in Chrome; each
incoming message is routed to its app by ``subtype`` (web) or ``category`` (Android
app).  Each app has a queue and ``concurrency`` workers (1 by default, which keeps
the app's messages in order).  A worker decrypts and parses the message, runs every
matching handler — async ones on the event loop, sync ones in a worker thread so
they never stall heartbeats (a run of consecutive messages with only sync handlers
goes in one hop: ``_plain``) — and then tells the session the message is done.  One
committer per client makes handled ids durable in the store, a batch per
transaction (group commit: whatever finished while the previous commit was being
written goes into the next), and then has their copies acknowledged (``_ledger``
has the state machine).  A failing handler is logged with the message id
and does not stop anything; an undecryptable message is reported to ``on_error`` and
acknowledged so it is not redelivered forever.  The running sessions are kept by
``_sessions``; a refused login is answered by ``_reregister``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio

from pullkin._apps import App as _App
from pullkin._apps import AppTable, starting_ledger
from pullkin._commit import GroupCommit
from pullkin._ledger import IdLedger
from pullkin._plain import PlainRun
from pullkin._reregister import Reregistration, adopt
from pullkin._session_types import device_of
from pullkin._sessions import SessionPool
from pullkin.core import PullkinCore
from pullkin.dispatch import Filter, Handler, Route, Router, accept_all
from pullkin.endpoints import Endpoints
from pullkin.errors import ConfigError, DecryptionError, LoginError, PullkinError
from pullkin.local_store import LocalStore
from pullkin.mcs import events as ev
from pullkin.mcs.transport import Stream, open_stream
from pullkin.models import AppCredentials, FirebaseConfig, Message
from pullkin.payload import build_message, build_messages
from pullkin.proto.mcs_pb2 import DataMessageStanza
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

ErrorHandler = Callable[[Exception, DataMessageStanza | None], Any]
# Messages of one burst are decrypted together (payload.build_messages), at most this
# many at a time: nearly all of the CPU saving, and the first handler of a burst still
# runs within a few milliseconds.
_BUILD_BATCH = 16
# At most this many queued messages are taken together (and go to the worker thread
# in one run of plain handlers): the first of a run waits for the others to be
# decrypted (about 0.1 ms each).
_GATHER = 64
_PlainItem = tuple[ev.DataMessage, Message, list[Route]]  # a message whose handlers are plain
_H = TypeVar("_H", bound=Handler)
_E = TypeVar("_E", bound=ErrorHandler)


class _DeviceHooks:
    """The client's side of one DeviceSession (see ``receiver.SessionHooks``)."""

    def __init__(self, client: Pullkin, android_id: int) -> None:
        self._client = client
        self.android_id = android_id

    def apps(self) -> list[_App]:
        """This device's apps (asked for every message: a dictionary lookup)."""
        return self._client._apps.of_device(self.android_id)

    def route(self, stanza: DataMessageStanza) -> _App | None:
        """The app a message is for, or None when no app claims it (even with a single
        app): a web registration by the ``subtype`` it was registered with, an
        Android-app one (or one without an app id) by ``category`` (mcs.md §8)."""
        subtype = None
        for item in stanza.app_data:
            if item.key == "subtype":
                subtype = item.value
                break
        category = stanza.category
        for app in self.apps():
            gcm = app.credentials.gcm
            by_subtype = subtype and gcm.app_id and app.credentials.keys is not None
            if gcm.app_id == subtype if by_subtype else gcm.app_name == category:
                return app
        return None

    def deliver(self, session: DeviceSession, app: Any, messages: list[ev.DataMessage]) -> None:
        if self._client.concurrency == 1:
            app.queue.put_nowait((session, messages))  # one worker: keep the batch whole
        else:
            for message in messages:
                app.queue.put_nowait((session, [message]))

    def ledgers(self) -> list[IdLedger[Any]]:
        return [app.ledger for app in self.apps()]

    def handled(self) -> None:
        self._client._commits.soon()

    async def reauthenticate(self, error: LoginError) -> Device:
        device = await self._client._reauthenticate(self.android_id, error)
        self._client._sessions.move(self.android_id, device.android_id)
        self.android_id = device.android_id
        return device

    def report(self, error: Exception, stanza: DataMessageStanza | None) -> None:
        self._client._report(error, stanza)


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
        self.concurrency = concurrency
        self.session_config = session_config or SessionConfig()
        self._router = Router()
        self._error_handlers: list[ErrorHandler] = []
        self._apps = AppTable()
        self._sessions = SessionPool()
        self._listeners: list[tuple[str | None, asyncio.Queue[Message]]] = []
        self._commits = GroupCommit(store)
        # Sessions connecting (TCP and TLS handshake) at once: thousands of devices
        # started together would otherwise share the CPU until every handshake timed out.
        self._connecting = asyncio.Semaphore(connect_concurrency)
        self._stopped = asyncio.Event()
        self._background: set[asyncio.Future[Any]] = set()
        self._reregistration = Reregistration(
            self, self._apps, self._sessions, store, self._report, self._start_app
        )

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
        app.start_workers(self._work, self.concurrency)
        if self._sessions.needs(app.android_id):
            gcm = app.credentials.gcm
            session = DeviceSession(
                device_of(gcm), self.endpoints, _DeviceHooks(self, gcm.android_id),
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

    # --- handling ------------------------------------------------------------------------------

    async def _work(self, app: _App) -> None:
        """One worker of *app*: no exception ends it (each message is reported, marked
        done and acknowledged whatever happens to it).

        With one worker, deliveries already queued for the same session are taken
        together (up to ``_GATHER`` messages): they are decrypted ``_BUILD_BATCH`` at a
        time however small the deliveries were (a batch of one costs about a tenth more
        per message than one of 16), and plain handlers take one thread hop for them
        all.  Deliveries arrive in small pieces while a run of plain handlers is in its
        worker thread, so without this each of those would be a batch and a hop."""
        following: tuple[DeviceSession, list[ev.DataMessage]] | None = None
        while True:
            session, events = following or await app.queue.get()
            following = None
            if self.concurrency == 1:
                events = list(events)
                while len(events) < _GATHER and not app.queue.empty():
                    following = app.queue.get_nowait()
                    if following[0] is not session:
                        break  # another session's: handled next, never in the same run
                    events += following[1]
                    following = None
            run: list[_PlainItem] = []
            for start in range(0, len(events), _BUILD_BATCH):
                batch = events[start : start + _BUILD_BATCH]
                await self._dispatch(session, app, batch, self._build(app, batch), run)
                if len(run) >= _GATHER:
                    await self._run_plain(session, app, run)
            if run:
                await self._run_plain(session, app, run)

    async def _dispatch(
        self,
        session: DeviceSession,
        app: _App,
        batch: list[ev.DataMessage],
        built: list[Message | Exception],
        run: list[_PlainItem],
    ) -> None:
        """Handle *batch* in order, each message marked done after its handlers.
        Consecutive messages whose handlers are all plain functions are added to *run*,
        which goes to a worker thread in one hop (``_plain``: one hop per run, not one
        per message) before any other message is handled, or when the caller says."""
        for event, message in zip(batch, built, strict=True):
            routes = None
            if isinstance(message, Message):
                routes = self._routes(message, event.stanza)
                for route in routes:
                    if route.is_async:
                        break
                else:  # every handler plain (or none): on to the worker thread
                    run.append((event, message, routes))
                    continue
            if run:
                await self._run_plain(session, app, run)
            # Cancelled (stop) means not handled: never marked, so it comes back.
            try:
                await self._handle(session, app, event.stanza, message, routes)
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the app
                self._unexpected(session, app, event.stanza, exc)
            session.message_done(app, event)

    async def _run_plain(self, session: DeviceSession, app: _App, run: list[_PlainItem]) -> None:
        """Run (and empty) *run*: its handlers in one worker-thread hop, then mark it done
        (not if cancelled meanwhile: then none of it is marked, and it comes back)."""
        plain = PlainRun([(message, event.stanza, routes) for event, message, routes in run])
        failed = None
        try:
            await self._hop(session, plain)
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the app
            failed = exc
        session.stats.handler_errors += plain.errors
        for event, message, _ in run:
            if failed is None:
                self._dispatched(session, app, message)
            else:
                self._unexpected(session, app, event.stanza, failed)
            session.message_done(app, event)
        run.clear()

    async def _hop(self, session: DeviceSession, plain: PlainRun) -> None:
        """Call *plain*'s handlers in a worker thread; what one hands back to await is
        awaited here, on the loop, before the rest of the run goes on."""
        if not plain.calls:
            return
        while (awaitable := await anyio.to_thread.run_sync(plain.run)) is not None:
            try:
                await awaitable
            except Exception:  # a handler may raise anything; it must not stop receiving
                session.stats.handler_errors += 1
                log.exception("a handler's awaitable failed (%d calls in its run)", plain.calls)

    def _routes(self, message: Message, stanza: DataMessageStanza) -> list[Route]:
        routes, failed = self._router.match(message, stanza)
        for route, problem in failed:
            pid = stanza.persistent_id or "?"
            log.error("filter of %s failed on message %s", route.name, pid, exc_info=problem)
        return routes

    def _build(self, app: _App, batch: list[ev.DataMessage]) -> list[Message | Exception]:
        """The batch's messages (or why each failed); one stanza that breaks the
        parser must not take the others down with it."""
        keys, sender = app.credentials.keys, app.sender_id
        try:
            return list(build_messages([e.stanza for e in batch], keys, sender_id=sender))
        except Exception:  # noqa: BLE001 - retried one by one below
            results: list[Message | Exception] = []
            for event in batch:
                try:
                    results.append(build_message(event.stanza, keys, sender_id=sender))
                except Exception as exc:  # noqa: BLE001 - handed to _handle as the result
                    results.append(exc)
            return results

    def _unexpected(
        self, session: DeviceSession, app: _App, stanza: DataMessageStanza, exc: Exception
    ) -> None:
        pid = stanza.persistent_id or "?"
        log.error("message %s for app %s could not be handled", pid, app.key, exc_info=exc)
        session.stats.handler_errors += 1
        error = PullkinError(
            f"message {pid} for app {app.key} could not be handled "
            f"({type(exc).__name__}: {exc}); it is acknowledged and not retried"
        )
        error.__cause__ = exc
        self._report(error, stanza)

    async def _handle(
        self,
        session: DeviceSession,
        app: _App,
        stanza: DataMessageStanza,
        message: Message | Exception,
        routes: list[Route] | None = None,
    ) -> None:
        pid = stanza.persistent_id or "?"
        if isinstance(message, DecryptionError):
            session.stats.undecryptable += 1
            log.warning("cannot decrypt message %s for app %s: %s", pid, app.key, message)
            self._report(message, stanza)
            return
        if isinstance(message, Exception):
            self._unexpected(session, app, stanza, message)
            return
        for route in self._routes(message, stanza) if routes is None else routes:
            await self._call(session, route, message, stanza)
        self._dispatched(session, app, message)

    def _dispatched(self, session: DeviceSession, app: _App, message: Message) -> None:
        session.stats.dispatched += 1
        for sender, queue in self._listeners:
            if sender is None or app.named(sender):
                queue.put_nowait(message)

    async def _call(
        self, session: DeviceSession, route: Route, message: Message, stanza: DataMessageStanza
    ) -> None:
        try:
            if route.is_async:
                result = route.handler(message, stanza)
            else:
                result = await anyio.to_thread.run_sync(route.handler, message, stanza)
            if inspect.isawaitable(result):
                await result
        except Exception:  # a handler may raise anything; it must not stop receiving
            session.stats.handler_errors += 1
            log.exception("handler %s failed on message %s", route.name, stanza.persistent_id)

    def _report(self, error: Exception, stanza: DataMessageStanza | None) -> None:
        for handler in self._error_handlers:
            try:
                result = handler(error, stanza)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._background.add(task)
                    task.add_done_callback(functools.partial(self._error_handler_done, handler))
            except Exception:  # an error hook must not break receiving
                log.exception("on_error handler %r failed", handler)

    def _error_handler_done(self, handler: ErrorHandler, task: asyncio.Future[Any]) -> None:
        # An async hook fails after _report returned: log it now, not when (or if) the
        # garbage collector finds the task's unretrieved exception.
        self._background.discard(task)
        if not task.cancelled() and (problem := task.exception()) is not None:
            log.error("on_error handler %r failed", handler, exc_info=problem)

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
