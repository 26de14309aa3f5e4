"""DeviceSession's rare paths against a scripted MCS peer on a virtual clock:
heartbeats both ways, the login timeout, connect failures, Chrome's backoff and its
reset, re-authentication (it works, it fails for now, it fails for good) and stopping.
Each runs the production timings (minutes of backoff, a 30 s login timeout) in
milliseconds of real time."""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from _mcs_peer import (
    DEVICE,
    Accept,
    Close,
    Expect,
    ExpectClosed,
    ExpectReconnect,
    Login,
    PeerConnection,
    Quiet,
    RecordingHooks,
    ScriptedPeer,
    Send,
    SendRaw,
    Wait,
    play,
    running_session,
    until,
)
from _virtual_time import VIRTUAL_TIME

from pullkin._ledger import IdLedger
from pullkin.endpoints import Endpoints
from pullkin.errors import CheckinError, LoginError
from pullkin.mcs import events as ev
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import Device, DeviceSession, SessionConfig, SessionState

pytestmark = pytest.mark.anyio

CONFIG = SessionConfig()  # the production timings: the clock is virtual


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    return VIRTUAL_TIME


def stanza(n: int, **fields: object) -> DataMessageStanza:
    message = DataMessageStanza(
        category="org.chromium.linux", persistent_id=f"0:{n:016d}%00000000000000aa", **fields
    )  # type: ignore[arg-type]
    setattr(message, "from", "424242")
    return message


# --- heartbeats --------------------------------------------------------------------------


async def test_a_server_ping_is_answered_with_a_heartbeat_ack() -> None:
    peer = ScriptedPeer()
    async with running_session(peer, config=CONFIG):
        await play(peer, [
            Accept(), Login(),
            Send(ev.HeartbeatPing()), Expect(ev.HeartbeatAck, within=1),
            Send(ev.HeartbeatPing(status=1)), Expect(ev.HeartbeatAck, within=1),
        ])  # fmt: skip
    assert peer.connections[0].conn.stream_id_in == 3  # login + two acks, nothing else


async def test_silence_makes_the_session_ping_and_an_ack_records_the_round_trip() -> None:
    peer = ScriptedPeer()
    async with running_session(peer, config=CONFIG) as session:
        connection = await play(peer, [Accept(), Login(), Quiet(CONFIG.heartbeat_interval - 1)])
        assert connection is not None
        await connection.expect(ev.HeartbeatPing, within=2)
        assert session.stats.heartbeat_rtt is None
        await anyio.sleep(0.25)
        await connection.send(ev.HeartbeatAck())
        await connection.quiet(1)
        assert session.stats.heartbeat_rtt is not None
        assert 0.25 <= session.stats.heartbeat_rtt < 1
        assert session.stats.last_heartbeat_at is not None
        # The link is alive: the next ping comes one interval later, on the same link.
        await connection.quiet(CONFIG.heartbeat_interval - 2)
        await connection.expect(ev.HeartbeatPing, within=2)
    assert len(peer.connects) == 1


async def test_any_packet_answers_a_ping() -> None:
    # Chrome: every received packet counts as the heartbeat's answer.
    peer = ScriptedPeer()
    async with running_session(peer, config=CONFIG) as session:
        await play(peer, [
            Accept(), Login(), Expect(ev.HeartbeatPing, within=CONFIG.heartbeat_interval + 1),
            Wait(1), Send(ev.SelectiveAck(())), Quiet(CONFIG.heartbeat_timeout + 1),
        ])  # fmt: skip
        assert session.state is SessionState.CONNECTED
        assert session.stats.heartbeat_rtt is not None
        assert session.stats.last_heartbeat_at is None  # no HeartbeatAck came
    assert len(peer.connects) == 1


async def test_the_server_given_heartbeat_interval_replaces_the_configured_one() -> None:
    peer = ScriptedPeer()
    async with running_session(peer, config=CONFIG):
        connection = await play(peer, [Accept(), Login({"heartbeat_interval_ms": 5_000})])
        assert connection is not None
        start = anyio.current_time()
        await connection.expect(ev.HeartbeatPing, within=6)
        assert anyio.current_time() - start >= 5
        await connection.send(ev.HeartbeatAck())
        await connection.expect(ev.HeartbeatPing, within=6)


