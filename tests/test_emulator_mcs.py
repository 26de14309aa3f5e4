"""The emulated MCS server driven by the bare codec over real TLS sockets."""

from __future__ import annotations

import asyncio

import pytest
from _mcs_raw import RawMcsClient

from pullkin.emulator import Emulator, mcs_server
from pullkin.emulator.mailbox import Mailboxes, Pending
from pullkin.emulator.state import Device
from pullkin.mcs import events as ev
from pullkin.proto.mcs_pb2 import DataMessageStanza

pytestmark = pytest.mark.anyio

AID, TOKEN = 4242424242, 98765432109876543


def stanza(text: str = "hi") -> DataMessageStanza:
    message = DataMessageStanza(**{"from": "424242424242"}, category="org.chromium.linux")
    message.app_data.add(key="text", value=text)
    return message


@pytest.fixture
async def emu() -> Emulator:  # type: ignore[misc]
    async with Emulator() as emulator:
        emulator.state.devices[AID] = Device(AID, TOKEN)
        yield emulator


async def connect(emu: Emulator, persistent_ids: tuple[str, ...] = ()) -> RawMcsClient:
    client = await RawMcsClient.connect(emu.endpoints)
    response = await client.login(AID, TOKEN, persistent_ids)
    assert response.ok
    [iq] = await client.read(1)
    assert iq == ev.SelectiveAck(())  # as observed from the real server (mcs.md §10)
    return client


async def test_login_answers_with_jid_and_timestamp(emu: Emulator) -> None:
    client = await RawMcsClient.connect(emu.endpoints)
    response = await client.login(AID, TOKEN)
    assert response.ok
    assert response.jid == f"{AID}@mcs.android.com/{AID}"
    assert response.server_timestamp_ms
    assert emu.mcs.connected(AID)
    await client.close()


async def test_unknown_device_or_wrong_token_is_refused_and_closed(emu: Emulator) -> None:
    for aid, token in ((AID, TOKEN + 1), (AID + 1, TOKEN)):
        client = await RawMcsClient.connect(emu.endpoints)
        response = await client.login(aid, token)
        assert not response.ok
        assert response.error_code
        assert await client.read(1) == [ev.ConnectionClosed()]
        await client.close()


async def test_message_sent_while_offline_is_delivered_after_login(emu: Emulator) -> None:
    pid = emu.mailboxes.enqueue(AID, stanza("stored"), ttl=60)
    client = await connect(emu)
    [message] = await client.data_messages(1)
    assert message.stanza.persistent_id == pid
    assert message.stanza.app_data[0].value == "stored"
    await client.close()


async def test_live_message_is_pushed_without_polling(emu: Emulator) -> None:
    client = await connect(emu)
    pid = emu.mailboxes.enqueue(AID, stanza("live"), ttl=None)
    [message] = await client.data_messages(1)
    assert message.stanza.persistent_id == pid
    await client.close()


async def test_stream_ack_confirms_and_unacked_messages_are_redelivered(emu: Emulator) -> None:
    client = await connect(emu)
    first = emu.mailboxes.enqueue(AID, stanza("1"), ttl=None)
    second = emu.mailboxes.enqueue(AID, stanza("2"), ttl=None)
    one, _two = await client.data_messages(2)
    await client.ack_all([one])  # the second is still being handled
    [server_ack] = await client.read(1)
    assert server_ack == ev.StreamAck()
    assert client.conn.take_confirmed() == [first]
    assert [p.persistent_id for p in emu.mailboxes.pending(AID)] == [second]
    await client.close()
    again = await connect(emu)
    [redelivered] = await again.data_messages(1)
    assert redelivered.stanza.persistent_id == second
    await again.close()


async def test_received_persistent_ids_at_login_are_not_redelivered(emu: Emulator) -> None:
    pids = [emu.mailboxes.enqueue(AID, stanza(str(n)), ttl=None) for n in range(3)]
    client = await connect(emu, persistent_ids=(pids[0], pids[2]))
    [message] = await client.data_messages(1)
    assert message.stanza.persistent_id == pids[1]
    assert emu.mailboxes.confirmed >= {pids[0], pids[2]}
    await client.close()


async def test_selective_ack_confirms_named_ids(emu: Emulator) -> None:
    client = await connect(emu)
    pid = emu.mailboxes.enqueue(AID, stanza(), ttl=None)
    await client.data_messages(1)
    await client.send(ev.SelectiveAck((pid,)))
    await client.send(ev.HeartbeatPing())
    assert await client.read(1) == [ev.HeartbeatAck()]
    assert emu.mailboxes.pending(AID) == []
    await client.close()


