"""The emulator as a test harness: a backend sends, the test waits for the device's
handler and for its ack, injects an outage and sees the push arrive after recovery.

``pullkin_emulator`` and ``pullkin_receiver`` come from pullkin's pytest plugin (the
receiver uses ``FAST_SESSION``: it notices and heals an outage within a second).
Run it with:  pytest examples/test_harness.py
"""

from __future__ import annotations

import pytest

from pullkin.emulator import Emulator, ReceiverHarness
from pullkin.senders import FcmSender
from pullkin.senders.fcm import Message


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_push_sent_during_an_mcs_outage_arrives_after_it(
    pullkin_emulator: Emulator, pullkin_receiver: ReceiverHarness
) -> None:
    emu, device = pullkin_emulator, pullkin_receiver
    # The backend under test: here pullkin's FcmSender, pointed at the emulator.
    async with FcmSender(emu.service_account_info, endpoints=emu.endpoints) as backend:
        name = await backend.send(Message(token=device.token, data={"order": "42"}))
        assert (await device.next_message()).data == {"order": "42"}  # the handler ran
        await emu.wait_delivered(name, acked=True)  # and the device acknowledged it

        await emu.refuse_mcs(seconds=1.0)  # connections dropped, the port refuses
        assert not emu.connected(device)
        name = await backend.send(Message(token=device.token, data={"order": "43"}))
        await emu.wait_delivered(name, acked=True, timeout=10)  # it reconnected
        assert (await device.next_message()).data == {"order": "43"}
        assert emu.connected(device)