async def test_a_heartbeat_interval_is_chosen_per_login() -> None:
    # A server interval of one connection does not stick to the next one.
    peer = ScriptedPeer()
    async with running_session(peer, config=CONFIG):
        await play(peer, [
            Accept(), Login({"heartbeat_interval_ms": 5_000}), Expect(ev.HeartbeatPing, within=6),
            Close(), ExpectReconnect(after=(0.67, 1.0)), Login(),
            Quiet(CONFIG.heartbeat_interval - 1), Expect(ev.HeartbeatPing, within=2),
        ])  # fmt: skip


async def test_an_unanswered_ping_ends_the_link_and_the_session_reconnects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    peer = ScriptedPeer()
    async with running_session(peer, config=CONFIG) as session:
        connection = await play(peer, [
            Accept(), Login(), Expect(ev.HeartbeatPing, within=CONFIG.heartbeat_interval + 1),
        ])  # fmt: skip
        assert connection is not None
        pinged = anyio.current_time()
        await connection.expect_closed(within=CONFIG.heartbeat_timeout + 1)
        assert anyio.current_time() - pinged >= CONFIG.heartbeat_timeout
        await play(peer, [ExpectReconnect(after=(0.67, 1.0)), Login()])
        assert session.stats.reconnects == 1
    assert "no answer to a heartbeat" in caplog.text


# --- login ---------------------------------------------------------------------------------


async def test_a_login_without_answer_times_out_and_is_tried_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    peer = ScriptedPeer()
    async with running_session(peer, config=CONFIG) as session:
        first = await peer.accept()
        await first.expect(ev.LoginRequest)
        asked = anyio.current_time()
        await first.expect_closed(within=CONFIG.login_timeout + 1)
        assert anyio.current_time() - asked >= CONFIG.login_timeout
        assert session.state is SessionState.BACKING_OFF
        await play(peer, [ExpectReconnect(after=(0.67, 1.0)), Login()])
        await until(lambda: session.state is SessionState.CONNECTED)
    assert "MCS login timed out" in caplog.text


async def test_login_carries_the_unconfirmed_ids_and_the_response_confirms_them() -> None:
    hooks = RecordingHooks()
    hooks.app.ledger = IdLedger(10, handled=["0:1", "0:2"], unconfirmed=["0:1", "0:2"])
    peer = ScriptedPeer()
    async with running_session(peer, hooks, CONFIG):
        request = await (await peer.accept()).login()
        assert request.persistent_ids == ("0:1", "0:2")
        await until(lambda: hooks.app.ledger.unconfirmed() == [])
        assert hooks.app.ledger.handled() == ["0:1", "0:2"]


async def test_a_connection_ending_during_login_is_retried() -> None:
    peer = ScriptedPeer()
    async with running_session(peer, config=CONFIG) as session:
        await play(peer, [
            Accept(), Expect(ev.LoginRequest), Close(),
            ExpectReconnect(after=(0.67, 1.0)), Login(),
        ])  # fmt: skip
        await until(lambda: session.state is SessionState.CONNECTED)
        assert session.stats.logins == 1


# --- connecting and backing off --------------------------------------------------------------


async def test_a_refused_connection_is_retried_with_growing_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    peer = ScriptedPeer()
    peer.refuse_next(3)
    async with running_session(peer, config=CONFIG) as session:
        await play(peer, [Accept(within=10), Login()])
        assert session.stats.reconnects == 3
    gaps = [b - a for a, b in zip(peer.connects, peer.connects[1:], strict=False)]
    for attempt, gap in enumerate(gaps[:3]):
        bound = CONFIG.reconnect_initial * 2**attempt
        assert 0.67 * bound <= gap <= bound
    # Logged once with what failed, then only counted.
    assert caplog.text.count("cannot connect to mtalk: refused") == 1


async def test_backoff_grows_while_the_connection_flaps_and_resets_after_a_stable_session() -> None:
    peer = ScriptedPeer()
    async with running_session(peer, config=CONFIG):
        await play(peer, [
            Accept(), Login(), Close(),
            ExpectReconnect(after=(0.67, 1.0)), Login(), Close(),
            ExpectReconnect(after=(1.34, 2.0)), Login(), Close(),
            ExpectReconnect(after=(2.68, 4.0)), Login(),
            Wait(CONFIG.stable_after + 1),  # a stable session ...
            Close(),
            ExpectReconnect(after=(0.67, 1.0)),  # ... starts the backoff over
            Login(),
        ])  # fmt: skip


