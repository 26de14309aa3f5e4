"""The emulator's RFC 8030 Web Push endpoint (fcm-send.md §5, §6): headers, VAPID, sizes
and how the body is forwarded to the device untouched."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from test_emulator_support import (
    WebDevice,
    app_data,
    checkin,
    client,
    delivered_stanzas,
    gcm_token,
    register3,
    web_device,
    web_form,
)

from pullkin.crypto import decrypt, encrypt
from pullkin.emulator import Emulator, VapidKeys

pytestmark = pytest.mark.anyio


def vapid_jwt(keys: VapidKeys, aud: str, exp_in: int = 3600, **extra: Any) -> str:
    claims = {"aud": aud, "exp": int(time.time()) + exp_in, "sub": "mailto:ops@example.com"}
    claims.update(extra)
    return jwt.encode(claims, keys.private_pem, algorithm="ES256")


def vapid_header(keys: VapidKeys, aud: str, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"vapid t={vapid_jwt(keys, aud, **kwargs)}, k={keys.public_key}"}


def aes128gcm_request(device: WebDevice, plaintext: bytes = b"hi") -> tuple[bytes, dict[str, str]]:
    payload = encrypt(plaintext, device.keys.public_key, device.keys.auth_secret)
    return payload.body, {**payload.headers(), "TTL": "30"}


async def post(
    session: Any, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], str]:
    async with session.post(url, data=body, headers=headers) as response:
        return response.status, dict(response.headers), await response.text()


async def test_webpush_forwards_the_aes128gcm_body_untouched() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        body, headers = aes128gcm_request(device, b"plain bytes \x00\x01")
        headers |= vapid_header(emu.vapid_keys, emu.url)
        headers |= {"Urgency": "high", "Topic": "scores"}
        status, answer, _ = await post(
            session, emu.endpoints.webpush_url(device.gcm_token), body, headers
        )
    assert status == 201
    assert answer["TTL"] == "30"
    [stanza] = delivered_stanzas(emu, device.android_id)
    assert answer["Location"] == f"{emu.url}/fcm/send/{stanza.persistent_id.replace('%', '%25')}"
    assert stanza.raw_data == body
    assert app_data(stanza) == {"content-encoding": "aes128gcm",
                                "subtype": "wp:receiver.push.com#3f1c"}  # fmt: skip
    assert (stanza.ttl, stanza.token) == (30, "scores")
    assert getattr(stanza, "from") == device.sender
    assert decrypt(stanza.raw_data, app_data(stanza), device.keys) == b"plain bytes \x00\x01"


async def test_webpush_aesgcm_with_legacy_webpush_authorization() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        payload = encrypt(b"legacy", device.keys.public_key, device.keys.auth_secret,
                          encoding="aesgcm")  # fmt: skip
        token = vapid_jwt(emu.vapid_keys, "https://fcm.googleapis.com")
        headers = {
            "TTL": "10",
            "Content-Encoding": "aesgcm",
            "Encryption": payload.encryption or "",
            "Crypto-Key": f"{payload.crypto_key};p256ecdsa={emu.vapid_keys.public_key}",
            "Authorization": f"WebPush {token}",
        }
        status, _, _ = await post(
            session, f"{emu.url}/wp/{device.gcm_token}", payload.body, headers
        )
    assert status == 201
    [stanza] = delivered_stanzas(emu, device.android_id)
    assert app_data(stanza)["encryption"] == payload.encryption
    assert decrypt(stanza.raw_data, app_data(stanza), device.keys) == b"legacy"


@pytest.mark.parametrize("path", ["fcm/send", "wp", "preprod/wp"])
async def test_webpush_accepts_every_endpoint_path_chromium_hands_out(path: str) -> None:
    # Chromium's GetGcmEndpointForChannel: /fcm/send/ (stable and jmt17 staging),
    # /wp/ and /preprod/wp/ (feature PushMessagingGcmEndpointWebpushPath).
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        body, headers = aes128gcm_request(device, b"any path")
        headers |= vapid_header(emu.vapid_keys, emu.url)
        status, _, _ = await post(session, f"{emu.url}/{path}/{device.gcm_token}", body, headers)
    assert status == 201
    [stanza] = delivered_stanzas(emu, device.android_id)
    assert decrypt(stanza.raw_data, app_data(stanza), device.keys) == b"any path"


async def test_webpush_to_a_numeric_sender_registration_needs_no_vapid() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu, sender=emu.firebase_config.sender_id)
        body, headers = aes128gcm_request(device)
        status, _, _ = await post(
            session, emu.endpoints.webpush_url(device.gcm_token), body, headers
        )
    assert status == 201
    assert len(delivered_stanzas(emu, device.android_id)) == 1


async def test_webpush_empty_body_is_a_payloadless_push() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        headers = {"TTL": "5", **vapid_header(emu.vapid_keys, emu.url)}
        status, _, _ = await post(
            session, emu.endpoints.webpush_url(device.gcm_token), b"", headers
        )
    assert status == 201
    [stanza] = delivered_stanzas(emu, device.android_id)
    assert stanza.raw_data == b""
    assert "content-encoding" not in app_data(stanza)


async def test_webpush_unknown_token_is_404_and_deleted_token_410() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await checkin(session, emu)
        token = await gcm_token(session, emu, device, emu.firebase_config.sender_id)
        form = {**web_form(emu.firebase_config.sender_id), "delete": "true"}
        await register3(session, emu, device, form)
        headers = {"TTL": "5"}
        gone, _, _ = await post(session, emu.endpoints.webpush_url(token), b"", headers)
        unknown, _, _ = await post(
            session, emu.endpoints.webpush_url("abc:APA91bnever"), b"", headers
        )
    assert (gone, unknown) == (410, 404)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no-vapid", 401),
        ("other-key", 403),
        ("wrong-aud", 403),
        ("expired", 403),
        ("exp-too-far", 403),
        ("bad-signature", 403),
        ("garbage-key", 403),
    ],
)
async def test_webpush_checks_vapid_like_rfc_8292(case: str, status: int) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        other = Emulator().vapid_keys
        keys = emu.vapid_keys
        body, headers = aes128gcm_request(device)
        auth = {
            "no-vapid": {},
            "other-key": vapid_header(other, emu.url),
            "wrong-aud": vapid_header(keys, "https://push.example.com"),
            "expired": vapid_header(keys, emu.url, exp_in=-3600),
            "exp-too-far": vapid_header(keys, emu.url, exp_in=48 * 3600),
            "bad-signature": {
                "Authorization": f"vapid t={vapid_jwt(other, emu.url)}, k={keys.public_key}"
            },
            "garbage-key": {"Authorization": f"vapid t={vapid_jwt(keys, emu.url)}, k=zzz"},
        }[case]
        answer, _, _ = await post(
            session, emu.endpoints.webpush_url(device.gcm_token), body, headers | auth
        )
    assert answer == status
    assert delivered_stanzas(emu, device.android_id) == []


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"TTL": None}, 400),
        ({"TTL": "-1"}, 400),
        ({"TTL": "soon"}, 400),
        ({"Urgency": "asap"}, 400),
        ({"Topic": "x" * 33}, 400),
        ({"Topic": "not/base64"}, 400),
        ({"Content-Encoding": None}, 400),
        ({"Content-Encoding": "gzip2"}, 400),
    ],
)
async def test_webpush_rejects_bad_headers(change: dict[str, str | None], status: int) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        body, headers = aes128gcm_request(device)
        headers |= vapid_header(emu.vapid_keys, emu.url)
        for name, value in change.items():
            headers.pop(name, None)
            if value is not None:
                headers[name] = value
        answer, _, _ = await post(
            session, emu.endpoints.webpush_url(device.gcm_token), body, headers
        )
    assert answer == status
    assert delivered_stanzas(emu, device.android_id) == []


async def test_webpush_aesgcm_without_encryption_headers_is_400() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        headers = {
            "TTL": "5",
            "Content-Encoding": "aesgcm",
            **vapid_header(emu.vapid_keys, emu.url),
        }
        answer, _, _ = await post(
            session, emu.endpoints.webpush_url(device.gcm_token), b"x" * 40, headers
        )
    assert answer == 400


@pytest.mark.parametrize(("size", "status"), [(4096, 201), (4097, 413)])
async def test_webpush_body_limit_is_4096_bytes(size: int, status: int) -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        headers = {"TTL": "5", "Content-Encoding": "aes128gcm",
                   **vapid_header(emu.vapid_keys, emu.url)}  # fmt: skip
        answer, _, _ = await post(
            session, emu.endpoints.webpush_url(device.gcm_token), b"\x01" * size, headers
        )
    assert answer == status


async def test_webpush_ttl_is_capped_at_four_weeks() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
        body, headers = aes128gcm_request(device)
        headers |= {"TTL": "99999999", **vapid_header(emu.vapid_keys, emu.url)}
        status, answer, _ = await post(
            session, emu.endpoints.webpush_url(device.gcm_token), body, headers
        )
    assert (status, answer["TTL"]) == (201, "2419200")
