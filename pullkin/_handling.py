"""What a ``Pullkin`` does with each message its sessions deliver: the hot path.

A session routes a message to its app (``DeviceHooks.route``) and puts it on the app's
queue (``DeviceHooks.deliver``).  Each of the app's workers (``Handling.work``)
decrypts and parses what it takes, runs every matching handler — async ones on the
event loop, sync ones in a worker thread so they never stall heartbeats (a run of
consecutive messages with only sync handlers goes in one hop: ``_plain``) — and then
tells the session the message is done.  A failing handler is logged with the message
id and does not stop anything; an undecryptable message is reported to ``on_error``
and acknowledged so it is not redelivered forever.  Everything logs under
``pullkin.client``, as when this lived in ``client``.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from pullkin import payload
from pullkin._apps import App, AppTable
from pullkin._commit import GroupCommit
from pullkin._ledger import IdLedger
from pullkin._plain import PlainRun
from pullkin._sessions import SessionPool
from pullkin.dispatch import Route, Router
from pullkin.errors import DecryptionError, LoginError, PullkinError
from pullkin.mcs import events as ev
from pullkin.models import AppCredentialsKeys, Message
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import Device, DeviceSession

__all__ = ["DeviceHooks", "ErrorHandler", "Handling", "Listener"]

log = logging.getLogger("pullkin.client")

ErrorHandler = Callable[[Exception, DataMessageStanza | None], Any]
Listener = tuple[str | None, asyncio.Queue[Message]]  # (app name or None: every app, queue)
# Messages of one burst are decrypted together (payload.build_messages), at most this
# many at a time: nearly all of the CPU saving, and the first handler of a burst still
# runs within a few milliseconds.
_BUILD_BATCH = 16
# At most this many queued messages are taken together (and go to the worker thread
# in one run of plain handlers): the first of a run waits for the others to be
# decrypted (about 0.1 ms each).
_GATHER = 64
_PlainItem = tuple[ev.DataMessage, Message, list[Route]]  # a message whose handlers are plain
_HANDOVER = 3  # loop turns until anyio.to_thread.run_sync has handed a run to its thread


def _gathered(
    app: App, session: DeviceSession, events: list[ev.DataMessage]
) -> tuple[list[ev.DataMessage], tuple[DeviceSession, list[ev.DataMessage]] | None]:
    """*events* and the deliveries queued behind them for the same session, up to
    ``_GATHER`` messages; and what is to be handled next (the rest of a delivery, or
    another session's), if anything."""
    events = list(events)
    while len(events) < _GATHER and not app.queue.empty():
        following = app.queue.get_nowait()
        if following[0] is not session:
            return events, following  # another session's: handled next, never in this run
        events += following[1]
    if len(events) > _GATHER:
        return events[:_GATHER], (session, events[_GATHER:])
    return events, None


@dataclass
class _Lane:
    """One worker's plain handlers: the run being gathered, and the run in the worker
    thread (at most one, so runs go in order), which ends by marking its messages done."""

    run: list[_PlainItem] = field(default_factory=list)
    pending: asyncio.Task[None] | None = None

    async def settle(self) -> None:
        """Wait until the run in the worker thread is done."""
        pending, self.pending = self.pending, None
        if pending is not None:
            await pending


class BuildMessages(Protocol):
    """``payload.build_messages``: a burst's messages, or why each failed."""

    def __call__(
        self,
        stanzas: Sequence[DataMessageStanza],
        keys: AppCredentialsKeys | None,
        *,
        sender_id: str | None = None,
        app_data: Sequence[Mapping[str, str]] | None = None,
    ) -> list[Message | DecryptionError]: ...


class BuildMessage(Protocol):
    """``payload.build_message``: one stanza's message; raises why it failed."""

    def __call__(
        self,
        stanza: DataMessageStanza,
        keys: AppCredentialsKeys | None,
        *,
        sender_id: str | None,
        app_data: Mapping[str, str] | None = None,
    ) -> Message: ...


class Handling:
    """The workers' side of a client: handlers by *router*, messages also copied to
    *listeners* (``listen_coroutine``), failures to *error_handlers* (``on_error``).
    The lists are the client's own: what it adds later is seen here."""

    def __init__(
        self,
        router: Router,
        listeners: list[Listener],
        error_handlers: list[ErrorHandler],
        *,
        concurrency: int,
        build_messages: BuildMessages = payload.build_messages,
        build_message: BuildMessage = payload.build_message,
    ) -> None:
        self.concurrency = concurrency  # workers per app; with 1, deliveries are gathered
        self._router = router
        self._listeners = listeners
        self._error_handlers = error_handlers
        self._build_messages = build_messages
        self._build_message = build_message
        self._background: set[asyncio.Future[Any]] = set()

    async def work(self, app: App) -> None:
        """One worker of *app*: no exception ends it (each message is reported, marked
        done and acknowledged whatever happens to it).

        With one worker, deliveries already queued for the same session are taken
        together, up to ``_GATHER`` messages: they are decrypted ``_BUILD_BATCH`` at a
        time however small the deliveries were (a batch of one costs about a tenth more
        per message than one of 16), and plain handlers take one thread hop for them
        all.  Deliveries arrive in small pieces while a run of plain handlers is in its
        worker thread, so without this each of those would be a batch and a hop.
        A run of plain handlers is handed to the worker thread and the next messages
        are decrypted while it runs (``_Lane``)."""
        following: tuple[DeviceSession, list[ev.DataMessage]] | None = None
        lane = _Lane()
        try:
            while True:
                session, events = following or await app.queue.get()
                following = None
                if self.concurrency == 1:
                    events, following = _gathered(app, session, events)
                for start in range(0, len(events), _BUILD_BATCH):
                    batch = events[start : start + _BUILD_BATCH]
                    await self._dispatch(session, app, batch, self._build(app, batch), lane)
                if lane.run:
                    await self._submit(session, app, lane)
        finally:
            if lane.pending is not None:
                lane.pending.cancel()  # not marked done: it comes back (see _run_plain)

    async def _dispatch(
        self,
        session: DeviceSession,
        app: App,
        batch: list[ev.DataMessage],
        built: list[Message | Exception],
        lane: _Lane,
    ) -> None:
        """Handle *batch* in order, each message marked done after its handlers.
        Consecutive messages whose handlers are all plain functions are added to
        ``lane.run``, which goes to a worker thread in one hop (``_plain``: one hop per
        run, not one per message); any other message waits until the runs before it
        are done."""
        for event, message in zip(batch, built, strict=True):
            routes = None
            if isinstance(message, Message):
                routes = self._routes(message, event.stanza)
                for route in routes:
                    if route.is_async:
                        break
                else:  # every handler plain (or none): on to the worker thread
                    lane.run.append((event, message, routes))
                    continue
            if lane.run:
                await self._submit(session, app, lane)
            if lane.pending is not None:
                await lane.settle()
            # Cancelled (stop) means not handled: never marked, so it comes back.
            try:
                await self._handle(session, app, event.stanza, message, routes)
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the app
                self._unexpected(session, app, event.stanza, exc)
            session.message_done(app, event)

    async def _submit(self, session: DeviceSession, app: App, lane: _Lane) -> None:
        """Hand ``lane.run`` to the worker thread once the run before it is done (runs
        go in order), and return as soon as it is on its way."""
        run, lane.run = lane.run, []
        await lane.settle()
        lane.pending = asyncio.create_task(self._run_plain(session, app, run))
        for _ in range(_HANDOVER):  # anyio's run_sync yields twice before the thread has it
            await asyncio.sleep(0)

    async def _run_plain(self, session: DeviceSession, app: App, run: list[_PlainItem]) -> None:
        """Run *run*: its handlers in one worker-thread hop, then mark it done
        (not if cancelled meanwhile: then none of it is marked, and it comes back)."""
        plain = PlainRun([(message, event.stanza, routes) for event, message, routes in run])
        failed = None
        try:
            await self._hop(session, plain)
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the app
            failed = exc
        session.stats.handler_errors += plain.errors
        if failed is None:
            session.stats.dispatched += len(run)
        for event, message, _ in run:
            if failed is not None:
                self._unexpected(session, app, event.stanza, failed)
            elif self._listeners:
                self._copy_to_listeners(app, message)
            session.message_done(app, event)

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

    def _build(self, app: App, batch: list[ev.DataMessage]) -> list[Message | Exception]:
        """The batch's messages (or why each failed); one stanza that breaks the
        parser must not take the others down with it."""
        keys, sender = app.credentials.keys, app.sender_id
        try:
            return list(
                self._build_messages(
                    [e.stanza for e in batch],
                    keys,
                    sender_id=sender,
                    app_data=[e.app_data for e in batch],
                )
            )
        except Exception:  # noqa: BLE001 - retried one by one below
            results: list[Message | Exception] = []
            for event in batch:
                try:
                    results.append(
                        self._build_message(
                            event.stanza, keys, sender_id=sender, app_data=event.app_data
                        )
                    )
                except Exception as exc:  # noqa: BLE001 - handed to _handle as the result
                    results.append(exc)
            return results

    def _unexpected(
        self, session: DeviceSession, app: App, stanza: DataMessageStanza, exc: Exception
    ) -> None:
        pid = stanza.persistent_id or "?"
        log.error("message %s for app %s could not be handled", pid, app.key, exc_info=exc)
        session.stats.handler_errors += 1
        error = PullkinError(
            f"message {pid} for app {app.key} could not be handled "
            f"({type(exc).__name__}: {exc}); it is acknowledged and not retried"
        )
        error.__cause__ = exc
        self.report(error, stanza)

    async def _handle(
        self,
        session: DeviceSession,
        app: App,
        stanza: DataMessageStanza,
        message: Message | Exception,
        routes: list[Route] | None = None,
    ) -> None:
        pid = stanza.persistent_id or "?"
        if isinstance(message, DecryptionError):
            session.stats.undecryptable += 1
            log.warning("cannot decrypt message %s for app %s: %s", pid, app.key, message)
            self.report(message, stanza)
            return
        if isinstance(message, Exception):
            self._unexpected(session, app, stanza, message)
            return
        for route in self._routes(message, stanza) if routes is None else routes:
            await self._call(session, route, message, stanza)
        self._dispatched(session, app, message)

    def _dispatched(self, session: DeviceSession, app: App, message: Message) -> None:
        session.stats.dispatched += 1
        if self._listeners:
            self._copy_to_listeners(app, message)

    def _copy_to_listeners(self, app: App, message: Message) -> None:
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

    def report(self, error: Exception, stanza: DataMessageStanza | None) -> None:
        """Hand *error* to every ``on_error`` handler (an async one runs as a task)."""
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
        # An async hook fails after report returned: log it now, not when (or if) the
        # garbage collector finds the task's unretrieved exception.
        self._background.discard(task)
        if not task.cancelled() and (problem := task.exception()) is not None:
            log.error("on_error handler %r failed", handler, exc_info=problem)


class DeviceHooks:
    """The client's side of one DeviceSession (see ``receiver.SessionHooks``)."""

    def __init__(
        self,
        android_id: int,
        apps: AppTable,
        handling: Handling,
        commits: GroupCommit,
        sessions: SessionPool,
        reauthenticate: Callable[[int, LoginError], Awaitable[Device]],
    ) -> None:
        self.android_id = android_id
        self._apps = apps
        self._handling = handling
        self._commits = commits
        self._sessions = sessions
        self._reauthenticate = reauthenticate

    def apps(self) -> list[App]:
        """This device's apps (asked for every message: a dictionary lookup)."""
        return self._apps.of_device(self.android_id)

    def route(self, stanza: DataMessageStanza, app_data: Mapping[str, str]) -> App | None:
        """The app a message is for, or None when no app claims it (even with a single
        app): a web registration by the ``subtype`` it was registered with (in
        *app_data*, the stanza's), an Android-app one (or one without an app id) by
        ``category`` (mcs.md §8)."""
        subtype = app_data.get("subtype")
        if subtype is not None and len(app_data) != len(stanza.app_data):
            # A repeated key (the mapping keeps the last of each): the first
            # ``subtype`` routes, as it always has.
            subtype = next(item.value for item in stanza.app_data if item.key == "subtype")
        category = stanza.category
        for app in self.apps():
            gcm = app.credentials.gcm
            by_subtype = subtype and gcm.app_id and app.credentials.keys is not None
            if gcm.app_id == subtype if by_subtype else gcm.app_name == category:
                return app
        return None

    def deliver(self, session: DeviceSession, app: Any, messages: list[ev.DataMessage]) -> None:
        if self._handling.concurrency == 1:
            app.queue.put_nowait((session, messages))  # one worker: keep the batch whole
        else:
            for message in messages:
                app.queue.put_nowait((session, [message]))

    def ledgers(self) -> list[IdLedger[Any]]:
        return [app.ledger for app in self.apps()]

    def handled(self) -> None:
        self._commits.soon()

    async def reauthenticate(self, error: LoginError) -> Device:
        device = await self._reauthenticate(self.android_id, error)
        self._sessions.move(self.android_id, device.android_id)
        self.android_id = device.android_id
        return device

    def report(self, error: Exception, stanza: DataMessageStanza | None) -> None:
        self._handling.report(error, stanza)
