"""The emulator's send side: OAuth token grant, FCM HTTP v1, topic management and how
each message reaches the device (fcm-send.md §1–§3, §6)."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from test_emulator_support import (
    JWT_BEARER,
    android_device,
    app_data,
    client,
    delivered_stanzas,
    service_assertion,
    v1_send,
    web_device,
)
from test_emulator_support import access_token as get_access_token

from pullkin.crypto import decrypt
from pullkin.emulator import Emulator
from pullkin.emulator.delivery import padded
from pullkin.errors import InvalidArgumentError, UnregisteredError

pytestmark = pytest.mark.anyio

NAME = re.compile(r"projects/pullkin-emulator/messages/0:\d{16}%[0-9a-f]{16}")

# fcm-send.md §1.4, verbatim.
UNREGISTERED = {
    "error": {
        "code": 404,
        "message": "Requested entity was not found.",
        "status": "NOT_FOUND",
        "details": [
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": "UNREGISTERED",
            }
        ],
    }
}
MALFORMED_TOKEN = {
    "error": {
        "code": 400,
        "message": "The registration token is not a valid FCM registration token",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": "INVALID_ARGUMENT",
            }
        ],
    }
}
BAD_DATA_VALUE = {
    "error": {
        "code": 400,
        "message": "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [
                    {
                        "field": "message.data[0].value",
                        "description": "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
                    }
                ],
            }
        ],
    }
}
UNKNOWN_FIELD = "Invalid JSON payload received. Unknown name \"color\" at 'message.notification': Cannot find field."


def _fcm_code(body: dict[str, Any]) -> str | None:
    for detail in body["error"].get("details", []):
        if detail["@type"].endswith("FcmError"):
            code: str = detail["errorCode"]
            return code
    return None


async def _grant(session: Any, emu: Emulator, assertion: str, **extra: str) -> tuple[int, Any]:
    form = {"grant_type": JWT_BEARER, "assertion": assertion, **extra}
    async with session.post(emu.endpoints.oauth_token, data=form) as response:
        return response.status, await response.json()


# --- OAuth --------------------------------------------------------------------------


@pytest.mark.parametrize("aud", ["https://oauth2.googleapis.com/token", "emulator"])
async def test_oauth_grants_an_hour_long_bearer_token(aud: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        audience = emu.endpoints.oauth_token if aud == "emulator" else aud
        status, body = await _grant(session, emu, service_assertion(emu, aud=audience))
    assert status == 200
    assert (body["expires_in"], body["token_type"]) == (3599, "Bearer")
    token = emu.state.oauth_tokens[body["access_token"]]
    assert token.client_email == emu.service_account_info["client_email"]
    assert 3500 < token.expires_at - time.time() <= 3600


def _other_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ("signature", "invalid_grant"),
        ("issuer", "invalid_grant"),
        ("expired", "invalid_grant"),
        ("too-long", "invalid_grant"),
        ("audience", "invalid_grant"),
        ("no-exp", "invalid_grant"),
        ("garbage", "invalid_grant"),
        ("alg-none", "invalid_grant"),
        ("no-scope", "invalid_scope"),
    ],
)
async def test_oauth_rejects_a_bad_assertion(change: str, error: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        now = int(time.time())
        assertion = {
            "signature": lambda: service_assertion(emu, key=_other_key()),
            "issuer": lambda: service_assertion(emu, iss="someone@else.iam.gserviceaccount.com"),
            "expired": lambda: service_assertion(emu, iat=now - 7200, exp=now - 3600),
            "too-long": lambda: service_assertion(emu, exp=now + 7200),
            "audience": lambda: service_assertion(emu, aud="https://example.com/token"),
            "no-exp": lambda: service_assertion(emu, exp=None),
            "garbage": lambda: "not.a.jwt",
            "alg-none": lambda: jwt.encode(
                {
                    "iss": emu.service_account_info["client_email"],
                    "aud": emu.endpoints.oauth_token,
                    "iat": now,
                    "exp": now + 60,
                    "scope": "x",
                },
                None,
                algorithm="none",
            ),
            "no-scope": lambda: service_assertion(emu, scope=None),
        }[change]()
        status, body = await _grant(session, emu, assertion)
    assert status == 400
    assert body["error"] == error
    assert body["error_description"]
    assert emu.state.oauth_tokens == {}


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"assertion": "x"}, "invalid_request"),
        ({"grant_type": "client_credentials", "assertion": "x"}, "unsupported_grant_type"),
        ({"grant_type": JWT_BEARER}, "invalid_request"),
    ],
)
async def test_oauth_rejects_a_bad_form(form: dict[str, str], error: str) -> None:
    async with (
        Emulator() as emu,
        client(emu) as session,
        session.post(emu.endpoints.oauth_token, data=form) as response,
    ):
        assert response.status == 400
        assert (await response.json())["error"] == error


# --- v1 send: delivery to a web registration --------------------------------------------


async def test_v1_send_to_web_token_delivers_aesgcm_json_like_fcm() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        token = await get_access_token(session, emu)
        message = {"token": device.fcm_token, "notification": {"title": "Hi", "body": "there"},
                   "data": {"k": "v"}}  # fmt: skip
        status, body = await v1_send(session, emu, token, {"message": message})
    assert status == 200
    assert NAME.fullmatch(body["name"])
    [stanza] = delivered_stanzas(emu, device.android_id)
    assert body["name"].endswith(stanza.persistent_id)
    assert getattr(stanza, "from") == device.sender
    assert stanza.category == "org.chromium.linux"
    assert stanza.ttl == 2419200
    assert [item.key for item in stanza.app_data] == [
        "google.source", "encryption", "subtype", "crypto-key"]  # fmt: skip
    assert app_data(stanza)["subtype"] == "wp:receiver.push.com#3f1c"
    payload = json.loads(decrypt(stanza.raw_data, app_data(stanza), device.keys))
    assert payload["notification"] == {"title": "Hi", "body": "there"}
    assert payload["data"] == {"k": "v"}
    assert payload["from"] == emu.firebase_config.sender_id
    assert payload["priority"] == "normal"
    uuid.UUID(payload["fcmMessageId"])


# The shape of a stanza the real FCM delivered to a web registration, from the capture
# firebase-messaging keeps as tests/fixtures/data_message_stanza.json (values
# anonymised there; here each value's form): app_data keys in this order, and
# encryption / crypto-key as *padded* base64url.
FCM_WEB_STANZA_SHAPE = {
    "id": r"[0-9A-F]{8}",
    "category": r"org\.chromium\.linux",
    "persistent_id": r"0:\d{16}%[0-9a-f]{16}",
    "sent": r"\d{13}",
}
FCM_WEB_APP_DATA = [
    ("google.source", r"webpush"),
    ("encryption", r"salt=[A-Za-z0-9_-]{22}=="),  # 16 bytes
    ("subtype", r".+"),
    ("crypto-key", r"dh=B[A-Za-z0-9_-]{86}="),  # a 65-byte uncompressed P-256 point
]


async def test_v1_web_stanza_has_the_keys_order_and_padding_of_a_real_fcm_delivery() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        token = await get_access_token(session, emu)
        status, _ = await v1_send(session, emu, token, {"message": {"token": device.fcm_token}})
    assert status == 200
    [stanza] = delivered_stanzas(emu, device.android_id)
    for field, pattern in FCM_WEB_STANZA_SHAPE.items():
        assert re.fullmatch(pattern, str(getattr(stanza, field))), field
    assert [item.key for item in stanza.app_data] == [key for key, _ in FCM_WEB_APP_DATA]
    for (key, pattern), item in zip(FCM_WEB_APP_DATA, stanza.app_data, strict=True):
        assert re.fullmatch(pattern, item.value), f"{key}={item.value}"
    # What firebase-messaging does with them: strip the prefix, urlsafe_b64decode as-is.
    values = app_data(stanza)
    assert len(base64.urlsafe_b64decode(values["encryption"][5:])) == 16
    assert len(base64.urlsafe_b64decode(values["crypto-key"][3:])) == 65
    assert json.loads(decrypt(stanza.raw_data, values, device.keys))["from"] == (
        emu.firebase_config.sender_id
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("salt=zZYXWVUTSRQ12yxwvutsrq", "salt=zZYXWVUTSRQ12yxwvutsrq=="),
        ("dh=" + "A" * 87, "dh=" + "A" * 87 + "="),
        ("salt=zZYXWVUTSRQ12yxwvutsrq;rs=5000", "salt=zZYXWVUTSRQ12yxwvutsrq==;rs=5000"),
        ("salt=AAAA", "salt=AAAA"),
    ],
)
def test_padded_pads_the_base64_value_and_keeps_the_record_size(raw: str, expected: str) -> None:
    assert padded(raw) == expected


async def test_v1_send_webpush_config_overrides_for_web_registrations() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        token = await get_access_token(session, emu)
        message = {
            "token": device.fcm_token,
            "notification": {"title": "generic", "image": "https://example.com/i.png"},
            "data": {"a": "1", "b": "2"},
            "webpush": {
                "headers": {"TTL": "60", "Urgency": "high", "Topic": "news"},
                "data": {"b": "web"},
                "notification": {"title": "web title", "icon": "/icon.png"},
                "fcmOptions": {"link": "https://example.com/open"},
            },
            "fcm_options": {"analytics_label": "label"},
        }
        status, _ = await v1_send(session, emu, token, {"message": message})
    assert status == 200
    [stanza] = delivered_stanzas(emu, device.android_id)
    payload = json.loads(decrypt(stanza.raw_data, app_data(stanza), device.keys))
    assert stanza.ttl == 60
    assert payload["notification"] == {
        "title": "web title", "image": "https://example.com/i.png", "icon": "/icon.png",
        "click_action": "https://example.com/open"}  # fmt: skip
    assert payload["data"] == {"a": "1", "b": "web"}
    assert payload["priority"] == "high"
    assert payload["collapse_key"] == "news"
    assert payload["fcmOptions"] == {"analytics_label": "label", "link": "https://example.com/open"}


async def test_v1_send_to_a_web_registration_without_a_topic_is_do_not_collapse() -> None:
    # What real FCM puts in web payloads (seen in service-worker logs); the Firebase
    # JS SDK turns it into MessagePayload.collapseKey, a string it always expects.
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        await emu.send(device.fcm_token, data={"k": "v"})
    [stanza] = delivered_stanzas(emu, device.android_id)
    payload = json.loads(decrypt(stanza.raw_data, app_data(stanza), device.keys))
    assert payload["collapse_key"] == "do_not_collapse"


async def test_v1_send_accepts_the_project_number_in_the_url() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        token = await get_access_token(session, emu)
        message = {"message": {"token": device.fcm_token, "data": {"k": "v"}}}
        status, body = await v1_send(
            session, emu, token, message, project=emu.firebase_config.sender_id
        )
    assert status == 200
    assert body["name"].startswith(f"projects/{emu.firebase_config.sender_id}/messages/")


# --- v1 send: delivery to an Android-app registration -------------------------------------


async def test_v1_send_to_android_token_delivers_plain_app_data() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await android_device(session, emu)
        token = await get_access_token(session, emu)
        message = {
            "token": device.token,
            "data": {"score": "5", "shared": "top"},
            "notification": {"title": "T", "body": "B"},
            "android": {
                "ttl": "3.5s", "collapse_key": "scores", "data": {"shared": "android"},
                "notification": {"body": "android body", "channel_id": "news",
                                 "notification_priority": "PRIORITY_HIGH", "visibility": "PUBLIC",
                                 "sticky": True, "vibrate_timings": ["0.5s", "1s"]},
            },
        }  # fmt: skip
        status, _ = await v1_send(session, emu, token, {"message": message})
    assert status == 200
    [stanza] = delivered_stanzas(emu, device.android_id)
    data = app_data(stanza)
    assert stanza.raw_data == b""
    assert stanza.category == emu.android_config.android_package
    assert getattr(stanza, "from") == emu.firebase_config.sender_id
    assert (stanza.token, stanza.ttl) == ("scores", 4)
    assert data["score"] == "5"
    assert data["shared"] == "android"
    assert data["gcm.n.e"] == "1"
    assert (data["gcm.n.title"], data["gcm.n.body"]) == ("T", "android body")
    assert data["gcm.n.android_channel_id"] == "news"
    assert data["gcm.n.notification_priority"] == "1"
    assert data["gcm.n.visibility"] == "1"
    assert data["gcm.n.sticky"] == "true"
    assert json.loads(data["gcm.n.vibrate_timings"]) == [500, 1000]
    assert data["google.c.sender.id"] == emu.firebase_config.sender_id
    assert data["google.original_priority"] == data["google.delivered_priority"] == "high"


async def test_v1_data_message_to_android_defaults_to_normal_priority() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await android_device(session, emu)
        token = await get_access_token(session, emu)
        status, _ = await v1_send(
            session, emu, token, {"message": {"token": device.token, "data": {"x": "1"}}}
        )
    assert status == 200
    [stanza] = delivered_stanzas(emu, device.android_id)
    assert "gcm.n.e" not in app_data(stanza)
    assert app_data(stanza)["google.original_priority"] == "normal"


async def test_v1_send_to_token_of_another_sender_is_sender_id_mismatch() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await android_device(session, emu, sender="999999999999")
        token = await get_access_token(session, emu)
        status, body = await v1_send(
            session, emu, token, {"message": {"token": device.token, "data": {"x": "1"}}}
        )
    assert status == 403
    assert body["error"]["status"] == "PERMISSION_DENIED"
    assert _fcm_code(body) == "SENDER_ID_MISMATCH"
    assert delivered_stanzas(emu, device.android_id) == []


# --- v1 send: validation and errors ---------------------------------------------------------


async def test_v1_validate_only_checks_without_delivering() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        token = await get_access_token(session, emu)
        ok, body = await v1_send(session, emu, token, {
            "validate_only": True, "message": {"token": device.fcm_token, "data": {"k": "v"}}})  # fmt: skip
        camel, _ = await v1_send(session, emu, token, {
            "validateOnly": True, "message": {"token": device.fcm_token, "data": {"k": "v"}}})  # fmt: skip
        dead, dead_body = await v1_send(session, emu, token, {
            "validate_only": True, "message": {"token": "abc:APA91b" + "x" * 140}})  # fmt: skip
    assert (ok, camel, dead) == (200, 200, 404)
    assert NAME.fullmatch(body["name"])
    assert dead_body == UNREGISTERED
    assert delivered_stanzas(emu, device.android_id) == []


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"token": "abc:APA91b" + "x" * 140}, UNREGISTERED),
        ({"token": "not a token"}, MALFORMED_TOKEN),
        ({"token": "abc:APA91b" + "x" * 140, "data": {"n": 12}}, BAD_DATA_VALUE),
    ],
)
async def test_v1_send_errors_match_googles_bodies_verbatim(
    message: dict[str, Any], expected: dict[str, Any]
) -> None:
    async with Emulator() as emu, client(emu) as session:
        token = await get_access_token(session, emu)
        status, body = await v1_send(session, emu, token, {"message": message})
    assert status == expected["error"]["code"]
    assert body == expected


async def test_v1_send_unknown_field_names_the_field() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        token = await get_access_token(session, emu)
        status, body = await v1_send(session, emu, token, {
            "message": {"token": device.fcm_token, "notification": {"color": "#fff"}}})  # fmt: skip
    assert status == 400
    assert body["error"]["message"] == UNKNOWN_FIELD
    assert body["error"]["details"][0]["fieldViolations"][0]["field"] == "message.notification"


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ({}, "Recipient"),
        ({"token": "TOKEN", "topic": "news"}, "Oneof field 'target' is already set"),
        ({"token": "TOKEN", "data": {"from": "x"}}, "reserved"),
        ({"token": "TOKEN", "data": {"google.x": "x"}}, "reserved"),
        ({"token": "TOKEN", "android": {"data": {"gcm.n.title": "x"}}}, "reserved"),
        ({"token": "TOKEN", "data": {"message_type": "x"}}, "reserved"),
        ({"token": "TOKEN", "android": {"ttl": "2419201s"}}, "TTL"),
        ({"token": "TOKEN", "android": {"ttl": "ten seconds"}}, "Duration"),
        ({"token": "TOKEN", "android": {"priority": "urgent"}}, "TYPE_ENUM"),
        ({"token": "TOKEN", "notification": {"title": 5}}, "TYPE_STRING"),
        ({"token": "TOKEN", "data": ["x"]}, "TYPE_MESSAGE"),
        ({"token": "TOKEN", "webpush": {"fcm_options": {"link": "http://x"}}}, "HTTPS"),
        ({"token": "TOKEN", "webpush": {"headers": {"TTL": "soon"}}}, "TTL"),
        ({"topic": "bad topic!"}, "topic"),
        ({"condition": "'a' in topics &&"}, "condition"),
        ({"condition": " || ".join(f"'t{i}' in topics" for i in range(6))}, "condition"),
        ({"token": "TOKEN", "data": {"k": "x" * 4096}}, "too big"),
        ({"topic": "news", "data": {"k": "x" * 2048}}, "too big"),
    ],
)
async def test_v1_send_rejects_invalid_messages(message: dict[str, Any], fragment: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        token = await get_access_token(session, emu)
        body = json.loads(json.dumps(message).replace("TOKEN", device.fcm_token))
        status, answer = await v1_send(session, emu, token, {"message": body})
    assert status == 400
    assert answer["error"]["status"] == "INVALID_ARGUMENT"
    assert fragment.lower() in answer["error"]["message"].lower()
    assert delivered_stanzas(emu, device.android_id) == []


@pytest.mark.parametrize(("target", "size"), [("token", 4096), ("topic", 2048)])
async def test_v1_send_accepts_payloads_at_the_limit(target: str, size: int) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        token = await get_access_token(session, emu)
        value = "x" * (size - 1)
        message = {"token": device.fcm_token} if target == "token" else {"topic": "news"}
        status, body = await v1_send(
            session, emu, token, {"message": {**message, "data": {"k": value}}}
        )
    assert status == 200, body


@pytest.mark.parametrize(
    "body", [b"{oops", b"[1]", b'{"message": {}, "extra": 1}', b'{"validate_only": "yes"}']
)
async def test_v1_send_rejects_malformed_requests(body: bytes) -> None:
    async with Emulator() as emu, client(emu) as session:
        token = await get_access_token(session, emu)
        status, answer = await v1_send(session, emu, token, body)
    assert status == 400
    assert answer["error"]["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("authorization", "project", "status", "google_status"),
    [
        (None, None, 401, "UNAUTHENTICATED"),
        ("Bearer ya29.forged", None, 401, "UNAUTHENTICATED"),
        ("Basic abc", None, 401, "UNAUTHENTICATED"),
        ("TOKEN", "another-project", 403, "PERMISSION_DENIED"),
    ],
)
async def test_v1_send_requires_a_bearer_token_for_the_project(
    authorization: str | None, project: str | None, status: int, google_status: str
) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        token = await get_access_token(session, emu)
        headers = {}
        if authorization is not None:
            headers["Authorization"] = authorization.replace("TOKEN", f"Bearer {token}")
        url = emu.endpoints.fcm_send_url(project or emu.firebase_config.project_id)
        message = {"message": {"token": device.fcm_token, "data": {"k": "v"}}}
        async with session.post(url, json=message, headers=headers) as response:
            assert response.status == status
            answer = await response.json()
    assert answer["error"]["status"] == google_status
    assert delivered_stanzas(emu, device.android_id) == []


async def test_v1_send_rejects_expired_and_underscoped_tokens() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        expired = await get_access_token(session, emu)
        emu.state.oauth_tokens[expired].expires_at = time.time() - 1
        _, body = await _grant(session, emu, service_assertion(
            emu, scope="https://www.googleapis.com/auth/userinfo.email"))  # fmt: skip
        message = {"message": {"token": device.fcm_token}}
        first, _ = await v1_send(session, emu, expired, message)
        second, _ = await v1_send(session, emu, body["access_token"], message)
    assert (first, second) == (401, 403)


async def test_v1_send_to_deleted_token_is_unregistered() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        token = await get_access_token(session, emu)
        form = {"app": "org.chromium.linux", "X-subtype": "wp:receiver.push.com#3f1c",
                "device": str(device.android_id), "delete": "true"}  # fmt: skip
        async with session.post(
            emu.endpoints.register,
            data=form,
            headers={"Authorization": f"AidLogin {device.android_id}:{device.security_token}"},
        ) as response:
            assert await response.text() == "deleted=org.chromium.linux"
        status, body = await v1_send(session, emu, token, {"message": {"token": device.fcm_token}})
    assert (status, body) == (404, UNREGISTERED)


async def test_v1_send_injected_fault_answers_with_retry_after() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        token = await get_access_token(session, emu)
        emu.faults.http_error("fcm_send", 503, retry_after=2)
        url = emu.endpoints.fcm_send_url(emu.firebase_config.project_id)
        message = {"message": {"token": device.fcm_token}}
        headers = {"Authorization": f"Bearer {token}"}
        async with session.post(url, json=message, headers=headers) as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == "2"
        again, _ = await v1_send(session, emu, token, message)
    assert again == 200


async def test_v1_send_ttl_zero_is_dropped_when_the_device_is_offline() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        token = await get_access_token(session, emu)
        message = {"token": device.fcm_token, "android": {"ttl": "0s"}}
        status, body = await v1_send(session, emu, token, {"message": message})
    assert status == 200
    assert delivered_stanzas(emu, device.android_id) == []
    assert body["name"].rsplit("/", 1)[1] in emu.mailboxes.expired


# --- Emulator.send ------------------------------------------------------------------------


async def test_emulator_send_delivers_and_maps_errors_to_pullkin_exceptions() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        name = await emu.send(device.fcm_token, notification={"title": "t"}, data={"a": "b"})
        with pytest.raises(UnregisteredError) as unregistered:
            await emu.send("abc:APA91b" + "y" * 140, data={"a": "b"})
        with pytest.raises(InvalidArgumentError) as invalid:
            await emu.send(device.fcm_token, data={"a": 1})  # type: ignore[dict-item]
    assert NAME.fullmatch(name)
    [stanza] = delivered_stanzas(emu, device.android_id)
    assert json.loads(decrypt(stanza.raw_data, app_data(stanza), device.keys))["data"] == {"a": "b"}
    assert (unregistered.value.code, unregistered.value.http_status) == ("UNREGISTERED", 404)
    assert unregistered.value.vendor == "fcm"
    assert invalid.value.code == "INVALID_ARGUMENT"


# --- topics -------------------------------------------------------------------------------


async def _iid(session: Any, emu: Emulator, token: str, op: str, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}", "access_token_auth": "true"}
    async with session.post(f"{emu.endpoints.iid}/iid/v1:{op}", json=body, headers=headers) as r:
        return r.status, await r.json()


async def test_iid_batch_add_then_topic_send_reaches_every_subscriber() -> None:
    async with Emulator() as emu, client(emu) as session:
        web = await web_device(session, emu)
        android = await android_device(session, emu)
        token = await get_access_token(session, emu)
        status, body = await _iid(session, emu, token, "batchAdd", {
            "to": "/topics/news",
            "registration_tokens": [web.fcm_token, android.token, "abc:APA91b" + "z" * 140, "bad"],
        })  # fmt: skip
        sent, answer = await v1_send(
            session, emu, token, {"message": {"topic": "news", "data": {"h": "1"}}}
        )
    assert status == 200
    assert body == {"results": [{}, {}, {"error": "NOT_FOUND"}, {"error": "INVALID_ARGUMENT"}]}
    assert sent == 200
    assert NAME.fullmatch(answer["name"])
    [web_stanza] = delivered_stanzas(emu, web.android_id)
    [android_stanza] = delivered_stanzas(emu, android.android_id)
    assert json.loads(decrypt(web_stanza.raw_data, app_data(web_stanza), web.keys))["data"] == {
        "h": "1"}  # fmt: skip
    assert app_data(android_stanza)["h"] == "1"


async def test_iid_batch_remove_stops_topic_delivery() -> None:
    async with Emulator() as emu, client(emu) as session:
        web = await web_device(session, emu)
        token = await get_access_token(session, emu)
        body = {"to": "/topics/news", "registration_tokens": [web.fcm_token]}
        await _iid(session, emu, token, "batchAdd", body)
        status, answer = await _iid(session, emu, token, "batchRemove", body)
        await v1_send(session, emu, token, {"message": {"topic": "news"}})
    assert (status, answer) == (200, {"results": [{}]})
    assert delivered_stanzas(emu, web.android_id) == []


@pytest.mark.parametrize(
    ("body", "auth", "status"),
    [
        ({"to": "/topics/news", "registration_tokens": ["x"]}, False, 401),
        ({"to": "news", "registration_tokens": ["x"]}, True, 400),
        ({"to": "/topics/news", "registration_tokens": []}, True, 400),
        ({"to": "/topics/bad topic", "registration_tokens": ["x"]}, True, 400),
        ("not an object", True, 400),
    ],
)
async def test_iid_batch_rejects_bad_requests(body: Any, auth: bool, status: int) -> None:
    async with Emulator() as emu, client(emu) as session:
        token = await get_access_token(session, emu) if auth else "ya29.forged"
        answer_status, answer = await _iid(session, emu, token, "batchAdd", body)
    assert answer_status == status
    assert isinstance(answer["error"], str)


async def test_condition_send_follows_and_or_not() -> None:
    async with Emulator() as emu, client(emu) as session:
        devices = [await web_device(session, emu) for _ in range(3)]
        token = await get_access_token(session, emu)
        subscriptions = {"a": [0, 1], "b": [1], "c": [2]}
        for topic, members in subscriptions.items():
            tokens = [devices[i].fcm_token for i in members]
            await _iid(session, emu, token, "batchAdd",
                       {"to": f"/topics/{topic}", "registration_tokens": tokens})  # fmt: skip
        condition = "('a' in topics && !('b' in topics)) || \"c\" in topics"
        status, _ = await v1_send(session, emu, token, {"message": {"condition": condition}})
    assert status == 200
    assert [len(delivered_stanzas(emu, d.android_id)) for d in devices] == [1, 0, 1]


async def test_v1_topic_subscriptions_as_firebase_admin_7_sends_them() -> None:
    async with Emulator() as emu, client(emu) as session:
        web = await web_device(session, emu)
        token = await get_access_token(session, emu)
        base = (f"{emu.url}/v1/projects/{emu.firebase_config.project_id}/registrations/"
                f"{web.fcm_token}/topicSubscriptions")  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        statuses = []
        for method, url in [
            ("POST", f"{base}?topic_name=news"),
            ("POST", f"{base}?topic_name=news"),
            ("DELETE", f"{base}/news?allow_missing=true"),
            ("DELETE", f"{base}/news"),
            ("DELETE", f"{base}/news?allow_missing=true"),
        ]:
            async with session.request(method, url, json={}, headers=headers) as response:
                statuses.append(response.status)
        unknown = base.replace(web.fcm_token, "abc:APA91b" + "q" * 140) + "?topic_name=news"
        async with session.post(unknown, json={}, headers=headers) as response:
            statuses.append(response.status)
    assert statuses == [200, 409, 200, 404, 200, 404]
    assert emu.state.topics == {}
