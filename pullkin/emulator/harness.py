"""``ReceiverHarness``: a registered, connected receiver on an emulator, for tests.

What an end-to-end test of a backend needs on the device side: an FCM token (and the
Web Push subscription of the same registration) to hand to the backend, and a way to
await the push it sent::

    receiver = await ReceiverHarness.start(emu)
    await my_backend.notify(receiver.token)
    message = await receiver.next_message()
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from pullkin.client import Pullkin
from pullkin.core import RegistrationTiming
from pullkin.emulator._facade import Emulator
from pullkin.models import AppCredentials, Message
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import SessionConfig

__all__ = ["FAST_REGISTRATION", "FAST_SESSION", "ReceiverHarness"]

#: Receiver timing for tests on loopback: an outage is noticed and healed within
#: seconds instead of minutes (defaults: ``SessionConfig()``, for real networks).
FAST_SESSION = SessionConfig(
    heartbeat_interval=5.0,
    heartbeat_timeout=2.0,
    login_timeout=2.0,
    connect_timeout=2.0,
    reconnect_initial=0.05,
    reconnect_max=0.5,
    stable_after=0.5,
    stop_timeout=2.0,
)
#: Registration timing for tests: ``Pullkin(endpoints, **FAST_REGISTRATION)`` retries
#: after 0.05-0.5 s instead of 1-60 s, and gives a request 5 s.
FAST_REGISTRATION = RegistrationTiming(timeout=5.0, backoff_base=0.05, backoff_cap=0.5)


class ReceiverHarness:
    """Records every message the registered app receives, in order."""

    def __init__(self, emu: Emulator, client: Pullkin, credentials: AppCredentials) -> None:
        self.emulator = emu
        self.client = client
        self.credentials = credentials
        self.messages: list[Message] = []
        self._queue: asyncio.Queue[Message] = asyncio.Queue()

    @classmethod
    async def start(
        cls,
        emu: Emulator,
        *,
        android: bool = False,
        session_config: SessionConfig = FAST_SESSION,
    ) -> ReceiverHarness:
        """Register (web flow, VAPID key = ``emu.vapid_keys``; or the Android-app flow)
        and return once the MCS session is logged in.  Timing: ``FAST_SESSION`` and
        ``FAST_REGISTRATION`` unless *session_config* says otherwise."""
        if android:
            config = emu.android_config
        else:
            config = dataclasses.replace(emu.firebase_config, vapid_key=emu.vapid_keys.public_key)
        client = Pullkin(emu.endpoints, session_config=session_config, **FAST_REGISTRATION)
        credentials = await client.register_app(config)
        harness = cls(emu, client, credentials)
        client.on_notification()(harness._record)
        await client.wait_connected()
        return harness

    async def _record(self, message: Message, stanza: DataMessageStanza) -> None:
        self.messages.append(message)
        self._queue.put_nowait(message)

    @property
    def android_id(self) -> int:
        """The device's id, which names it to ``emu.connected``, ``emu.drain`` …"""
        return self.credentials.gcm.android_id

    @property
    def token(self) -> str:
        """The FCM registration token to give a sender."""
        return self.credentials.fcm.token

    @property
    def subscription(self) -> dict[str, Any]:
        """The Web Push subscription (``PushSubscription.toJSON()`` shape) of a web
        registration; push to it with the emulator's VAPID key."""
        keys = self.credentials.keys
        if keys is None:
            raise AttributeError("an Android-app registration has no Web Push subscription")
        return {
            "endpoint": self.emulator.endpoints.webpush_url(self.credentials.gcm.token),
            "keys": {"p256dh": keys.public_key, "auth": keys.auth_secret},
        }

    async def next_message(self, timeout: float = 5.0) -> Message:
        """The next message not yet returned; raises ``TimeoutError`` after *timeout*."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no push arrived within {timeout:g} s") from None

    async def aclose(self) -> None:
        await self.client.stop()
        await self.client.aclose()
