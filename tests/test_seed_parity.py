"""Code written for the seed SDKs (shared/seeds/) runs on pullkin: the calls, positional
arguments, defaults and constants those users rely on."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
from _cli_support import PULLKIN, running_emulator
from _vendor_support import vendor_sender

from pullkin import PullkinCore
from pullkin.emulator import Emulator
from pullkin.errors import (
    ConfigError,
    GcmRegisterError,
    InvalidArgumentError,
    NotFoundError,
    UnauthenticatedError,
    UnavailableError,
)
from pullkin.senders._http import NO_RETRY, RetryPolicy
from pullkin.senders.azure import AzureNotificationHub, Installation
from pullkin.senders.baidu import BaiduSender
from pullkin.senders.hms import HmsSender
from pullkin.senders.hms_encode import encode_message
from pullkin.senders.hms_models import (
    AndroidConfig,
    AndroidNotification,
    ApnsConfig,
    ApnsHeaders,
    Message,
    WebPushConfig,
)
from pullkin.senders.umeng import AndroidBody, AndroidPayload, UmengSender

pytestmark = pytest.mark.anyio


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --- 003 the old Pullkin ------------------------------------------------------------------


async def test_gcm_register_takes_the_seeds_current_retry_and_extra_keywords(
    emu: Emulator,
) -> None:
    config = emu.firebase_config
    async with PullkinCore(emu.endpoints, sleep=Sleeps()) as core:
        gcm = await core.gcm_register(
            config.sender_id, config.app_id, config.api_key, config.project_id, None,
            "org.chromium.linux", 5, 0, some_future_option=True,
        )  # fmt: skip
    assert gcm.token in emu.state.gcm


@pytest.mark.parametrize(("current_retry", "succeeds"), [(0, True), (4, False)])
async def test_current_retry_counts_as_retries_already_spent(
    emu: Emulator, current_retry: int, succeeds: bool
) -> None:
    emu.faults.register_error("PHONE_REGISTRATION_ERROR", times=2)
    sleeps = Sleeps()
    config = emu.firebase_config
    kwargs: dict[str, Any] = {"retries": 5, "current_retry": current_retry}
    async with PullkinCore(emu.endpoints, sleep=sleeps) as core:
        if succeeds:
            await core.gcm_register(config.sender_id, config.app_id, **kwargs)
        else:
            with pytest.raises(GcmRegisterError, match="PHONE_REGISTRATION_ERROR"):
                await core.gcm_register(config.sender_id, config.app_id, **kwargs)
    assert len(sleeps) == (2 if succeeds else 1)


# --- 001 Baidu Channel --------------------------------------------------------------------


def baidu(emu: Emulator, **overrides: Any) -> BaiduSender:
    return vendor_sender(BaiduSender, "baidu", emu, **overrides)


async def test_baidu_push_msg_to_tag_takes_type_positionally_and_opts_as_keywords(
    emu: Emulator,
) -> None:
    opts = {"msg_type": 0, "msg_expires": 300}
    async with baidu(emu) as channel:
        await channel.create_tag("tag_name")
        result = await channel.push_msg_to_tag("tag_name", "msg to tag", 1, **opts)
    assert result.msg_id
    [*_, record] = emu.inbox("baidu")
    assert record["params"]["type"] == "1"
    assert record["params"]["msg_expires"] == "300"


async def test_baidu_tag_device_calls_give_the_request_id(emu: Emulator) -> None:
    async with baidu(emu) as channel:
        await channel.create_tag("vip")
        added = await channel.add_devices_to_tag("vip", ["1", "2"])
        count = await channel.query_device_num_in_tag("vip")
        removed = await channel.del_devices_from_tag("vip", ["1"])
    for result in (added, count, removed):
        assert result.request_id is not None
        assert result.request_id.isdigit()
    assert [d.channel_id for d in added] == ["1", "2"]
    assert len(removed) == 1
    assert removed[0].ok
    assert count.device_num == 2


async def test_baidu_keys_can_be_set_after_construction(emu: Emulator) -> None:
    real = emu.vendor("baidu")
    async with baidu(emu, api_key="wrong", secret_key="wrong") as channel:
        with pytest.raises(UnauthenticatedError):
            await channel.query_tags()
        channel.set_api_key(real["api_key"])
        channel.set_secret_key(real["secret_key"])
        assert (await channel.query_tags()).request_id is not None
        with pytest.raises(ConfigError):
            channel.set_secret_key("")


async def test_baidu_connect_timeout_bounds_a_connection_that_never_completes() -> None:
    with socket.socket() as silent:  # accepts TCP, never answers the TLS handshake
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"https://127.0.0.1:{silent.getsockname()[1]}/rest/3.0/"
        sender = BaiduSender(
            "k", "s", base_url=url, timeout=120, connect_timeout=0.2, retry=NO_RETRY
        )
        with anyio.fail_after(60):  # far below the 120 s attempt timeout
            async with sender:
                with pytest.raises(UnavailableError):
                    await sender.query_tags()
    with pytest.raises(ConfigError, match="connect_timeout"):
        BaiduSender("k", "s", connect_timeout=0)


# --- 000 HMS push_admin -------------------------------------------------------------------


def test_hms_models_carry_the_seeds_constants() -> None:
    assert ApnsHeaders.HEAD_AUTHORIZATION == "authorization"
    assert ApnsHeaders.HEAD_APNs_ID == "apns-id"
    assert ApnsHeaders.HEAD_APNs_EXPIRATION == "apns-expiration"
    assert ApnsHeaders.HEAD_APNs_PRIORITY == "apns-priority"
    assert ApnsHeaders.HEAD_APNs_TOPIC == "apns-topic"  # the seed's "pns-topic" is a typo
    assert ApnsHeaders.HEAD_APNs_COLLAPSE_ID == "apns-collapse-id"
    notification = AndroidNotification
    assert (notification.PRIORITY_LOW, notification.PRIORITY_DEFAULT, notification.PRIORITY_HIGH) == (
        "LOW", "NORMAL", "HIGH",
    )  # fmt: skip
    assert {notification.PUBLIC, notification.PRIVATE, notification.SECRET} == {
        "PUBLIC", "PRIVATE", "SECRET",
    }  # fmt: skip
    assert notification.VISIBILITY_UNSPECIFIED == "VISIBILITY_UNSPECIFIED"
    assert (WebPushConfig.TTL_HEADER, WebPushConfig.URGENCY_HEADER, WebPushConfig.TOPIC_HEADER) == (
        "ttl", "urgency", "topic",
    )  # fmt: skip
    # They are values the models accept, not just names.
    AndroidNotification(
        importance=AndroidNotification.PRIORITY_HIGH, visibility=notification.SECRET
    )


def test_hms_seed_defaults_and_optional_click_action_reach_the_wire() -> None:
    message = Message(
        android=AndroidConfig(notification=AndroidNotification(title="Hi", body="there")),
        token=["t1"],
    )
    android = encode_message(message)["android"]
    assert android["urgency"] == "NORMAL"
    assert android["notification"]["use_default_vibrate"] is True
    assert android["notification"]["use_default_light"] is True
    assert android["notification"]["click_action"] == {"type": 3}  # tap opens the app


def test_hms_headers_given_as_the_seeds_dicts() -> None:
    apns = ApnsConfig(
        headers={
            ApnsHeaders.HEAD_APNs_ID: "id-1",
            "pns-topic": "com.example",
            "apns-expiration": "60",
        }
    )
    webpush = WebPushConfig(
        headers={WebPushConfig.TTL_HEADER: "100", WebPushConfig.URGENCY_HEADER: "high"}
    )
    encoded = encode_message(Message(apns=apns, webpush=webpush, topic="news"))
    assert encoded["apns"]["headers"] == {
        "apns-id": "id-1", "apns-topic": "com.example", "apns-expiration": "60",
    }  # fmt: skip
    assert encoded["webpush"]["headers"] == {"ttl": "100", "urgency": "high"}
    with pytest.raises(InvalidArgumentError, match="unknown header"):
        ApnsConfig(headers={"x-apns": "1"})


async def test_hms_send_takes_the_json_message_the_seed_sends(emu: Emulator) -> None:
    message = {
        "data": {"k": "v"},
        "android": {"notification": {"title": "Hi", "click_action": {"type": 3}}},
        "token": ["t1", "t2"],
    }
    async with vendor_sender(HmsSender, "hms", emu) as hms:
        result = await hms.send(message)
        with pytest.raises(InvalidArgumentError, match="exactly one of"):
            await hms.send({"data": "x"})
    assert result.succeeded == ("t1", "t2")
    (record,) = emu.inbox("hms")
    assert record["message"]["data"] == '{"k":"v"}'
    assert record["message"]["android"]["notification"]["title"] == "Hi"


def test_hms_cli_call_send_with_a_json_message(tmp_path: Path) -> None:
    message = {"message": {"data": "hello", "topic": "news"}, "validate_only": True}
    (tmp_path / "params.json").write_text(json.dumps(message))
    with running_emulator(tmp_path) as config:
        result = subprocess.run(
            [PULLKIN, "send", "hms", "--emulator", str(config), "--call", "send",
             "--params", str(tmp_path / "params.json")],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["code"] == "80000000"


# --- 002 Umeng ------------------------------------------------------------------------------

UMENG_TOKEN = "A" * 44
VIP = {"where": {"and": [{"tag": "vip"}]}}
UMENG_NOTE = AndroidPayload(body=AndroidBody(ticker="t", title="Hi", text="there"))


async def test_umeng_any_other_top_level_field_is_sent_and_signed(emu: Emulator) -> None:
    extra = {"receipt_url": "https://example.com/receipt", "receipt_type": 3,
             "channel_properties": {"xiaomi_channel_id": "pullkin"}}  # fmt: skip
    async with vendor_sender(UmengSender, "umeng", emu) as umeng:
        for cast in (
            lambda: umeng.unicast(UMENG_TOKEN, UMENG_NOTE, extra_fields=extra),
            lambda: umeng.listcast([UMENG_TOKEN], UMENG_NOTE, extra_fields=extra),
            lambda: umeng.broadcast(UMENG_NOTE, extra_fields=extra),
            lambda: umeng.groupcast(VIP, UMENG_NOTE, extra_fields=extra),
            lambda: umeng.customizedcast("uid", UMENG_NOTE, alias="alice", extra_fields=extra),
        ):
            await cast()
    bodies = [record["body"] for record in emu.inbox("umeng")]
    assert len(bodies) == 5
    for body in bodies:  # accepted: the signature covered them
        assert {key: body[key] for key in extra} == extra


@pytest.mark.parametrize("field", ["payload", "mipush", "device_tokens", "policy"])
async def test_umeng_extra_fields_do_not_override_what_has_its_own_argument(
    emu: Emulator, field: str
) -> None:
    async with vendor_sender(UmengSender, "umeng", emu) as umeng:
        with pytest.raises(InvalidArgumentError, match="has its own argument"):
            await umeng.unicast(UMENG_TOKEN, UMENG_NOTE, extra_fields={field: "x"})
    assert emu.inbox("umeng") == []


# --- 004 Azure Notification Hubs sample -----------------------------------------------------


def azure_hub(emu: Emulator, *positional: Any) -> AzureNotificationHub:
    creds = emu.vendor("azure")
    return AzureNotificationHub(
        creds["connection_string"], creds["hub_name"], *positional, base_url=creds["base_url"],
        ssl_context=emu.endpoints.ssl_context, retry=RetryPolicy(attempts=1),
    )  # fmt: skip


@pytest.mark.parametrize("tags", ["", set(), None])
async def test_azure_empty_tags_the_samples_default_is_a_broadcast(
    emu: Emulator, tags: Any
) -> None:
    async with azure_hub(emu) as hub:
        await hub.send_google_notification({"data": {"k": "v"}}, tags)
    assert emu.inbox("azure")[-1]["tags"] is None


async def test_azure_debug_dumps_requests_and_responses_without_secrets(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    installation = Installation("inst-1", "fcmv1", "device-handle-secret", tags=("sports",))
    with caplog.at_level(logging.DEBUG, logger="pullkin.senders.azure"):
        async with azure_hub(emu, True) as hub:  # NotificationHub(cs, hub_name, debug)
            await hub.create_or_update_installation(installation)
            await hub.send_fcm_v1_notification({"message": {"data": {"k": "v"}}}, "sports")
            with pytest.raises(NotFoundError):
                await hub.get_installation("no-such-installation")
    dump = caplog.text
    assert dump.count("--- REQUEST ---") == 3
    assert dump.count("--- RESPONSE ---") == 3
    assert '"ServiceBusNotification-Tags": "sports"' in dump
    assert '{"message":{"data":{"k":"v"}}}' in dump
    assert "404" in dump
    assert "device-handle-secret" not in dump
    assert "SharedAccessSignature" not in dump
    key = emu.vendor("azure")["connection_string"].split("SharedAccessKey=")[1]
    assert key not in dump


async def test_azure_without_debug_logs_no_dump(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="pullkin.senders.azure"):
        async with azure_hub(emu) as hub:
            await hub.send_google_notification({"data": {"k": "v"}})
    assert "--- REQUEST ---" not in caplog.text
