"""What the device got: a real pullkin receiver registered on the emulator.

Sender end-to-end tests send through a vendor, then ask ``Receiver.next_message``
what the receiver's handler was given.  Registration goes through the emulator's
HTTP endpoints (check-in, register3, Installations, FCM registrations), so the
tokens are the ones a real app would hand to its backend.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from _receiver_support import FAST, wait_for

from pullkin import Message
from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.models import AppCredentials
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import SessionState


@dataclass
class Receiver:
    """A registered, connected receiver and what its handler was given."""

    credentials: AppCredentials
    messages: list[Message] = field(default_factory=list)
    stanzas: list[DataMessageStanza] = field(default_factory=list)
    _consumed: int = 0

    @property
    def token(self) -> str:
        """The FCM token a backend sends to."""
        assert self.credentials.fcm is not None
        return self.credentials.fcm.token

    def subscription(self, emu: Emulator) -> dict[str, object]:
        """The browser's ``PushSubscription.toJSON()`` for this registration."""
        assert self.credentials.keys is not None
        return {
            "endpoint": emu.endpoints.webpush_url(self.credentials.gcm.token),
            "expirationTime": None,
            "keys": {
                "p256dh": self.credentials.keys.public_key,
                "auth": self.credentials.keys.auth_secret,
            },
        }

    async def _record(self, message: Message, stanza: DataMessageStanza) -> None:
        self.messages.append(message)
        self.stanzas.append(stanza)

    async def next_message(self, timeout: float = 5.0) -> Message:
        """The oldest message not returned yet, waiting for it if need be."""
        index = self._consumed
        await wait_for(lambda: len(self.messages) > index, timeout)
        self._consumed += 1
        return self.messages[index]


@asynccontextmanager
async def receiver(
    emu: Emulator, *, android: bool = False, vapid_key: str | None = None
) -> AsyncIterator[Receiver]:
    """Register (web flow, or Android with *android*) and receive until the block ends."""
    config = emu.android_config if android else emu.firebase_config
    if vapid_key is not None:
        config = dataclasses.replace(config, vapid_key=vapid_key)
    async with Pullkin(emu.endpoints, session_config=FAST) as client:
        credentials = await client.register_app(config)
        device = Receiver(credentials)
        client.on_notification()(device._record)
        task = asyncio.ensure_future(client.run())
        try:
            await wait_for(lambda: client.state is SessionState.CONNECTED)
            yield device
        finally:
            await client.stop()
            await task