async def test_backoff_is_capped() -> None:
    peer = ScriptedPeer()
    config = SessionConfig(reconnect_initial=1, reconnect_max=5)
    peer.refuse_next(6)
    async with running_session(peer, config=config):
        await peer.accept(within=60)
    gaps = [b - a for a, b in zip(peer.connects, peer.connects[1:], strict=False)]
    assert max(gaps) <= 5
    assert gaps[-1] >= 0.67 * 5


# --- re-authentication -------------------------------------------------------------------------


async def test_a_refused_login_reauthenticates_and_logs_in_as_the_new_device() -> None:
    new = Device(android_id=42, security_token=43)
    hooks = RecordingHooks(reauth_answers=[new])
    peer = ScriptedPeer()
    async with running_session(peer, hooks, CONFIG) as session:
        first = await peer.accept()
        await first.login(error_code=401, error_message="bad token")
        await first.expect_closed()
        second = await peer.accept(within=2)
        request = await second.login()
        assert (request.android_id, request.security_token) == (42, 43)
        assert session.device == new
    [error] = hooks.reauths
    assert isinstance(error, LoginError)
    assert error.code == 401
    assert "bad token" in str(error)


async def test_a_transient_reauthentication_failure_is_retried_after_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = CheckinError("check-in answered 503", transient=True, http_status=503)
    hooks = RecordingHooks(reauth_answers=[outage, outage, Device(7, 8)])
    peer = ScriptedPeer()
    async with running_session(peer, hooks, CONFIG) as session:
        await (await peer.accept()).login(error_code=2)
        request = await (await peer.accept(within=10)).login()
        assert request.android_id == 7
        assert session.stats.reconnects == 3  # refused login, then two failed check-ins
    assert len(hooks.reauths) == 3
    assert hooks.reports == []  # a passing outage is no error of the user's
    assert len(peer.connects) == 2  # no connection while the check-in failed
    assert "re-authentication failed, will retry" in caplog.text


async def test_a_permanent_reauthentication_failure_stops_the_session_and_is_reported() -> None:
    dead = CheckinError("check-in refused the device (401): register again", http_status=401)
    hooks = RecordingHooks(reauth_answers=[dead])
    peer = ScriptedPeer()
    session = DeviceSession(
        DEVICE, Endpoints(), hooks, config=CONFIG, connector=peer.connect, rng=random.Random(1)
    )
    async with peer, anyio.create_task_group() as tasks:

        async def peer_side() -> None:
            await (await peer.accept()).login(error_code=401)

        tasks.start_soon(peer_side)
        with pytest.raises(CheckinError, match="register again"), anyio.fail_after(60):
            await session.run()
    assert session.state is SessionState.STOPPED
    assert session.error is dead
    assert hooks.reports == [(dead, None)]
    assert len(peer.connects) == 1


# --- acknowledgements and stopping -----------------------------------------------------------


async def test_handled_messages_are_acknowledged_with_one_stream_ack() -> None:
    hooks = RecordingHooks()
    peer = ScriptedPeer()
    async with running_session(peer, hooks, CONFIG):
        connection = await play(peer, [
            Accept(), Login(),
            Send(ev.DataMessage(stanza(1)), ev.DataMessage(stanza(2))),
            Expect(ev.StreamAck, within=1),
        ])  # fmt: skip
        assert connection is not None
        assert connection.conn.take_confirmed() == [stanza(1).persistent_id,
                                                    stanza(2).persistent_id]  # fmt: skip
        # The server's next packet confirms the ack: the ids leave the login list.
        await connection.send(ev.HeartbeatPing())
        await connection.expect(ev.HeartbeatAck)
        assert hooks.app.ledger.unconfirmed() == []
    assert [m.stanza.persistent_id for m in hooks.delivered] == [
        stanza(1).persistent_id, stanza(2).persistent_id
    ]  # fmt: skip


@asynccontextmanager
async def _backlog(
    config: SessionConfig, messages: int
) -> AsyncIterator[tuple[RecordingHooks, PeerConnection]]:
    """A session with handlers that hold every message, logged in, and *messages*
    data messages sent to it, one chunk each."""
    hooks = RecordingHooks(hold=True)
    peer = ScriptedPeer()
    async with running_session(peer, hooks, config):
        connection = await play(peer, [Accept(), Login()])
        assert connection is not None
        for n in range(messages):
            await connection.send(ev.DataMessage(stanza(n)))
        yield hooks, connection