async def test_ttl_zero_is_dropped_when_offline_and_ttl_expires() -> None:
    now = [1000.0]
    boxes = Mailboxes(clock=lambda: now[0])
    boxes.enqueue(AID, stanza(), ttl=0)
    kept = boxes.enqueue(AID, stanza(), ttl=10)
    forever = boxes.enqueue(AID, stanza(), ttl=None)
    assert [p.persistent_id for p in boxes.pending(AID)] == [kept, forever]
    now[0] += 11
    assert [p.persistent_id for p in boxes.pending(AID)] == [forever]
    assert kept in boxes.expired


async def test_heartbeats_are_answered_unless_the_fault_plan_says_otherwise(
    emu: Emulator,
) -> None:
    client = await connect(emu)
    await client.send(ev.HeartbeatPing())
    assert await client.read(1) == [ev.HeartbeatAck()]
    await client.close()
    emu.faults.ignore_heartbeats()
    silent = await connect(emu)
    await silent.send(ev.HeartbeatPing())
    with pytest.raises(asyncio.TimeoutError):
        await silent.read(1, timeout=0.3)
    await silent.close()


async def test_server_pings_when_configured(emu: Emulator) -> None:
    emu.mcs.ping_interval = 0.05
    emu.mcs.heartbeat_interval_ms = 60_000
    client = await RawMcsClient.connect(emu.endpoints)
    response = await client.login(AID, TOKEN)
    assert response.heartbeat_interval_ms == 60_000
    events = await client.read(2)
    assert events[1] == ev.HeartbeatPing()
    await client.close()


async def test_second_login_replaces_the_first_connection(emu: Emulator) -> None:
    first = await connect(emu)
    second = await connect(emu)
    assert await first.read(1) == [ev.ConnectionClosed()]
    pid = emu.mailboxes.enqueue(AID, stanza(), ttl=None)
    [message] = await second.data_messages(1)
    assert message.stanza.persistent_id == pid
    await first.close()
    await second.close()


async def test_fault_close_after_frames(emu: Emulator) -> None:
    emu.faults.close_after_frames(2)
    client = await connect(emu)
    for n in range(3):
        emu.mailboxes.enqueue(AID, stanza(str(n)), ttl=None)
    received = await client.data_messages(3)
    assert len(received) == 2
    assert client.closed
    await client.close()


async def test_fault_close_mid_frame_leaves_a_partial_frame(emu: Emulator) -> None:
    from pullkin.errors import RemoteProtocolError

    emu.faults.close_mid_frame()
    client = await connect(emu)
    emu.mailboxes.enqueue(AID, stanza(), ttl=None)
    with pytest.raises(RemoteProtocolError, match="middle of a frame"):
        await client.read(1)
    await client.close()


async def test_fault_duplicate_delivery_sends_the_same_id_twice(emu: Emulator) -> None:
    emu.faults.duplicate_delivery()
    client = await connect(emu)
    pid = emu.mailboxes.enqueue(AID, stanza(), ttl=None)
    one, two = await client.data_messages(2)
    assert one.stanza.persistent_id == two.stanza.persistent_id == pid
    await client.close()


async def test_fault_close_after_login_and_reject_login(emu: Emulator) -> None:
    emu.faults.close_after_login()
    client = await RawMcsClient.connect(emu.endpoints)
    await client.send(ev.LoginRequest(AID, TOKEN))
    response, _selective_ack, closed = await client.read(3)
    assert isinstance(response, ev.LoginResponse)
    assert response.ok
    assert closed == ev.ConnectionClosed()
    await client.close()
    emu.faults.reject_login()
    refused = await RawMcsClient.connect(emu.endpoints)
    assert not (await refused.login(AID, TOKEN)).ok
    await refused.close()


async def test_restart_drops_connections_and_listens_again(emu: Emulator) -> None:
    client = await connect(emu)
    port = emu.endpoints.mcs_port
    await emu.restart_mcs()
    assert await client.read(1) == [ev.ConnectionClosed()]
    await client.close()
    assert emu.mcs.port == port
    again = await connect(emu)
    await again.close()


async def test_a_failing_direct_write_hands_its_message_to_the_write_loop(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A connection whose direct write fails (e.g. one already closing) must not hold
    # up the other writes of the same turn, and its own message is not lost.
    client = await connect(emu)
    calls: list[str] = []
    original = mcs_server._Session.write_now

    def flaky(self: mcs_server._Session, item: Pending) -> None:
        calls.append(item.persistent_id)
        if len(calls) == 1:
            raise RuntimeError("injected")
        original(self, item)

    monkeypatch.setattr(mcs_server._Session, "write_now", flaky)
    first = emu.mailboxes.enqueue(AID, stanza("a"), ttl=None)
    second = emu.mailboxes.enqueue(AID, stanza("b"), ttl=None)
    messages = await client.data_messages(2)
    assert [m.stanza.persistent_id for m in messages] == [first, second]
    assert calls[0] == first
    await client.close()
