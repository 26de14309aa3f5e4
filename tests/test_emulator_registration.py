"""The emulator's registration endpoints against the facts: check-in, register3,
Firebase Installations and FCM registrations, including every kind of bad input."""

from __future__ import annotations

import base64
import gzip
import json
import re
from typing import Any
from urllib.parse import quote

import pytest
from test_emulator_support import (
    android_device,
    android_form,
    checkin,
    checkin_body,
    client,
    create_installation,
    create_registration,
    fis_headers,
    gcm_token,
    installations_url,
    register3,
    registrations_url,
    web_device,
    web_form,
)

from pullkin.crypto import generate_keys
from pullkin.emulator import Emulator
from pullkin.emulator.fcm import send_message
from pullkin.emulator.routes_common import new_registration_token
from pullkin.endpoints import DEFAULT_VAPID_KEY
from pullkin.proto.checkin_pb2 import AndroidCheckinResponse

pytestmark = pytest.mark.anyio

TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{11,22}:APA91b[A-Za-z0-9_-]{100,}")
FID_SHAPE = re.compile(r"[cdef][A-Za-z0-9_-]{21}")
# checkin.md §7, computed first check-in request (no id/token).
FIRST_CHECKIN_HEX = "221560036a110803120b36332e302e333233342e3018017003b00100"


# --- check-in ---------------------------------------------------------------------


async def test_checkin_gives_a_new_client_a_nonzero_pair() -> None:
    async with (
        Emulator() as emu,
        client(emu) as session,
        session.post(emu.endpoints.checkin, data=bytes.fromhex(FIRST_CHECKIN_HEX)) as response,
    ):
        assert response.status == 200
        assert response.content_type == "application/x-protobuf"
        answer = AndroidCheckinResponse.FromString(await response.read())
    assert answer.stats_ok
    assert 0 < answer.android_id < 1 << 63
    assert answer.security_token != 0
    assert answer.time_msec > 1_600_000_000_000
    assert [device.android_id for device in emu.devices()] == [answer.android_id]


async def test_checkin_returning_client_gets_the_same_pair() -> None:
    async with Emulator() as emu, client(emu) as session:
        first = await checkin(session, emu)
        again = await checkin(session, emu, *first)
    assert again == first
    assert len(emu.devices()) == 1