async def test_reading_pauses_while_read_ahead_messages_are_in_flight() -> None:
    # A backlog waits in the server (and in TCP), not parsed into this process's
    # memory: with read_ahead messages not yet acknowledgeable the session reads no
    # further, and it reads again once half of them are.
    config = dataclasses.replace(CONFIG, read_ahead=4)
    async with _backlog(config, 10) as (hooks, connection):
        await until(lambda: len(hooks.delivered) == 4)
        await anyio.sleep(config.heartbeat_timeout / 4 - 0.5)
        assert len(hooks.delivered) == 4
        hooks.finish()
        await connection.expect(ev.StreamAck, within=1)
        await until(lambda: len(hooks.delivered) == 8)
        hooks.finish()
        await until(lambda: len(hooks.delivered) == 10)
        hooks.finish()
        await connection.expect(ev.StreamAck, within=1)
    assert [m.stanza.persistent_id for m in hooks.delivered] == [
        stanza(n).persistent_id for n in range(10)
    ]


async def test_a_paused_reader_still_reads_a_chunk_per_quarter_heartbeat_timeout() -> None:
    # Handlers stuck on a full read-ahead must not make the link look dead: the session
    # reads on (one chunk at a time) every heartbeat_timeout / 4, so the answer to its
    # own heartbeat, queued behind the backlog, still arrives in time.
    config = dataclasses.replace(CONFIG, read_ahead=2)
    async with _backlog(config, 4) as (hooks, connection):
        await until(lambda: len(hooks.delivered) == 2)
        paused_at = anyio.current_time()
        await until(lambda: len(hooks.delivered) == 3, within=config.heartbeat_timeout)
        assert anyio.current_time() - paused_at == pytest.approx(
            config.heartbeat_timeout / 4, abs=0.05
        )
        await until(lambda: len(hooks.delivered) == 4, within=config.heartbeat_timeout)
        hooks.finish()
        await connection.expect(ev.StreamAck, within=1)


async def test_stop_acknowledges_what_finishes_within_the_stop_timeout() -> None:
    hooks = RecordingHooks(hold=True)
    peer = ScriptedPeer()
    async with running_session(peer, hooks, CONFIG) as session:
        connection = await play(peer, [Accept(), Login(), Send(ev.DataMessage(stanza(1)))])
        assert connection is not None
        await connection.quiet(1)  # held by its handler: not acknowledged
        session.stop()
        await anyio.sleep(1)
        hooks.finish()
        await connection.expect(ev.StreamAck, within=1)
        await connection.expect_closed(within=1)


async def test_stop_gives_up_on_a_handler_that_never_finishes_after_the_stop_timeout() -> None:
    hooks = RecordingHooks(hold=True)
    peer = ScriptedPeer()
    async with running_session(peer, hooks, CONFIG) as session:
        connection = await play(peer, [Accept(), Login(), Send(ev.DataMessage(stanza(1)))])
        assert connection is not None
        await connection.quiet(1)
        stopped_at = anyio.current_time()
        session.stop()
        event = await connection.next_event(within=CONFIG.stop_timeout + 1)
        assert event == ev.ConnectionClosed()  # no ack: the message comes back next time
        assert anyio.current_time() - stopped_at >= CONFIG.stop_timeout
        assert len(hooks.delivered) == 1


async def test_stop_while_backing_off_ends_the_wait_at_once() -> None:
    peer = ScriptedPeer()
    config = SessionConfig(reconnect_initial=300, reconnect_max=600)
    peer.refuse_next(1)
    session = DeviceSession(DEVICE, Endpoints(), RecordingHooks(), config=config,
                            connector=peer.connect)  # fmt: skip
    async with peer, anyio.create_task_group() as tasks:
        tasks.start_soon(session.run)
        await until(lambda: session.state is SessionState.BACKING_OFF, within=1)
        start = anyio.current_time()
        session.stop()
    assert anyio.current_time() - start < 1
    assert session.state is SessionState.STOPPED
    assert len(peer.connects) == 1


# --- a whole conversation as one script --------------------------------------------------------


