"""Every sender end to end on the emulator: send → the pullkin receiver's handler gets it.

Also the retry behaviour against the emulator's fault plans: attempts are counted in
``emu.faults.fired``, ``Retry-After`` is honoured, non-retryable answers fail at once.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from _sender_support import receiver

from pullkin.emulator import Emulator
from pullkin.errors import (
    InvalidArgumentError,
    QuotaExceededError,
    UnauthenticatedError,
    UnavailableError,
    UnregisteredError,
)
from pullkin.senders._http import RetryPolicy
from pullkin.senders.azure import AzureNotificationHub, Installation, Registration
from pullkin.senders.fcm import AndroidConfig, FcmSender, Message, Notification
from pullkin.senders.webpush import WebPushSender

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(attempts=4, base=0.01, cap=0.05, total=10)


def fcm_sender(emu: Emulator, **kwargs: Any) -> FcmSender:
    kwargs.setdefault("retry", FAST_RETRY)
    return FcmSender(emu.service_account_info, endpoints=emu.endpoints, **kwargs)


def webpush_sender(emu: Emulator, **kwargs: Any) -> WebPushSender:
    kwargs.setdefault("retry", FAST_RETRY)
    return WebPushSender(
        emu.vapid_keys.private_key,
        "mailto:ops@example.com",
        ssl_context=emu.endpoints.ssl_context,
        **kwargs,
    )


def azure_hub(
    emu: Emulator, connection_string: str | None = None, **kwargs: Any
) -> AzureNotificationHub:
    creds = emu.vendor("azure")
    kwargs.setdefault("retry", FAST_RETRY)
    return AzureNotificationHub(
        connection_string or creds["connection_string"], creds["hub_name"],
        base_url=creds["base_url"], ssl_context=emu.endpoints.ssl_context, **kwargs,
    )  # fmt: skip


def fired(emu: Emulator, endpoint: str) -> int:
    return emu.faults.fired.count(f"http:{endpoint}")


# --- FCM -----------------------------------------------------------------------------------


async def test_fcm_send_reaches_a_web_receiver_with_notification_and_data(emu: Emulator) -> None:
    async with receiver(emu) as device, fcm_sender(emu) as fcm:
        name = await fcm.send(
            Message(
                token=device.token,
                notification=Notification(title="Hi", body="there"),
                data={"k": "v"},
            )
        )
        message = await device.next_message()
    assert name.startswith("projects/pullkin-emulator/messages/")
    assert message.notification is not None
    assert (message.notification.title, message.notification.body) == ("Hi", "there")
    assert message.data == {"k": "v"}
    assert name.endswith(message.persistent_id or "-")


async def test_fcm_send_reaches_an_android_app_receiver(emu: Emulator) -> None:
    async with receiver(emu, android=True) as device, fcm_sender(emu) as fcm:
        await fcm.send(
            Message(
                token=device.token,
                notification=Notification(title="T", body="B"),
                data={"score": "7"},
                android=AndroidConfig(priority="high", ttl=60),
            )
        )
        message = await device.next_message()
    assert message.notification is not None
    assert (message.notification.title, message.notification.body) == ("T", "B")
    assert message.data == {"score": "7"}


async def test_fcm_send_each_reports_dead_tokens_and_delivers_the_rest(emu: Emulator) -> None:
    async with receiver(emu) as device, fcm_sender(emu) as fcm:
        dead = "dead0000:APA91b" + "x" * 100
        batch = await fcm.send_each(
            [Message(token=device.token, data={"n": "1"}), Message(token=dead, data={"n": "2"})]
        )
        message = await device.next_message()
    assert batch.success_count == 1
    assert isinstance(batch[1].error, UnregisteredError)
    assert batch[1].error.code == "UNREGISTERED"
    assert message.data == {"n": "1"}


async def test_fcm_topic_subscription_then_topic_send(emu: Emulator) -> None:
    async with receiver(emu) as device, fcm_sender(emu) as fcm:
        result = await fcm.subscribe_to_topic([device.token], "news")
        assert (result.success_count, result.failure_count) == (1, 0)
        await fcm.send(Message(topic="news", data={"t": "1"}))
        assert (await device.next_message()).data == {"t": "1"}
        await fcm.unsubscribe_from_topic(device.token, "news")


async def test_fcm_validate_only_delivers_nothing(emu: Emulator) -> None:
    async with receiver(emu) as device, fcm_sender(emu) as fcm:
        await fcm.send(Message(token=device.token, data={"n": "x"}), validate_only=True)
        await fcm.send(Message(token=device.token, data={"n": "real"}))
        message = await device.next_message()
    assert message.data == {"n": "real"}
    assert len(device.messages) == 1


async def test_fcm_5xx_is_retried_and_429_retry_after_is_honoured(emu: Emulator) -> None:
    async with receiver(emu) as device, fcm_sender(emu) as fcm:
        emu.faults.http_error("fcm_send", 503, times=2)
        await fcm.send(Message(token=device.token, data={"n": "1"}))
        assert fired(emu, "fcm_send") == 2
        emu.faults.http_error("fcm_send", 429, times=1, retry_after=1)  # whole seconds
        started = time.monotonic()
        await fcm.send(Message(token=device.token, data={"n": "2"}))
        assert time.monotonic() - started >= 1.0
        assert fired(emu, "fcm_send") == 3
        await device.next_message()


async def test_fcm_non_retryable_answer_fails_at_once_and_exhaustion_keeps_retry_after(
    emu: Emulator,
) -> None:
    body = json.dumps({"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}})
    async with fcm_sender(emu) as fcm:
        emu.faults.http_error("fcm_send", 400, times=3, body=body)
        with pytest.raises(InvalidArgumentError):
            await fcm.send(Message(topic="news"))
        assert fired(emu, "fcm_send") == 1
        emu.faults.clear()
        emu.faults.http_error("fcm_send", 503, times=10, retry_after=0)
        with pytest.raises(UnavailableError) as info:
            await fcm.send(Message(topic="news"))
        assert fired(emu, "fcm_send") == 1 + 4
        assert info.value.retry_after == 0.0


async def test_fcm_oauth_outage_is_retried(emu: Emulator) -> None:
    async with fcm_sender(emu) as fcm:
        emu.faults.http_error("oauth_token", 503, times=1)
        await fcm.send(Message(topic="news"))
    assert fired(emu, "oauth_token") == 1


# --- Web Push --------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["aes128gcm", "aesgcm"])
async def test_webpush_reaches_the_receiver_decrypted(emu: Emulator, encoding: Any) -> None:
    async with (
        receiver(emu, vapid_key=emu.vapid_keys.public_key) as device,
        webpush_sender(emu) as push,
    ):
        result = await push.send(
            device.subscription(emu), {"data": "x"}, encoding=encoding, urgency="high"
        )
        message = await device.next_message()
    assert result.status == 201
    assert result.message_id == message.persistent_id
    assert message.raw == {"data": "x"}


async def test_webpush_to_an_unknown_subscription_is_unregistered(emu: Emulator) -> None:
    async with (
        receiver(emu, vapid_key=emu.vapid_keys.public_key) as device,
        webpush_sender(emu) as push,
    ):
        subscription = device.subscription(emu)
        subscription["endpoint"] = emu.endpoints.webpush_url("unknown:APA91b" + "y" * 100)
        with pytest.raises(UnregisteredError):
            await push.send(subscription, b"x")


async def test_webpush_retries_429_with_retry_after(emu: Emulator) -> None:
    async with (
        receiver(emu, vapid_key=emu.vapid_keys.public_key) as device,
        webpush_sender(emu) as push,
    ):
        emu.faults.http_error("webpush", 429, times=1, retry_after=1)  # whole seconds
        started = time.monotonic()
        await push.send(device.subscription(emu), b"after throttling")
        assert time.monotonic() - started >= 1.0
        assert fired(emu, "webpush") == 1
        assert (await device.next_message()).persistent_id


# --- Azure Notification Hubs ----------------------------------------------------------------


async def test_azure_tag_send_to_an_fcmv1_installation_reaches_the_receiver(emu: Emulator) -> None:
    async with receiver(emu) as device, azure_hub(emu) as hub:
        await hub.create_or_update_installation(
            Installation("inst-1", "fcmv1", device.token, ("user:42", "lang:en"))
        )
        outcome = await hub.send_fcm_v1_notification(
            {"message": {"notification": {"title": "From Azure", "body": "B"}, "data": {"a": "1"}}},
            "user:42 && !lang:fr",
            test=True,
        )
        message = await device.next_message()
    assert (outcome.success, outcome.failure) == (1, 0)
    assert outcome.results[0].pns_handle == device.token
    assert message.notification is not None
    assert message.notification.title == "From Azure"
    assert message.data == {"a": "1"}
    assert emu.inbox("azure")[-1]["tags"] == "user:42 && !lang:fr"


async def test_azure_gcm_registration_and_template_sends_reach_the_receiver(emu: Emulator) -> None:
    async with receiver(emu) as device, azure_hub(emu) as hub:
        await hub.create_registration(Registration("gcm", device.token, ("legacy",)))
        await hub.send_gcm_notification({"data": {"msg": "Hello!", "n": 3}}, "legacy")
        first = await device.next_message()
        template = '{"message": {"data": {"greeting": "$(greeting_en)"}}}'
        await hub.create_registration(
            Registration("fcmv1", device.token, ("tmpl",), template=template)
        )
        await hub.send_template_notification(
            {"greeting_en": "Hello", "greeting_fr": "Salut"}, {"tmpl"}
        )
        second = await device.next_message()
    assert first.data == {"msg": "Hello!", "n": "3"}
    assert second.data == {"greeting": "Hello"}


async def test_azure_direct_and_batch_sends_reach_the_receiver(emu: Emulator) -> None:
    async with receiver(emu) as device, azure_hub(emu) as hub:
        note = {"message": {"data": {"via": "direct"}}}
        from pullkin.senders.azure import AzureNotification

        await hub.send_direct_notification(AzureNotification("fcmv1", note), device.token)
        assert (await device.next_message()).data == {"via": "direct"}
        batch = AzureNotification("fcmv1", {"message": {"data": {"via": "batch"}}})
        outcomes = await hub.send_direct_batch_notification(batch, [device.token, "other-handle"])
        assert (await device.next_message()).data == {"via": "batch"}
    assert len(outcomes) == 1
    assert emu.inbox("azure")[-1]["handles"] == [device.token, "other-handle"]


async def test_azure_test_send_without_matches_has_an_empty_outcome(emu: Emulator) -> None:
    async with azure_hub(emu) as hub:
        outcome = await hub.send_apple_notification({"aps": {"alert": "x"}}, "nobody", test=True)
    assert (outcome.state, outcome.success, outcome.failure, outcome.results) == (
        "DetailedStateAvailable",
        0,
        0,
        (),
    )
    assert outcome.notification_id


async def test_azure_throttling_is_retried_and_bad_requests_are_not(emu: Emulator) -> None:
    async with azure_hub(emu) as hub:
        emu.faults.http_error("azure", 429, times=1, retry_after=0)
        emu.faults.http_error(
            "azure",
            403,
            times=1,
            body="<Error><Code>403</Code><Detail>Quota exceeded</Detail></Error>",
        )
        emu.faults.http_error("azure", 503, times=1)
        await hub.send_template_notification({"a": "b"})
        assert fired(emu, "azure") == 3
        emu.faults.http_error(
            "azure",
            400,
            times=2,
            body="<Error><Code>400</Code><Detail>Bad channel</Detail></Error>",
        )
        with pytest.raises(InvalidArgumentError, match="Bad channel") as info:
            await hub.send_template_notification({"a": "b"})
        assert fired(emu, "azure") == 4
        assert info.value.code == "400"
        emu.faults.clear()
        emu.faults.http_error(
            "azure",
            403,
            times=10,
            retry_after=0,
            body="<Error><Code>403</Code><Detail>Quota</Detail></Error>",
        )
        with pytest.raises(QuotaExceededError) as quota:
            await hub.send_template_notification({"a": "b"})
        assert quota.value.retry_after == 0.0
        assert fired(emu, "azure") == 4 + 4


async def test_azure_wrong_key_is_unauthenticated(emu: Emulator) -> None:
    good = emu.vendor("azure")["connection_string"]
    bad = good.rsplit("SharedAccessKey=", 1)[0] + "SharedAccessKey=not-the-key="
    async with azure_hub(emu, bad) as hub:
        with pytest.raises(UnauthenticatedError, match="signature") as info:
            await hub.send_template_notification({"a": "b"})
    assert info.value.http_status == 401
    assert emu.inbox("azure") == []