@pytest.mark.parametrize("change", ["token", "id"])
async def test_checkin_rejects_a_pair_it_did_not_issue_with_401(change: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        android_id, token = await checkin(session, emu)
        if change == "token":
            token ^= 1
        else:
            android_id += 1
        async with session.post(
            emu.endpoints.checkin, data=checkin_body(android_id, token)
        ) as response:
            assert response.status == 401


@pytest.mark.parametrize("body", [b"\xff\xff\xff", b"\x10\x01", b""])
async def test_checkin_answers_400_to_malformed_or_checkin_less_bodies(body: bytes) -> None:
    async with (
        Emulator() as emu,
        client(emu) as session,
        session.post(emu.endpoints.checkin, data=body) as response,
    ):
        assert response.status == 400
    assert emu.devices() == []


# --- register3: Chrome web flow ----------------------------------------------------


async def test_register3_web_flow_returns_a_gcm_token() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        status, text = await register3(session, emu, device, web_form(DEFAULT_VAPID_KEY))
    assert status == 200
    token = text.removeprefix("token=")
    assert TOKEN_SHAPE.fullmatch(token), text
    registration = emu.state.gcm[token]
    assert (registration.android_id, registration.kind) == (device[0], "web")
    assert registration.app == "org.chromium.linux"
    assert registration.subtype == "wp:receiver.push.com#3f1c"


async def test_register3_token_starts_with_the_instance_id_the_client_sent() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        form = {**web_form(DEFAULT_VAPID_KEY), "appid": "eXgZ8Ad1Tpw"}
        _, text = await register3(session, emu, device, form)
    assert text.removeprefix("token=").startswith("eXgZ8Ad1Tpw:APA91b"), text


def test_a_token_made_without_an_instance_id_starts_as_chrome_instance_ids_do() -> None:
    # Top nibble 0111: base64url 'c'..'f'; never '-', which a command line takes for a
    # flag (pullkin send fcm --token -abc… failed now and then).
    prefixes = {new_registration_token().split(":", 1)[0] for _ in range(400)}
    assert {p[0] for p in prefixes} == set("cdef")
    assert all(len(p) == 11 for p in prefixes)
    assert new_registration_token("not a valid id!").split(":")[0][0] in "cdef"


@pytest.mark.parametrize("sender", ["424242424242", "1234,5678"])
async def test_register3_accepts_numeric_sender_ids(sender: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        status, text = await register3(session, emu, device, web_form(sender))
    assert (status, text[:6]) == (200, "token=")


async def test_register3_same_registration_twice_gives_the_same_token() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        first = await gcm_token(session, emu, device, DEFAULT_VAPID_KEY)
        second = await gcm_token(session, emu, device, DEFAULT_VAPID_KEY)
        _, other = await register3(
            session, emu, device, web_form(DEFAULT_VAPID_KEY, subtype="wp:other#1")
        )
    assert first == second
    assert other.removeprefix("token=") != first


@pytest.mark.parametrize(
    "authorization",
    ["", "AidLogin", "AidLogin 12:", "Bearer 1:2", "AidLogin x:y", "AidLogin {aid}:{wrong}"],
)
async def test_register3_bad_aidlogin_is_authentication_failed(authorization: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        auth = authorization.format(aid=device[0], wrong=device[1] ^ 1)
        status, text = await register3(
            session, emu, device, web_form(DEFAULT_VAPID_KEY), authorization=auth
        )
    assert (status, text) == (200, "Error=AUTHENTICATION_FAILED")


@pytest.mark.parametrize("device_field", ["0", "", "123456789", "abc"])
async def test_register3_unknown_device_is_phone_registration_error(device_field: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        form = {**web_form(DEFAULT_VAPID_KEY), "device": device_field}
        status, text = await register3(session, emu, device, form)
    assert (status, text) == (200, "Error=PHONE_REGISTRATION_ERROR")


@pytest.mark.parametrize("missing", ["app", "sender"])
async def test_register3_missing_field_is_invalid_parameters(missing: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        form = web_form(DEFAULT_VAPID_KEY)
        del form[missing]
        status, text = await register3(session, emu, device, form)
    assert (status, text) == (200, "Error=INVALID_PARAMETERS")


@pytest.mark.parametrize(
    "sender",
    [
        "not a key",
        base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).decode().rstrip("="),  # off-curve
        base64.urlsafe_b64encode(b"\x04" + b"\x01" * 30).decode().rstrip("="),  # short
        "12a4",
    ],
)
async def test_register3_rejects_a_sender_that_is_neither_id_nor_key(sender: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        status, text = await register3(session, emu, device, web_form(sender))
    assert (status, text) == (200, "Error=INVALID_SENDER")


async def test_register3_injected_phone_registration_error_then_success() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        emu.faults.register_error(times=2)
        answers = [
            (await register3(session, emu, device, web_form(DEFAULT_VAPID_KEY)))[1]
            for _ in range(3)
        ]
    assert answers[:2] == ["Error=PHONE_REGISTRATION_ERROR"] * 2
    assert answers[2].startswith("token=")


async def test_register3_web_unregister_deletes_the_token_and_its_fcm_tokens() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        form = {"app": "org.chromium.linux", "X-subtype": "wp:receiver.push.com#3f1c",
                "delete": "true", "gcm_unreg_caller": "false"}  # fmt: skip
        status, text = await register3(
            session, emu, (device.android_id, device.security_token), form
        )
    assert (status, text) == (200, "deleted=org.chromium.linux")
    assert device.gcm_token not in emu.state.gcm
    assert device.fcm_token not in emu.state.fcm
    assert {device.gcm_token, device.fcm_token} <= emu.state.deleted_tokens


async def test_register3_instance_id_delete_answers_with_token() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        token = await gcm_token(session, emu, device, DEFAULT_VAPID_KEY)
        form = {**web_form(DEFAULT_VAPID_KEY), "delete": "true", "scope": "GCM",
                "X-scope": "GCM", "appid": "abc", "gmsv": "63"}  # fmt: skip
        status, text = await register3(session, emu, device, form)
    assert (status, text) == (200, f"token={token}")
    assert token not in emu.state.gcm


# What Chromium 156 sends for PushManager.subscribe() and PushSubscription.unsubscribe()
# (recorded from Debian's chromium 156.0.8078.114 against the emulator).
CHROMIUM_SUBTYPE = "wp:http://localhost:8000/#B1487687-57BE-45ED-A048-FD9556771-V2"


def chromium_subscribe_form(sender: str) -> dict[str, str]:
    return {"app": "org.chromium.linux", "X-subtype": CHROMIUM_SUBTYPE, "scope": "GCM",
            "X-scope": "GCM", "gmsv": "156", "appid": "eUSNIdYbgb0", "sender": sender}  # fmt: skip


def chromium_unsubscribe_form() -> dict[str, str]:
    return {"app": "org.chromium.linux", "X-subtype": CHROMIUM_SUBTYPE, "delete": "true",
            "appid": "eUSNIdYbgb0", "sender": "*", "scope": "*", "X-scope": "*",
            "gmsv": "156"}  # fmt: skip


async def test_register3_chromium_unsubscribe_deletes_the_subscription_and_answers_token() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        _, text = await register3(session, emu, device, chromium_subscribe_form(DEFAULT_VAPID_KEY))
        token = text.removeprefix("token=")
        assert token in emu.state.gcm
        status, text = await register3(session, emu, device, chromium_unsubscribe_form())
    # InstanceIDDeleteTokenRequestHandler accepts only a body holding "token=".
    assert (status, text) == (200, f"token={token}")
    assert token not in emu.state.gcm
    assert token in emu.state.deleted_tokens


async def test_register3_wildcard_delete_spares_other_subscriptions_of_the_device() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        other = await gcm_token(session, emu, device, DEFAULT_VAPID_KEY)
        await register3(session, emu, device, chromium_subscribe_form(DEFAULT_VAPID_KEY))
        await register3(session, emu, device, chromium_unsubscribe_form())
    assert other in emu.state.gcm


async def test_register3_instance_id_delete_of_another_instance_deletes_nothing() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        _, text = await register3(session, emu, device, chromium_subscribe_form(DEFAULT_VAPID_KEY))
        form = {**chromium_unsubscribe_form(), "appid": "cOtherInst0"}
        status, answer = await register3(session, emu, device, form)
    assert (status, answer) == (200, "token=")
    assert text.removeprefix("token=") in emu.state.gcm


async def test_register3_unregister_checks_device_credentials() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        token = await gcm_token(session, emu, device, DEFAULT_VAPID_KEY)
        form = {**web_form(DEFAULT_VAPID_KEY), "delete": "true"}
        _, text = await register3(
            session, emu, device, form, authorization=f"AidLogin {device[0]}:{device[1] ^ 2}"
        )
    assert text == "Error=AUTHENTICATION_FAILED"
    assert token in emu.state.gcm


# --- register3: Android-app flow ---------------------------------------------------


async def test_register3_android_flow_returns_the_fcm_token() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await android_device(session, emu)
    registration = emu.state.gcm[device.token]
    assert TOKEN_SHAPE.fullmatch(device.token)
    assert registration.kind == "android"
    assert registration.app == emu.android_config.android_package
    assert registration.project_id == emu.firebase_config.project_id
    assert registration.fid == device.fid


async def test_register3_android_flow_accepts_x_gms_app_id_spelling() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        installation = await create_installation(session, emu, emu.android_config.app_id)
        form = android_form(emu, installation["authToken"]["token"], installation["fid"])
        form["X-gms_app_id"] = form.pop("X-gmp_app_id")
        del form["X-appid"]  # LC leaves it out
        status, text = await register3(session, emu, device, form)
    assert (status, text[:6]) == (200, "token=")


@pytest.mark.parametrize("fis", ["", "not-a-fis-token"])
async def test_register3_android_flow_checks_the_fis_auth_token(fis: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        installation = await create_installation(session, emu, emu.android_config.app_id)
        form = android_form(emu, fis, installation["fid"])
        status, text = await register3(session, emu, device, form)
    assert (status, text) == (200, "Error=AUTHENTICATION_FAILED")


async def test_register3_android_flow_rejects_a_web_installation() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        installation = await create_installation(session, emu)  # the web app's
        form = android_form(emu, installation["authToken"]["token"], installation["fid"])
        _, text = await register3(session, emu, device, form)
    assert text == "Error=AUTHENTICATION_FAILED"


async def test_register3_android_flow_rejects_a_vapid_key_sender() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        installation = await create_installation(session, emu, emu.android_config.app_id)
        form = android_form(emu, installation["authToken"]["token"], installation["fid"])
        form["sender"] = DEFAULT_VAPID_KEY
        _, text = await register3(session, emu, device, form)
    assert text == "Error=INVALID_SENDER"


async def test_register3_android_unregister_answers_deleted_package() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await android_device(session, emu)
        form = {"app": emu.android_config.android_package or "", "sender": emu.android_config.sender_id,
                "X-subtype": emu.android_config.sender_id, "delete": "1", "X-delete": "1",
                "cert": emu.android_config.android_cert or ""}  # fmt: skip
        _, text = await register3(session, emu, (device.android_id, device.security_token), form)
    assert text == f"deleted={emu.android_config.android_package}"
    assert device.token in emu.state.deleted_tokens


# --- Firebase Installations --------------------------------------------------------


def _google_error(body: dict[str, object], code: int, status: str) -> dict[str, object]:
    error = body["error"]
    assert isinstance(error, dict)
    assert (error["code"], error["status"]) == (code, status)
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


async def test_fis_create_returns_fid_tokens_and_a_week_of_validity() -> None:
    async with Emulator() as emu, client(emu) as session:
        body = await create_installation(session, emu, fid="dIsVQ2QVRT-TW_Y6AzJdfV")
    assert body["fid"] == "dIsVQ2QVRT-TW_Y6AzJdfV"
    assert body["name"] == f"projects/{emu.firebase_config.sender_id}/installations/{body['fid']}"
    assert body["refreshToken"].startswith("1_")
    assert body["authToken"]["expiresIn"] == "604800s"
    assert body["authToken"]["token"].count(".") == 2


@pytest.mark.parametrize("fid", ["cXz8yXd3ZTtLmYjUj2ykRAA=", "fAKE+id/with+slashes", ""])
async def test_fis_create_replaces_a_nonconforming_fid(fid: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        body = await create_installation(session, emu, fid=fid or "x")
    assert FID_SHAPE.fullmatch(body["fid"])
    assert body["fid"] in emu.state.installations


async def test_fis_create_android_style_key_query_and_gzip_body() -> None:
    async with Emulator() as emu, client(emu) as session:
        config = emu.android_config
        body = {"fid": "fZ0Yi0Hs3JqBlJ8Gse6Hb2", "appId": config.app_id,
                "authVersion": "FIS_v2", "sdkVersion": "a:17.0.0"}  # fmt: skip
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json",
                   "X-Android-Package": config.android_package or "",
                   "X-Android-Cert": (config.android_cert or "").upper()}  # fmt: skip
        async with session.post(
            installations_url(emu) + f"?key={config.api_key}",
            data=gzip.compress(json.dumps(body).encode()),
            headers=headers,
        ) as response:
            assert response.status == 200, await response.text()
            answer = await response.json()
    assert answer["fid"] == "fZ0Yi0Hs3JqBlJ8Gse6Hb2"


@pytest.mark.parametrize(
    ("headers", "query"),
    [({}, ""), ({"x-goog-api-key": "AIzaWrong"}, ""), ({}, "?key=AIzaWrong")],
)
async def test_fis_create_without_the_api_key_is_403(headers: dict[str, str], query: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        body = {"fid": "dIsVQ2QVRT-TW_Y6AzJdfV", "appId": emu.firebase_config.app_id,
                "authVersion": "FIS_v2", "sdkVersion": "w:0.6.6"}  # fmt: skip
        async with session.post(installations_url(emu) + query, json=body, headers=headers) as r:
            assert r.status == 403
            _google_error(await r.json(), 403, "PERMISSION_DENIED")


async def test_fis_create_from_another_android_package_is_403() -> None:
    async with Emulator() as emu, client(emu) as session:
        body = {"appId": emu.android_config.app_id, "authVersion": "FIS_v2", "fid": ""}
        headers = fis_headers(emu, **{"X-Android-Package": "com.evil.app"})
        async with session.post(installations_url(emu), json=body, headers=headers) as r:
            assert r.status == 403
            _google_error(await r.json(), 403, "PERMISSION_DENIED")


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"appId": "1:1:web:unknown", "authVersion": "FIS_v2"}',
     b'{"authVersion": "FIS_v2"}', b'{"appId": "APP", "authVersion": "FIS_v1"}'],
)  # fmt: skip
async def test_fis_create_bad_body_is_400_invalid_argument(body: bytes) -> None:
    async with Emulator() as emu, client(emu) as session:
        data = body.replace(b"APP", emu.firebase_config.app_id.encode())
        async with session.post(
            installations_url(emu), data=data, headers=fis_headers(emu)
        ) as response:
            assert response.status == 400
            _google_error(await response.json(), 400, "INVALID_ARGUMENT")


async def test_fis_create_for_another_project_is_403() -> None:
    async with Emulator() as emu, client(emu) as session:
        body = {"appId": emu.firebase_config.app_id, "authVersion": "FIS_v2", "fid": ""}
        async with session.post(
            installations_url(emu, "someone-else"), json=body, headers=fis_headers(emu)
        ) as response:
            assert response.status == 403


def _token_url(emu: Emulator, fid: str) -> str:
    return f"{installations_url(emu)}/{fid}/authTokens:generate"


async def test_fis_generate_auth_token_replaces_the_auth_token() -> None:
    async with Emulator() as emu, client(emu) as session:
        created = await create_installation(session, emu)
        headers = fis_headers(emu, Authorization=f"FIS_v2 {created['refreshToken']}")
        body = {"installation": {"sdkVersion": "w:0.6.6"}}
        async with session.post(
            _token_url(emu, created["fid"]), json=body, headers=headers
        ) as response:
            assert response.status == 200
            answer = await response.json()
        device = await checkin(session, emu)
        gcm = await gcm_token(session, emu, device, DEFAULT_VAPID_KEY)
        old, _ = await create_registration(
            session, emu, created["authToken"]["token"], gcm, generate_keys()
        )
        new, _ = await create_registration(session, emu, answer["token"], gcm, generate_keys())
    assert answer["expiresIn"] == "604800s"
    assert answer["token"] != created["authToken"]["token"]
    assert (old, new) == (401, 200)


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("FIS_v2 1_wrong", 401), ("Bearer {refresh}", 401)],
)
async def test_fis_generate_auth_token_needs_the_refresh_token(
    authorization: str | None, status: int
) -> None:
    async with Emulator() as emu, client(emu) as session:
        created = await create_installation(session, emu)
        headers = fis_headers(emu)
        if authorization is not None:
            headers["Authorization"] = authorization.format(refresh=created["refreshToken"])
        async with session.post(_token_url(emu, created["fid"]), json={}, headers=headers) as r:
            assert r.status == status
            _google_error(await r.json(), 401, "UNAUTHENTICATED")


async def test_fis_generate_auth_token_for_unknown_fid_is_404() -> None:
    async with Emulator() as emu, client(emu) as session:
        created = await create_installation(session, emu)
        headers = fis_headers(emu, Authorization=f"FIS_v2 {created['refreshToken']}")
        async with session.post(_token_url(emu, "cAAAAAAAAAAAAAAAAAAAAA"), headers=headers) as r:
            assert r.status == 404
            _google_error(await r.json(), 404, "NOT_FOUND")


async def test_fis_delete_removes_the_installation_and_its_tokens() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        installation = emu.state.installations[device.fid]
        headers = fis_headers(emu, Authorization=f"FIS_v2 {installation.refresh_token}")
        url = f"{installations_url(emu)}/{device.fid}"
        async with session.delete(url, headers=headers) as response:
            assert response.status == 200
        async with session.delete(url, headers=headers) as response:
            assert response.status == 404
    assert device.fid not in emu.state.installations
    assert device.fcm_token in emu.state.deleted_tokens


# --- FCM registrations -------------------------------------------------------------


async def test_fcm_registration_create_mints_a_token_and_echoes_the_subscription() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        gcm = await gcm_token(session, emu, device, emu.vapid_keys.public_key)
        installation = await create_installation(session, emu)
        keys = generate_keys()
        status, body = await create_registration(
            session, emu, installation["authToken"]["token"], gcm, keys
        )
    assert status == 200
    assert TOKEN_SHAPE.fullmatch(body["token"])
    assert (
        body["name"] == f"projects/{emu.firebase_config.project_id}/registrations/{body['token']}"
    )
    assert body["web"]["p256dh"] == keys.public_key
    registration = emu.state.fcm[body["token"]]
    assert (registration.gcm_token, registration.auth) == (gcm, keys.auth_secret)


async def test_fcm_registration_accepts_bare_fis_token_padded_keys_and_wp_endpoint() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        gcm = await gcm_token(session, emu, device, DEFAULT_VAPID_KEY)
        installation = await create_installation(session, emu)
        keys = generate_keys()
        body = {"web": {
            "endpoint": f"{emu.url}/wp/{gcm}",
            "p256dh": base64.b64encode(keys.public_bytes).decode(),
            "auth": base64.b64encode(keys.auth_bytes).decode(),
            "applicationPubKey": "",
        }}  # fmt: skip
        headers = fis_headers(
            emu, **{"x-goog-firebase-installations-auth": installation["authToken"]["token"]}
        )
        async with session.post(registrations_url(emu), json=body, headers=headers) as response:
            assert response.status == 200, await response.text()
            answer = await response.json()
    assert emu.state.fcm[answer["token"]].p256dh == keys.public_key


@pytest.mark.parametrize(
    "prefix",
    [
        "https://fcm.googleapis.com/fcm/send/",  # Chrome Stable
        "https://jmt17.google.com/fcm/send/",  # every other Chromium channel
        "https://fcm.googleapis.com/wp/",  # PushMessagingGcmEndpointWebpushPath
        "https://fcm.googleapis.com/preprod/wp/",  # the same, not Stable
        "EMU/preprod/wp/",
    ],
)
async def test_fcm_registration_accepts_every_endpoint_chromium_hands_out(prefix: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        gcm = await gcm_token(session, emu, device, DEFAULT_VAPID_KEY)
        installation = await create_installation(session, emu)
        keys = generate_keys()
        body = {"web": {"endpoint": prefix.replace("EMU", emu.url) + gcm,
                        "p256dh": keys.public_key, "auth": keys.auth_secret}}  # fmt: skip
        fis = installation["authToken"]["token"]
        headers = fis_headers(emu, **{"x-goog-firebase-installations-auth": f"FIS {fis}"})
        async with session.post(registrations_url(emu), json=body, headers=headers) as response:
            assert response.status == 200, await response.text()
            token = (await response.json())["token"]
    assert emu.state.fcm[token].gcm_token == gcm


async def fid_registration(
    session: Any, emu: Emulator
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """What the Firebase JS SDK 13's register() sends: the subscription, the page's
    host as web.origin, and fcm_sdk_version (its marker of the FID-based flow)."""
    device = await checkin(session, emu)
    gcm = await gcm_token(session, emu, device, emu.vapid_keys.public_key)
    installation = await create_installation(session, emu)
    keys = generate_keys()
    body = {"web": {"origin": "localhost:5173",
                    "endpoint": f"https://jmt17.google.com/fcm/send/{gcm}",
                    "auth": keys.auth_secret, "p256dh": keys.public_key,
                    "applicationPubKey": emu.vapid_keys.public_key},
            "fcm_sdk_version": "0.13.3"}  # fmt: skip
    fis = installation["authToken"]["token"]
    headers = fis_headers(emu, **{"x-goog-firebase-installations-auth": f"FIS {fis}"})
    async with session.post(registrations_url(emu), json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        answer = await response.json()
    return installation, answer, headers


async def test_fid_registration_is_named_by_the_installation_and_deleted_by_it() -> None:
    async with Emulator() as emu, client(emu) as session:
        installation, answer, headers = await fid_registration(session, emu)
        fid = installation["fid"]
        # The SDK takes the FID after "/registrations/" and requires it to be its own.
        assert answer["name"] == f"projects/{emu.firebase_config.project_id}/registrations/{fid}"
        [registration] = [r for r in emu.state.fcm.values() if r.fid == fid]
        # FCM v1's fid target (firebase-admin: Message(fid=...)) reaches it.
        send_message(emu, emu.firebase_config.project_id, {"fid": fid, "data": {"to": "fid"}})
        found = emu.state.device_of_token(registration.token)
        assert found is not None
        assert len(emu.mailboxes.pending(found[0])) == 1
        async with session.delete(registrations_url(emu, fid), headers=headers) as response:
            assert response.status == 200, await response.text()
            assert await response.json() == {}
    assert registration.token not in emu.state.fcm
    assert registration.token in emu.state.deleted_tokens


async def test_fcm_registration_create_twice_gives_the_same_token() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        installation = emu.state.installations[device.fid]
        _, again = await create_registration(
            session, emu, installation.auth_token, device.gcm_token, device.keys
        )
    assert again["token"] == device.fcm_token


@pytest.mark.parametrize(
    ("change", "status", "google_status"),
    [
        ("no-api-key", 403, "PERMISSION_DENIED"),
        ("no-fis", 401, "UNAUTHENTICATED"),
        ("bad-fis", 401, "UNAUTHENTICATED"),
        ("unknown-gcm", 400, "INVALID_ARGUMENT"),
        ("foreign-endpoint", 400, "INVALID_ARGUMENT"),
        ("short-p256dh", 400, "INVALID_ARGUMENT"),
        ("long-auth", 400, "INVALID_ARGUMENT"),
        ("no-web", 400, "INVALID_ARGUMENT"),
        ("bad-json", 400, "INVALID_ARGUMENT"),
    ],
)
async def test_fcm_registration_create_rejects_bad_requests(
    change: str, status: int, google_status: str
) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        gcm = await gcm_token(session, emu, device, DEFAULT_VAPID_KEY)
        installation = await create_installation(session, emu)
        keys = generate_keys()
        web = {"endpoint": f"https://fcm.googleapis.com/fcm/send/{gcm}",
               "p256dh": keys.public_key, "auth": keys.auth_secret}  # fmt: skip
        headers = fis_headers(
            emu, **{"x-goog-firebase-installations-auth": installation["authToken"]["token"]}
        )
        data = None
        if change == "no-api-key":
            del headers["x-goog-api-key"]
        elif change == "no-fis":
            del headers["x-goog-firebase-installations-auth"]
        elif change == "bad-fis":
            headers["x-goog-firebase-installations-auth"] = "FIS nope"
        elif change == "unknown-gcm":
            web["endpoint"] = "https://fcm.googleapis.com/fcm/send/abc:APA91bxyz"
        elif change == "foreign-endpoint":
            web["endpoint"] = f"https://push.example.com/{gcm}"
        elif change == "short-p256dh":
            web["p256dh"] = keys.public_key[:40]
        elif change == "long-auth":
            web["auth"] = keys.public_key
        elif change == "bad-json":
            data = b'{"web": '
        payload = {"web": web} if change != "no-web" else {"webpush": web}
        async with session.post(
            registrations_url(emu),
            data=data if data is not None else json.dumps(payload).encode(),
            headers={**headers, "Content-Type": "application/json"},
        ) as response:
            assert response.status == status
            _google_error(await response.json(), status, google_status)
    assert emu.state.fcm == {}


async def test_fcm_registration_bad_key_names_the_field() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        gcm = await gcm_token(session, emu, device, DEFAULT_VAPID_KEY)
        installation = await create_installation(session, emu)
        keys = generate_keys()
        bad = type(keys).__new__(type(keys))
        object.__setattr__(bad, "public_key", keys.public_key[:20])
        object.__setattr__(bad, "auth_secret", keys.auth_secret)
        status, body = await create_registration(
            session, emu, installation["authToken"]["token"], gcm, bad
        )
    assert status == 400
    details = _google_error(body, 400, "INVALID_ARGUMENT")["details"]
    assert isinstance(details, list)
    assert details[0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert details[0]["fieldViolations"][0]["field"] == "web.p256dh"


def _registration_headers(emu: Emulator, fis: str) -> dict[str, str]:
    return fis_headers(emu, **{"x-goog-firebase-installations-auth": f"FIS {fis}"})


async def test_fcm_registration_get_patch_delete() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        headers = _registration_headers(emu, emu.state.installations[device.fid].auth_token)
        url = registrations_url(emu, quote(device.fcm_token, safe=""))
        async with session.get(url, headers=headers) as response:
            assert response.status == 200
            assert (await response.json())["token"] == device.fcm_token
        keys = generate_keys()
        body = {"web": {"endpoint": f"https://fcm.googleapis.com/fcm/send/{device.gcm_token}",
                        "p256dh": keys.public_key, "auth": keys.auth_secret}}  # fmt: skip
        async with session.patch(url, json=body, headers=headers) as response:
            assert response.status == 200
            assert (await response.json())["token"] == device.fcm_token
        assert emu.state.fcm[device.fcm_token].p256dh_bytes == keys.public_bytes
        async with session.delete(url, headers=headers) as response:
            assert response.status == 200
            assert await response.json() == {}
        async with session.get(url, headers=headers) as response:
            assert response.status == 404
            _google_error(await response.json(), 404, "NOT_FOUND")
    assert device.fcm_token in emu.state.deleted_tokens


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_fcm_registration_operations_need_the_fis_token(method: str) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        url = registrations_url(emu, device.fcm_token)
        async with session.request(method, url, headers=fis_headers(emu), json={}) as response:
            assert response.status == 401
            _google_error(await response.json(), 401, "UNAUTHENTICATED")
    assert device.fcm_token in emu.state.fcm