async def test_the_scripted_conversation_of_a_typical_day(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pullkin.receiver")
    peer = ScriptedPeer()
    async with running_session(peer, RecordingHooks(), CONFIG):
        await play(peer, [
            Accept(),
            Login(check=lambda request: request.android_id == DEVICE.android_id),
            Send(ev.SelectiveAck(())),  # what Google sends after a login
            Send(ev.DataMessage(stanza(1, immediate_ack=True))),
            Expect(ev.StreamAck, within=1),
            Send(ev.HeartbeatPing()),
            Expect(ev.HeartbeatAck, within=1),
            Send(ev.StreamError("overload", "later"), ev.Iq(type=0, id="q")),
            Quiet(CONFIG.heartbeat_interval - 1),
            Expect(ev.HeartbeatPing, within=2),
            Send(ev.HeartbeatAck()),
            Send(ev.Close()),
            ExpectClosed(within=1),
            ExpectReconnect(after=(0.67, 1.0)),
            Login(),
        ])  # fmt: skip
    assert "MCS stream error from the server: overload later" in caplog.text
    assert caplog.text.count("MCS connected") == 2


# --- more rare paths ---------------------------------------------------------------------------


async def test_wait_connected_returns_once_logged_in_and_at_once_after() -> None:
    peer = ScriptedPeer()
    async with running_session(peer, config=CONFIG) as session:
        connected_at: list[float] = []

        async def waiter() -> None:
            await session.wait_connected()
            connected_at.append(anyio.current_time())

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(waiter)
            connection = await peer.accept()
            await anyio.sleep(1)
            assert connected_at == []  # connected, not logged in: still waiting
            await connection.login()
        assert len(connected_at) == 1
        with anyio.fail_after(0.001):
            await session.wait_connected()


class BuggyHooks(RecordingHooks):
    """A client whose routing raises once: a bug, not a network failure."""

    def __init__(self) -> None:
        super().__init__()
        self.bugs = 1

    def route(self, stanza: DataMessageStanza, app_data: Mapping[str, str]) -> Any:
        if self.bugs:
            self.bugs -= 1
            raise RuntimeError("bug in the client")
        return super().route(stanza, app_data)


async def test_a_bug_in_the_client_costs_a_reconnect_with_its_traceback_not_the_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hooks = BuggyHooks()
    peer = ScriptedPeer()
    async with running_session(peer, hooks, CONFIG):
        await play(peer, [
            Accept(), Login(), Send(ev.DataMessage(stanza(1))), ExpectClosed(within=1),
            ExpectReconnect(after=(0.67, 1.0)), Login(),
            Send(ev.DataMessage(stanza(1))),  # the server sends it again
            Expect(ev.StreamAck, within=1),
        ])  # fmt: skip
    [record] = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert "bug in the client" in record.getMessage()
    assert record.exc_info is not None  # a bug gets its traceback
    assert [m.stanza.persistent_id for m in hooks.delivered] == [stanza(1).persistent_id]


async def test_a_frame_of_an_unhandled_kind_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pullkin.receiver")
    peer = ScriptedPeer()
    async with running_session(peer, config=CONFIG):
        await play(peer, [
            Accept(), Login(), SendRaw(bytes.fromhex("0f03616263")),  # TalkMetadata
            Send(ev.HeartbeatPing()), Expect(ev.HeartbeatAck, within=1),
        ])  # fmt: skip
    assert "ignoring MCS frame with tag 15" in caplog.text
    assert len(peer.connects) == 1


async def test_a_message_without_persistent_id_is_acknowledged_once_handled() -> None:
    hooks = RecordingHooks(hold=True)
    peer = ScriptedPeer()
    anonymous = stanza(1)
    anonymous.ClearField("persistent_id")
    async with running_session(peer, hooks, CONFIG):
        connection = await play(peer, [Accept(), Login(), Send(ev.DataMessage(anonymous))])
        assert connection is not None
        await connection.quiet(5)  # in its handler: not acknowledged
        hooks.finish()
        await connection.expect(ev.StreamAck, within=1)
    assert len(hooks.delivered) == 1
    assert hooks.app.ledger.handled() == []  # no id: nothing to remember


def idle(**app_data: str) -> DataMessageStanza:
    message = DataMessageStanza(category="com.google.android.gsf.gtalkservice")
    setattr(message, "from", "google.com")
    for key, value in app_data.items():
        message.app_data.add(key=key, value=value)
    return message


async def test_an_idle_notification_is_answered_like_chrome_and_never_delivered() -> None:
    hooks = RecordingHooks()
    peer = ScriptedPeer()
    async with running_session(peer, hooks, CONFIG):
        connection = await play(peer, [
            Accept(), Login(), Send(ev.DataMessage(idle(IdleNotification="true"))),
        ])  # fmt: skip
        assert connection is not None
        reply = await connection.expect(ev.DataMessage, within=1)
        assert reply.stanza.category == "com.google.android.gsf.gtalkservice"
        assert getattr(reply.stanza, "from") == "gcm@android.com"
        assert [(i.key, i.value) for i in reply.stanza.app_data] == [("IdleNotification", "false")]
        assert reply.stanza.ttl == 0
        assert reply.stanza.sent > 0
        # Another message for the MCS client itself: neither answered nor delivered.
        await connection.send(ev.DataMessage(idle(other="x")))
        await connection.quiet(5)
    assert hooks.delivered == []


async def test_a_failed_write_ends_the_link_and_the_session_reconnects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hooks = RecordingHooks(hold=True)
    peer = ScriptedPeer()
    async with running_session(peer, hooks, CONFIG) as session:
        connection = await play(peer, [Accept(), Login(), Send(ev.DataMessage(stanza(1)))])
        assert connection is not None
        await connection.quiet(1)
        await connection.stop_reading()  # the peer is gone for writes (a reset)
        hooks.finish()  # the acknowledgement's write fails
        await play(peer, [ExpectReconnect(after=(0.67, 1.0)), Login()])
        assert session.stats.reconnects == 1
    lost = [r.getMessage() for r in caplog.records if "MCS connection lost" in r.getMessage()]
    assert lost == ["MCS connection lost: WriteError: write failed: the other end is closed"]


# A DataMessageStanza{from "x", category "c", app_data [{k: <ff>}]}: not UTF-8.
NOT_UTF8 = bytes.fromhex("1a01782a01633a060a016b1201ff")


def frame(body: bytes) -> bytes:
    return bytes((8, len(body))) + body


async def test_a_message_that_cannot_be_delivered_is_reported_once_and_acknowledged() -> None:
    hooks = RecordingHooks()
    peer = ScriptedPeer()
    pid = b"\x4a\x04" + b"0:77"  # persistent_id "0:77"
    async with running_session(peer, hooks, CONFIG) as session:
        connection = await play(peer, [Accept(), Login()])
        assert connection is not None
        # Two copies in one chunk: the second waits for the first to be durable.
        await connection.send_raw(frame(NOT_UTF8 + pid) * 2)
        await connection.expect(ev.StreamAck, within=1)
        assert connection.conn.stream_id_in == 2  # login + the StreamAck
        assert session.stats.duplicates == 1
        # A copy of a durable id is acknowledged at once; one without an id is reported.
        await connection.send_raw(frame(NOT_UTF8 + pid) + frame(NOT_UTF8))
        await connection.expect(ev.StreamAck, within=1)
    assert session.stats.invalid == 2
    assert [str(error)[:20] for error, _ in hooks.reports] == [
        "message 0:77 cannot ", "message ? cannot be ",
    ]  # fmt: skip
    assert all("not valid UTF-8" in str(error) for error, _ in hooks.reports)
    assert hooks.delivered == []


@pytest.mark.parametrize(
    "after",
    [ev.Close(), bytes.fromhex("1000")],  # the server's Close, or a frame that kills the link
    ids=["close", "bad frame"],
)
async def test_messages_in_the_chunk_that_ends_the_link_are_still_handled(
    after: ev.Event | bytes,
) -> None:
    hooks = RecordingHooks()
    peer = ScriptedPeer()
    async with running_session(peer, hooks, CONFIG):
        connection = await play(peer, [Accept(), Login()])
        assert connection is not None
        wire = connection.conn.send(ev.DataMessage(stanza(1)))
        wire += after if isinstance(after, bytes) else connection.conn.send(after)
        await connection.send_raw(wire)  # one chunk: the message, then the end
        await connection.expect_closed(within=1)
        # Not acknowledged on that link: the server sends it again on the next one.
        second = await peer.accept(within=2)
        await second.login()
        await second.send(ev.DataMessage(stanza(1)))
        await second.expect(ev.StreamAck, within=1)
    assert [m.stanza.persistent_id for m in hooks.delivered] == [stanza(1).persistent_id]
