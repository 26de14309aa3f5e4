"""The emulated MCS server: TLS, ``McsConnection`` in the SERVER role, mailboxes.

Theory of operation (mcs.md §12).  A connection must open with version 41 and a
LoginRequest whose user/auth_token belong to a checked-in device; otherwise it gets a
LoginResponse with an error and is closed.  After a good login the server drops from
the device's mailbox every id the client lists in ``received_persistent_id``, then
writes every pending message (unconfirmed ones again: that is redelivery) and from then
on each new one as it arrives — woken by the mailbox, never polling.  A message leaves
the mailbox when the client confirms it: a ``last_stream_id_received`` covering it, a
SelectiveAck naming it, or the next login's ``received_persistent_id``.  Client pings
are answered; the server can ping too (``ping_interval``).  Fault plans from
``emu.faults`` make it close, stall, duplicate or garble on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from typing import TYPE_CHECKING

from pullkin.emulator.mailbox import Pending
from pullkin.errors import ProtocolError
from pullkin.mcs import events as ev
from pullkin.mcs.codec import McsConnection, Role, State
from pullkin.proto import mcs_pb2

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = ["McsServer"]

log = logging.getLogger(__name__)

_LOGIN_TIMEOUT = 30.0  # Chrome's read timeout (mcs.md §2)
_READ_SIZE = 1 << 16
_AUTH_FAILED = 401  # error code of a refused login (the real value is UNCERTAIN)
_ACK_REPLY_DELAY = 0.05
_WRITE_CHUNK = 1 << 16


class _Closing(Exception):
    """Internal: a fault plan or the peer ended the session."""


class McsServer:
    """Listens on one TLS port; one ``_Session`` per connected device."""

    def __init__(self, emu: Emulator, ssl_context: ssl.SSLContext) -> None:
        self._emu = emu
        self._ssl = ssl_context
        self._server: asyncio.base_events.Server | None = None
        self._host = ""
        self.port = 0
        self.sessions: dict[int, _Session] = {}
        self._all: set[_Session] = set()
        self._tasks: set[asyncio.Task[object]] = set()
        #: Server-initiated HeartbeatPing interval (None: only answer the client's).
        self.ping_interval: float | None = None
        #: ``heartbeat_config.interval_ms`` put in LoginResponses (None: omitted).
        self.heartbeat_interval_ms: int | None = None
        self.logins = 0
        #: The last LoginRequest each device logged in with (introspection).
        self.login_requests: dict[int, ev.LoginRequest] = {}
        self._outbox: list[tuple[_Session, Pending]] = []

    def write_soon(self, session: _Session, item: Pending) -> None:
        """Write *item* to *session* at the end of this turn of the event loop, with
        every other delivery made meanwhile: the TLS writes then run back to back,
        which costs less CPU than interleaving each with its HTTP request."""
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append((session, item))

    def _flush(self) -> None:
        outbox, self._outbox = self._outbox, []
        for session, item in outbox:
            try:
                session.write_now(item)
            except Exception as exc:  # noqa: BLE001 - one connection must not hold up the rest
                log.debug("direct MCS write failed (%s); the write loop takes over", exc)
                session.wake()

    async def start(self, host: str, port: int) -> None:
        self._host = host
        self._server = await asyncio.start_server(
            self._accept, host, port, ssl=self._ssl, ssl_handshake_timeout=10
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def restart(self) -> None:
        """Drop every connection and listen again on the same port."""
        await self.aclose()
        await self.start(self._host, self.port)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self._all):
            session.abort()
        if self._tasks:  # let every session finish its cleanup before the loop ends
            await asyncio.wait(self._tasks, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def connected(self, android_id: int) -> bool:
        return android_id in self.sessions

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, self._emu, reader, writer)
        self._all.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            await session.run()
        except (ProtocolError, _Closing, OSError, asyncio.TimeoutError) as exc:
            log.debug("MCS session ended: %s", exc)
        except Exception:  # one connection's bug must not escape into the server
            log.exception("MCS session of android_id %s failed", session.android_id)
        finally:
            self._all.discard(session)
            if session.android_id is not None and self.sessions.get(session.android_id) is session:
                del self.sessions[session.android_id]
            await session.close()


class _Session:
    """One device connection."""

    def __init__(
        self,
        server: McsServer,
        emu: Emulator,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._server = server
        self._emu = emu
        self._reader = reader
        self._writer = writer
        self._conn = McsConnection(Role.SERVER)
        self.android_id: int | None = None
        self._sent: set[str] = set()
        self._frames_left: int | None = None
        self._ignore_pings = False
        self._wake = asyncio.Event()
        self._attached = False
        self._delivering = False
        self._ack_reply: asyncio.TimerHandle | None = None

    def abort(self) -> None:
        """Drop the connection at once (the session's reads then see EOF)."""
        self._writer.transport.abort()

    async def close(self) -> None:
        if self._ack_reply is not None:
            self._ack_reply.cancel()
        if self._attached and self.android_id is not None:
            self._emu.mailboxes.detach(self.android_id, self._on_mail)
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    # --- login ------------------------------------------------------------------

    async def run(self) -> None:
        login = await asyncio.wait_for(self._read_login(), _LOGIN_TIMEOUT)
        faults = self._emu.faults
        if faults.take_mcs("silent_login") is not None:
            while await self._reader.read(_READ_SIZE):  # until the client gives up
                pass
            raise _Closing("fault: login never answered")
        if not self._accept_login(login):
            return
        if faults.take_mcs("close_after_login") is not None:
            raise _Closing("fault: close after login")
        closing = faults.take_mcs("close_after_frames")
        if closing is not None:
            self._frames_left = closing.frames
        self._ignore_pings = faults.take_mcs("ignore_pings") is not None
        await self._garble_if_planned()
        self._attached = True
        if self._emu.mailboxes.attach(login.android_id, self._on_mail):
            self._wake.set()
        pinger = self._start_pinger()
        try:
            await self._serve()
        finally:
            if pinger is not None:
                pinger.cancel()

    async def _read_login(self) -> ev.LoginRequest:
        while True:
            data = await self._reader.read(_READ_SIZE)
            self._conn.receive_data(data)
            event = self._conn.next_event()
            if isinstance(event, ev.LoginRequest):
                return event
            if event is not ev.NEED_DATA:
                raise _Closing(f"connection ended before login ({type(event).__name__})")

    def _accept_login(self, login: ev.LoginRequest) -> bool:
        emu = self._emu
        refused = emu.faults.take_mcs("reject_login") is not None
        if refused or not emu.state.check_device(login.android_id, login.security_token):
            response = ev.LoginResponse(
                id=login.client_id, error_code=_AUTH_FAILED, error_message="Unauthorized device"
            )
            self._writer.write(self._conn.send(response))
            log.info("MCS login refused for android_id %d", login.android_id)
            return False
        previous = self._server.sessions.get(login.android_id)
        if previous is not None:
            previous.abort()  # one connection per device, like the real service
        self.android_id = login.android_id
        self._server.sessions[login.android_id] = self
        self._server.logins += 1
        self._server.login_requests[login.android_id] = login
        emu.mailboxes.confirm(login.android_id, login.persistent_ids)
        jid = f"{login.android_id}@mcs.android.com/{login.android_id}"
        response = ev.LoginResponse(
            id=login.client_id,
            jid=jid,
            server_timestamp_ms=int(time.time() * 1000),
            heartbeat_interval_ms=self._server.heartbeat_interval_ms,
        )
        # Observed real traffic: LoginResponse, then an empty SelectiveAck IQ (mcs.md §10).
        self._writer.write(self._conn.send(response) + self._conn.send(ev.SelectiveAck(())))
        return True

    async def _garble_if_planned(self) -> None:
        faults = self._emu.faults
        if faults.take_mcs("malformed") is not None:
            self._writer.write(b"\x08\x02\x1a\x00")  # DataMessageStanza missing category
            await self._writer.drain()
        if faults.take_mcs("unknown_tag") is not None:
            self._writer.write(b"\x10\x00")
            await self._writer.drain()

    def _start_pinger(self) -> asyncio.Task[None] | None:
        if self._server.ping_interval is None:
            return None
        return asyncio.create_task(self._ping_loop(self._server.ping_interval))

    async def _ping_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self._writer.write(self._conn.send(ev.HeartbeatPing()))

    # --- the open connection ------------------------------------------------------------

    async def _serve(self) -> None:
        """A reader and a writer; whichever ends first (EOF, fault, error) ends both."""
        tasks = {asyncio.create_task(self._read_loop()), asyncio.create_task(self._write_loop())}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _on_mail(self, item: Pending) -> None:
        """A new message for this device.  Written directly (``write_soon``) when
        nothing is queued ahead of it on this connection and no fault plan has a say
        (the common case: no task switch, no mailbox scan); otherwise the write loop
        takes it, in order."""
        transport = self._writer.transport
        if (
            self._wake.is_set()
            or self._delivering
            or self._frames_left is not None
            or not self._emu.faults.deliveries_plain
            or self._full_or_gone(transport)
        ):
            self._wake.set()
            return
        self._server.write_soon(self, item)

    def _full_or_gone(self, transport: asyncio.WriteTransport) -> bool:
        """The socket cannot take a frame now (the write loop then decides)."""
        if transport.is_closing() or self._conn.state is State.CLOSED:
            return True
        try:
            return transport.get_write_buffer_size() >= _WRITE_CHUNK
        except AttributeError:  # Python 3.10: an SSL transport whose socket is gone
            return True

    def wake(self) -> None:
        """Have the write loop go through the mailbox (what is unsent goes out)."""
        self._wake.set()

    def write_now(self, item: Pending) -> None:
        """Write one queued delivery, unless the write loop took over meanwhile (it
        writes every unsent message in order) or the connection is going away (the
        message stays in the mailbox for the next one)."""
        if (
            self._wake.is_set()
            or self._delivering
            or item.persistent_id in self._sent
            or self._writer.transport.is_closing()
        ):
            return
        assert self.android_id is not None
        self._writer.write(self._conn.send(ev.DataMessage(item.stanza)))
        self._sent.add(item.persistent_id)
        self._emu.mailboxes.record_delivery(self.android_id, item.persistent_id)

    async def _write_loop(self) -> None:
        wake = self._wake
        while True:
            await wake.wait()
            wake.clear()
            self._delivering = True
            try:
                await self._deliver()
            finally:
                self._delivering = False

    async def _read_loop(self) -> None:
        while True:
            data = await self._reader.read(_READ_SIZE)
            self._conn.receive_data(data)
            while True:
                event = self._conn.next_event()
                if event is ev.NEED_DATA:
                    break
                self._on_event(event)
            self._confirm()
            if not data:
                return

    def _on_event(self, event: ev.Event | ev.NeedData) -> None:
        if isinstance(event, ev.HeartbeatPing):
            if not self._ignore_pings:
                self._writer.write(self._conn.send(ev.HeartbeatAck()))
        elif isinstance(event, ev.SelectiveAck):
            assert self.android_id is not None
            self._emu.mailboxes.confirm(self.android_id, event.ids)
            self._sent.difference_update(event.ids)
        elif isinstance(event, ev.StreamAck):
            self._confirm()
            self._schedule_ack_reply()
        elif isinstance(event, ev.DataMessage | ev.InvalidDataMessage):
            self._conn.message_done(event.stream_index)  # upstream: accepted at once
        elif isinstance(event, ev.Close | ev.ConnectionClosed):
            raise _Closing(f"client sent {type(event).__name__}")

    def _schedule_ack_reply(self) -> None:
        """Answer the client's StreamAck so it learns its ids are confirmed — unless
        another packet (which carries the same position) goes out meanwhile."""
        if self._ack_reply is not None:
            return
        sent = self._conn.stream_id_out

        def reply() -> None:
            self._ack_reply = None
            if (
                self._conn.stream_id_out == sent
                and self._conn.state is not State.CLOSED  # Python 3.10 may not say closing
                and not self._writer.is_closing()
            ):
                self._writer.write(self._conn.send(ev.StreamAck()))

        self._ack_reply = asyncio.get_running_loop().call_later(_ACK_REPLY_DELAY, reply)

    def _confirm(self) -> None:
        confirmed = self._conn.take_confirmed()
        if confirmed and self.android_id is not None:
            self._emu.mailboxes.confirm(self.android_id, confirmed)
            self._sent.difference_update(confirmed)

    async def _deliver(self) -> None:
        """Write every pending message not yet sent on this connection, batched into
        64 KiB writes (a backlog after a login is a few TLS writes, not one per message)."""
        assert self.android_id is not None
        mailboxes = self._emu.mailboxes
        out = bytearray()
        try:
            for item in mailboxes.pending(self.android_id):
                if item.persistent_id in self._sent:
                    continue
                await self._encode_message(item.stanza, out)
                self._sent.add(item.persistent_id)
                mailboxes.record_delivery(self.android_id, item.persistent_id)
                if len(out) >= _WRITE_CHUNK:  # a long backlog starts flowing at once
                    self._writer.write(bytes(out))
                    out.clear()
                    await self._writer.drain()
        finally:
            if out:  # what was encoded before a fault still goes out, in order
                self._writer.write(bytes(out))
        await self._writer.drain()

    async def _encode_message(self, stanza: mcs_pb2.DataMessageStanza, out: bytearray) -> None:
        faults = self._emu.faults
        delay = faults.take_mcs("delay")
        if delay is not None:
            self._writer.write(bytes(out))
            out.clear()
            await asyncio.sleep(delay.seconds)
        frame = self._conn.send(ev.DataMessage(stanza))
        if faults.should_drop():
            raise _Closing("fault: random drop")
        if faults.take_mcs("close_mid_frame") is not None:
            out += frame[: len(frame) // 2]
            raise _Closing("fault: close mid-frame")
        self._count_frame()
        out += frame
        if faults.take_mcs("duplicate") is not None:
            self._count_frame()
            out += self._conn.send(ev.DataMessage(stanza))

    def _count_frame(self) -> None:
        """``close_after_frames`` counts data frames written after the login."""
        if self._frames_left is None:
            return
        if self._frames_left <= 0:
            raise _Closing("fault: close after frames")
        self._frames_left -= 1
