"""FCM v1 sends accepted over HTTP are queued together at the end of the loop's turn
(``v1_delivery``): same stanzas, same order, and one broken send loses no other."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from _receiver_support import register_direct

from pullkin import crypto
from pullkin._b64 import b64url_encode
from pullkin.emulator import Emulator, fcm
from pullkin.emulator.mailbox import Pending
from pullkin.models import AppCredentials

pytestmark = pytest.mark.anyio


def _send_later(emu: Emulator, credentials: AppCredentials, n: int) -> str:
    message = {"token": credentials.fcm.token, "data": {"n": str(n)}}
    name = fcm.send_message(emu, emu.firebase_config.project_id, message, later=emu.v1_batch)
    return name.rpartition("/")[2]


def _numbers(credentials: AppCredentials, queued: list[Pending]) -> list[str]:
    numbers = []
    for item in queued:
        app_data = {entry.key: entry.value for entry in item.stanza.app_data}
        document = json.loads(crypto.decrypt(item.stanza.raw_data, app_data, credentials.keys))
        numbers.append(document["data"]["n"])
    return numbers


async def test_sends_of_one_turn_are_queued_together_in_order(emu: Emulator) -> None:
    first, second = register_direct(emu), register_direct(emu)
    ids = [_send_later(emu, c, n) for n, c in enumerate([first, second, first, first])]
    assert emu.mailboxes.pending(first.gcm.android_id) == []  # accepted, not yet queued
    await asyncio.sleep(0)
    queued = emu.mailboxes.pending(first.gcm.android_id)
    assert [item.persistent_id for item in queued] == [ids[0], ids[2], ids[3]]
    assert _numbers(first, queued) == ["0", "2", "3"]
    [other] = emu.mailboxes.pending(second.gcm.android_id)
    assert other.persistent_id == ids[1]
    assert _numbers(second, [other]) == ["1"]


async def test_a_broken_send_loses_no_other_send_of_its_turn(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    good, broken = register_direct(emu), register_direct(emu)
    registration = emu.state.fcm[broken.fcm.token]
    off_curve = b64url_encode(b"\x04" + b"\x01" * 64)
    emu.state.fcm[broken.fcm.token] = dataclasses.replace(registration, p256dh=off_curve)
    ids = [_send_later(emu, c, n) for n, c in enumerate([good, broken, good])]
    await asyncio.sleep(0)
    queued = emu.mailboxes.pending(good.gcm.android_id)
    assert [item.persistent_id for item in queued] == [ids[0], ids[2]]
    assert _numbers(good, queued) == ["0", "2"]
    assert emu.mailboxes.pending(broken.gcm.android_id) == []
    assert any("one at a time" in record.getMessage() for record in caplog.records)
    emu.state.fcm[broken.fcm.token] = registration
