"""Mailbox semantics: Topic replacement and write-through persistence of the queues."""

from __future__ import annotations

from pathlib import Path

import pytest
from _mcs_raw import RawMcsClient

from pullkin.emulator import Emulator
from pullkin.emulator.mailbox import Mailboxes, Pending
from pullkin.emulator.state import Device
from pullkin.mcs import events as ev
from pullkin.proto.mcs_pb2 import DataMessageStanza

AID, TOKEN = 777, 888


def stanza(topic: str = "", subtype: str = "wp:a#1") -> DataMessageStanza:
    message = DataMessageStanza(category="org.chromium.linux", token=topic)
    setattr(message, "from", "x")
    message.app_data.add(key="subtype", value=subtype)
    return message


class Recorder:
    def __init__(self) -> None:
        self.added: list[str] = []
        self.removed: list[str] = []

    def add_pending(self, android_id: int, pending: Pending) -> None:
        self.added.append(pending.persistent_id)

    def remove_pending(self, persistent_ids: list[str]) -> None:
        self.removed.extend(persistent_ids)


def test_a_newer_message_with_the_same_topic_replaces_the_queued_one() -> None:
    boxes = Mailboxes()
    old = boxes.enqueue(AID, stanza("scores"), ttl=None)
    other = boxes.enqueue(AID, stanza("news"), ttl=None)
    other_app = boxes.enqueue(AID, stanza("scores", subtype="wp:b#2"), ttl=None)

    def same(item: DataMessageStanza) -> bool:
        return item.token == "scores" and item.app_data[0].value == "wp:a#1"

    new = boxes.replace(AID, stanza("scores"), None, same)
    assert [p.persistent_id for p in boxes.pending(AID)] == [other, other_app, new]
    assert list(boxes.replaced) == [old]


def test_listener_hears_every_queue_change() -> None:
    now = [0.0]
    boxes = Mailboxes(clock=lambda: now[0])
    recorder = Recorder()
    boxes.listener = recorder
    kept = boxes.enqueue(AID, stanza(), ttl=None)
    short = boxes.enqueue(AID, stanza(), ttl=5)
    confirmed = boxes.enqueue(AID, stanza(), ttl=None)
    boxes.confirm(AID, [confirmed, "unknown"])
    now[0] = 10
    boxes.pending(AID)
    assert recorder.added == [kept, short, confirmed]
    assert recorder.removed == [confirmed, short]


@pytest.mark.anyio
async def test_acknowledged_messages_stay_gone_after_an_emulator_restart(tmp_path: Path) -> None:
    async with Emulator(state_dir=tmp_path) as emu:
        emu.state.devices[AID] = Device(AID, TOKEN)
        emu.store.put(emu.state.devices[AID])  # type: ignore[arg-type]
        acked = emu.mailboxes.enqueue(AID, stanza(), ttl=None)
        kept = emu.mailboxes.enqueue(AID, stanza(), ttl=None)
        client = await RawMcsClient.connect(emu.endpoints)
        assert (await client.login(AID, TOKEN)).ok
        first, _second = await client.data_messages(2)
        await client.send(ev.SelectiveAck((first.stanza.persistent_id,)))
        await client.send(ev.HeartbeatPing())
        await client.read(1)
        await client.close()
        assert first.stanza.persistent_id == acked
    async with Emulator(state_dir=tmp_path) as again:
        assert [p.persistent_id for p in again.mailboxes.pending(AID)] == [kept]


def test_the_logs_keep_only_their_last_entries() -> None:
    boxes = Mailboxes(log_size=3)
    ids = [boxes.enqueue(AID, stanza(), ttl=None) for _ in range(5)]
    for pid in ids:
        boxes.record_delivery(AID, pid)
    boxes.confirm(AID, ids)
    assert set(boxes.confirmed) == set(ids[2:])
    assert ids[0] not in boxes.confirmed
    assert boxes.confirmed >= {ids[4]}
    assert [d.persistent_id for d in boxes.deliveries] == ids[2:]
    late = [boxes.enqueue(AID, stanza(), ttl=0) for _ in range(4)]  # nobody connected
    assert list(boxes.expired) == late[1:]
    assert boxes.pending(AID) == []
