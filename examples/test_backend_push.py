"""A backend's end-to-end push test, the way a pullkin user writes one.

``pullkin_emulator`` (the local FCM) and ``pullkin_receiver`` (a registered, connected
device) come from pullkin's pytest plugin, installed with pullkin.  Run it with:

    pytest examples/test_backend_push.py
"""

from __future__ import annotations

from typing import Any

import pytest

from pullkin.emulator import Emulator
from pullkin.emulator.harness import ReceiverHarness
from pullkin.senders import FcmSender
from pullkin.senders.fcm import Message, Notification


class Backend:
    """Stands in for your application: it notifies a user's device through FCM."""

    def __init__(self, service_account: dict[str, Any], **fcm_options: Any) -> None:
        self._fcm = FcmSender(service_account, **fcm_options)

    async def order_shipped(self, device_token: str, order_id: str) -> None:
        async with self._fcm as fcm:
            await fcm.send(
                Message(
                    token=device_token,
                    notification=Notification(title="Shipped!", body=f"Order {order_id}"),
                    data={"order_id": order_id, "kind": "shipping"},
                )
            )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_order_shipped_reaches_the_device(
    pullkin_emulator: Emulator, pullkin_receiver: ReceiverHarness
) -> None:
    backend = Backend(pullkin_emulator.service_account_info, endpoints=pullkin_emulator.endpoints)
    await backend.order_shipped(pullkin_receiver.token, "A-1001")
    message = await pullkin_receiver.next_message()
    assert message.notification is not None
    assert message.notification.title == "Shipped!"
    assert message.data == {"order_id": "A-1001", "kind": "shipping"}
