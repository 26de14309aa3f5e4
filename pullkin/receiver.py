"""One device's MCS session: login, heartbeats, acknowledgements, reconnects.

Theory of operation.  ``DeviceSession.run()`` loops: open TLS (``mcs.transport``),
log in with the persistent ids the server has not confirmed, then run three tasks
over one connection — the reader (read a whole chunk, drain every event the codec
has, answer pings, hand data messages to the client), the heartbeat (ping after
``heartbeat_interval`` of silence; no packet within ``heartbeat_timeout`` of the
ping means a half-open link: reconnect) and the acker (when messages become durable:
one StreamAck per batch).  Any failure ends the
connection; the loop backs off (Chrome's policy: ×2, up to 33 % jitter, reset once a
session outlives the 10 s flapping window) and connects again — forever, until
``stop()`` or a permanent credential error.  Every timer and every measurement uses
the event loop's clock (``anyio.current_time()``), so they agree with each other and a
test can run the session on a virtual clock.  A refused login triggers
``hooks.reauthenticate`` (re-check-in, re-register) before the next attempt.

Delivery (the state machine: ``_ledger``): each copy of a data message (its link and
stream index) goes to its app's ledger — dispatched if new, parked while its id is in
progress, acknowledged at once if durable.  Parked copies are acknowledged (the
copy's link may pass it) once the client's group commit made the id durable; a dead
link's copies never are: the server redelivers them, or the next login lists them.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import anyio

from pullkin._backoff import ChromeBackoff
from pullkin._ledger import Verdict
from pullkin._login import log_in
from pullkin._session_types import (
    AppRoute,
    Device,
    SessionConfig,
    SessionHooks,
    SessionState,
    SessionStats,
    _ConnectionLost,
    _ErrorLog,
    _LoginTimeout,
)
from pullkin.endpoints import Endpoints
from pullkin.errors import (
    LoginError,
    ProtocolError,
    PullkinError,
    RemoteProtocolError,
    TransportError,
)
from pullkin.mcs import events as ev
from pullkin.mcs.codec import McsConnection, Role, State
from pullkin.mcs.transport import Stream, open_stream
from pullkin.payload import IDLE_CATEGORY, app_data_of
from pullkin.proto.mcs_pb2 import DataMessageStanza

__all__ = ["Device", "DeviceSession", "SessionConfig", "SessionState", "SessionStats"]

log = logging.getLogger(__name__)

Connector = Callable[[Endpoints], Awaitable[Stream]]


class _Link:
    """One connection: the stream, its codec, and a write lock keeping encode order."""

    def __init__(self, stream: Stream, wake_acker: Callable[[], None]) -> None:
        self.stream = stream
        self.conn = McsConnection(Role.CLIENT)
        self.lock = anyio.Lock()
        self.in_flight = 0  # data messages received and not acknowledgeable yet
        self.resume: anyio.Event | None = None  # set when in_flight is down to resume_at
        self.resume_at = 0
        self.abandoned = False  # a copy will never be acknowledged: reconnect
        self.wake_acker = wake_acker
        # copies of messages without a persistent id, by message identity
        self.unkeyed: dict[int, _Copy] = {}
        self.batches: dict[str, tuple[AppRoute, list[ev.DataMessage]]] = {}
        self.failure: Exception | None = None

    async def write(self, events: Sequence[ev.Event]) -> None:
        async with self.lock:
            if self.conn.state is not State.OPEN and not isinstance(events[0], ev.LoginRequest):
                raise _ConnectionLost(f"connection is {self.conn.state.value}")
            await self.stream.send(b"".join(self.conn.send(event) for event in events))


class _Copy:
    """One copy of a data message: where it arrived.  Acknowledged once its id is
    durable (or at once, for a copy of a durable id)."""

    __slots__ = ("index", "link")

    def __init__(self, link: _Link, index: int) -> None:
        self.link = link
        self.index = index

    def acknowledge(self) -> None:
        link = self.link
        link.conn.message_done(self.index)  # a dead link's codec just forgets it
        link.in_flight -= 1
        if link.resume is not None and link.in_flight <= link.resume_at:
            link.resume.set()
        link.wake_acker()

    def abandon(self) -> None:
        """Its handlers were stopped before they finished: it will never be
        acknowledged, and holds back every later acknowledgement of its link — so the
        link is replaced, and the server delivers it again on the next one."""
        self.link.abandoned = True
        self.link.wake_acker()


class DeviceSession:
    """The receiving end of one check-in (android_id); several apps may share it."""

    def __init__(
        self,
        device: Device,
        endpoints: Endpoints,
        hooks: SessionHooks,
        *,
        config: SessionConfig | None = None,
        connector: Connector | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.device = device
        self.endpoints = endpoints
        self.config = config or SessionConfig()
        self.hooks = hooks
        self.state = SessionState.STOPPED
        self.stats = SessionStats()
        self.error: Exception | None = None
        self._connector = connector or self._open
        self._backoff = ChromeBackoff(
            self.config.reconnect_initial, self.config.reconnect_max, rng or random.Random()
        )
        self._errors = _ErrorLog()
        self._link: _Link | None = None
        self._stop = anyio.Event()
        self._done = anyio.Event()
        self._activity = anyio.Event()
        self._last_activity = 0.0
        self._needs_reauth = False
        self._connected = anyio.Event()

    def __repr__(self) -> str:
        return f"<DeviceSession android_id={self.device.android_id} {self.state.value}>"

    async def _open(self, endpoints: Endpoints) -> Stream:
        return await open_stream(endpoints, connect_timeout=self.config.connect_timeout)

    # --- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        """Receive until ``stop()`` or a permanent credential error (then re-raised)."""
        try:
            while not self._stop.is_set():
                await self._attempt()
                if self._stop.is_set():
                    break
                self.state = SessionState.BACKING_OFF
                delay = self._backoff.next_delay()
                log.info("reconnecting in %.1f s", delay)
                with anyio.move_on_after(delay):
                    await self._stop.wait()
                self.stats.reconnects += 1
        finally:
            self.state = SessionState.STOPPED

    async def wait_connected(self) -> None:
        """Return once the session is logged in (at once if it is)."""
        while self.state is not SessionState.CONNECTED:
            await self._connected.wait()

    def stop(self) -> None:
        """Ask the session to end: pending acknowledgements are flushed first."""
        self._stop.set()

    async def _attempt(self) -> None:
        self.state = SessionState.CONNECTING
        try:
            if self._needs_reauth:
                self.device = await self.hooks.reauthenticate(self._last_login_error)
                self._needs_reauth = False
            stream = await self._connector(self.endpoints)
        except TransportError as exc:
            self._errors("cannot connect to MCS", exc)
            return
        except PullkinError as exc:
            if getattr(exc, "transient", False) or getattr(exc, "untrusted_certificate", False):
                self._errors("re-authentication failed, will retry", exc)
                return
            self.error = exc
            self.hooks.report(exc, None)
            self._stop.set()
            raise
        await self._session(_Link(stream, self._wake_acker))

    async def _session(self, link: _Link) -> None:
        logged_in_at: float | None = None
        try:
            await self._login(link)
            logged_in_at = anyio.current_time()
            await self._serve(link)
        except LoginError as exc:
            self._last_login_error = exc
            self._needs_reauth = True
            self._errors("MCS login refused; will check in and register again", exc)
        except _LoginTimeout as exc:
            self._errors("MCS login timed out", exc)
        except (TransportError, ProtocolError, _ConnectionLost) as exc:
            if not self._stop.is_set():
                self._errors("MCS connection lost", exc)
        except Exception as exc:  # noqa: BLE001 - never die silently: log, back off, retry
            self._errors("unexpected error in the MCS session", exc)
        finally:
            self._link = None
            if self._connected.is_set():
                self._connected = anyio.Event()
            await link.stream.aclose()
        stable = self.config.stable_after
        if logged_in_at is not None and anyio.current_time() - logged_in_at >= stable:
            self._backoff.reset()
            self._errors.clear()

    # --- login -----------------------------------------------------------------------

    async def _login(self, link: _Link) -> None:
        self._server_heartbeat = None
        ids = tuple(pid for ledger in self.hooks.ledgers() for pid in ledger.unconfirmed())
        timeout, host = self.config.login_timeout, self.endpoints.mcs_host
        event = await log_in(link, self.device, ids, login_timeout=timeout, host=host)
        if event.heartbeat_interval_ms:
            self._server_heartbeat = event.heartbeat_interval_ms / 1000
        self.stats.logins += 1
        self._confirm(link.conn.take_confirmed())
        self._link = link
        self.state = SessionState.CONNECTED
        self._connected.set()
        self._touch()
        log.info("MCS connected (android_id %d)", self.device.android_id)

    # --- the open connection ------------------------------------------------------------

    async def _serve(self, link: _Link) -> None:
        failure: Exception | None = None
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._heartbeats, link)
            tasks.start_soon(self._acks, link)
            tasks.start_soon(self._watch_stop, link)
            try:
                await self._read(link)
            except Exception as exc:  # noqa: BLE001 - re-raised below, outside the group
                failure = exc
            tasks.cancel_scope.cancel()
        if failure is not None:
            raise link.failure or failure

    async def _read(self, link: _Link) -> None:
        conn = link.conn
        while True:
            replies: list[ev.Event] = []
            try:
                while (event := conn.next_event()) is not ev.NEED_DATA:
                    reply = self._on_event(link, event)
                    if reply is not None:
                        replies.append(reply)
            finally:
                # One hand-over per app and chunk, not per message; also when a bad
                # frame ends the connection after good messages of the same chunk.
                batches, link.batches = link.batches, {}
                for app, messages in batches.values():
                    self.hooks.deliver(self, app, messages)
            self._confirm(conn.take_confirmed())
            if replies:
                await link.write(replies)
            if link.in_flight >= self.config.read_ahead:
                await self._catch_up(link)
            data = await link.stream.receive()
            self._touch()
            conn.receive_data(data)

    async def _catch_up(self, link: _Link) -> None:
        """Wait (``SessionConfig.read_ahead``) until half of what is in flight is
        acknowledgeable, or for a quarter of the heartbeat timeout at the most."""
        link.resume, link.resume_at = anyio.Event(), self.config.read_ahead // 2
        with anyio.move_on_after(self.config.heartbeat_timeout / 4):
            await link.resume.wait()
        link.resume = None

    def _on_event(self, link: _Link, event: ev.Event | ev.NeedData) -> ev.Event | None:
        if isinstance(event, ev.DataMessage):
            return self._on_data(link, event)
        if isinstance(event, ev.InvalidDataMessage):
            self._on_invalid(link, event)
        if isinstance(event, ev.HeartbeatPing):
            return ev.HeartbeatAck()
        if isinstance(event, ev.HeartbeatAck):
            self.stats.last_heartbeat_at = time.time()
        elif isinstance(event, ev.Close):
            raise _ConnectionLost("the server sent Close")
        elif isinstance(event, ev.ConnectionClosed):
            raise _ConnectionLost("the server closed the connection")
        elif isinstance(event, ev.StreamError):
            log.warning("MCS stream error from the server: %s %s", event.type, event.text)
        elif isinstance(event, ev.UnhandledFrame):
            log.debug("ignoring MCS frame with tag %d", event.tag)
        return None

    def _on_data(self, link: _Link, message: ev.DataMessage) -> ev.Event | None:
        stanza = message.stanza
        if stanza.category == IDLE_CATEGORY:
            link.conn.message_done(message.stream_index)
            return _idle_reply(message.app_data)
        self.stats.received += 1
        app = self.hooks.route(stanza, message.app_data)
        pid = stanza.persistent_id
        copy = _Copy(link, message.stream_index)
        link.in_flight += 1
        if app is None:
            subtype = next((i.value for i in stanza.app_data if i.key == "subtype"), "")
            self._reject(copy, pid, None, PullkinError(
                f"message {pid or '?'} is for no registered app (subtype {subtype!r}, "
                f"category {stanza.category!r}); it is acknowledged and dropped"
            ), stanza)  # fmt: skip
            return None
        if not pid:
            link.unkeyed[id(message)] = copy
        else:
            verdict = app.ledger.receive(pid, copy)
            if verdict is not Verdict.DISPATCH:
                self.stats.duplicates += 1
                if verdict is Verdict.ACKNOWLEDGE:
                    copy.acknowledge()
                return None  # WAIT: acknowledged when the original is durable
        batch = link.batches.get(app.key)
        if batch is None:
            link.batches[app.key] = (app, [message])
        else:
            batch[1].append(message)
        return None

    def _on_invalid(self, link: _Link, message: ev.InvalidDataMessage) -> None:
        self.stats.received += 1
        copy = _Copy(link, message.stream_index)
        link.in_flight += 1
        stanza = message.stanza
        pid = stanza.persistent_id
        error = RemoteProtocolError(
            f"message {pid or '?'} cannot be delivered: {message.problem}; "
            "it is acknowledged so the server does not send it again"
        )
        if self._reject(copy, pid, self.hooks.route(stanza, app_data_of(stanza)), error, stanza):
            self.stats.invalid += 1

    def _reject(
        self,
        copy: _Copy,
        pid: str,
        app: AppRoute | None,
        error: PullkinError,
        stanza: DataMessageStanza,
    ) -> bool:
        """Bad input (design §6): reported once, then handled like a message whose
        handlers are done — durable with the next group commit (a redelivery is not
        reported again), then acknowledged; never dispatched.  A message for no app
        is kept in the device's first app's ledger.  Returns whether it was reported."""
        ledgers = [app.ledger] if app is not None else list(self.hooks.ledgers())
        if not pid or not ledgers:
            self.hooks.report(error, stanza)
            copy.acknowledge()  # no id to make durable
            return True
        ledger = ledgers[0]
        verdict = ledger.receive(pid, copy)
        if verdict is not Verdict.DISPATCH:
            self.stats.duplicates += 1
            if verdict is Verdict.ACKNOWLEDGE:
                copy.acknowledge()
            return False  # WAIT: acknowledged when the first copy is durable
        self.hooks.report(error, stanza)
        ledger.finish(pid)
        self.hooks.handled()
        return True

    def message_done(self, app: AppRoute, message: ev.DataMessage) -> None:
        """Handlers of *message* returned (or failed): it becomes durable with the
        next group commit, and then it is acknowledged."""
        pid = message.stanza.persistent_id
        if pid:
            app.ledger.finish(pid)
            self.hooks.handled()
            return
        # No id to make durable (nothing to de-duplicate by): acknowledge on its link.
        link = self._link
        copy = link.unkeyed.pop(id(message), None) if link is not None else None
        if copy is not None:
            copy.acknowledge()

    def _wake_acker(self) -> None:
        self._done.set()

    def _confirm(self, persistent_ids: list[str]) -> None:
        if persistent_ids:
            for ledger in self.hooks.ledgers():
                ledger.confirm(persistent_ids)

    def _touch(self) -> None:
        self._last_activity = anyio.current_time()
        self._activity.set()

    # --- background tasks -----------------------------------------------------------------

    _server_heartbeat: float | None = None
    _last_login_error: LoginError = LoginError("login refused")

    async def _heartbeats(self, link: _Link) -> None:
        interval = self._server_heartbeat or self.config.heartbeat_interval
        try:
            while True:
                idle = anyio.current_time() - self._last_activity
                if idle < interval:
                    await anyio.sleep(interval - idle)
                    continue
                sent_at = anyio.current_time()
                self._activity = anyio.Event()
                await link.write([ev.HeartbeatPing()])
                with anyio.move_on_after(self.config.heartbeat_timeout):
                    await self._activity.wait()
                if self._last_activity < sent_at:
                    raise _ConnectionLost(
                        f"no answer to a heartbeat within {self.config.heartbeat_timeout:g} s"
                    )
                self.stats.heartbeat_rtt = self._last_activity - sent_at
        except Exception as exc:  # noqa: BLE001 - handed to the reader, never lost
            await self._fail(link, exc)

    async def _acks(self, link: _Link) -> None:
        try:
            while True:
                await self._done.wait()
                self._done = anyio.Event()
                if link.abandoned:
                    raise _ConnectionLost("messages in progress were abandoned; reconnecting")
                await self._flush_acks(link)
        except Exception as exc:  # noqa: BLE001 - handed to the reader, never lost
            await self._fail(link, exc)

    async def _flush_acks(self, link: _Link) -> None:
        """One StreamAck when Chrome's rule wants one, or when nothing is in flight."""
        conn = link.conn
        if conn.ack_due or (conn.has_unacked and link.in_flight <= 0):
            await link.write([ev.StreamAck()])

    async def _watch_stop(self, link: _Link) -> None:
        await self._stop.wait()
        try:
            with anyio.move_on_after(self.config.stop_timeout):
                while link.in_flight > 0:  # the handlers finish, the commit acknowledges
                    await self._done.wait()
                await self._flush_acks(link)
        except Exception as exc:  # noqa: BLE001 - stopping anyway; logged by the reader
            await self._fail(link, exc)
        await self._fail(link, _ConnectionLost("stopped"))

    async def _fail(self, link: _Link, exc: Exception) -> None:
        """End the connection from a background task: the reader then fails too."""
        if link.failure is None:
            link.failure = exc
        await link.stream.aclose()


def _idle_reply(app_data: Mapping[str, str]) -> ev.Event | None:
    # mcs.md §8: answer an IdleNotification, never deliver it.
    if "IdleNotification" not in app_data:
        return None
    reply = DataMessageStanza(category=IDLE_CATEGORY, sent=int(time.time()), ttl=0)
    setattr(reply, "from", "gcm@android.com")  # "from" is a Python keyword
    reply.app_data.add(key="IdleNotification", value="false")
    return ev.DataMessage(reply)
