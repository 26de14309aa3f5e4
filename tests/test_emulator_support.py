"""Helpers for the emulator's HTTP tests: a raw client of every Google endpoint.

These speak the wire formats of ../shared/protocol directly (not through pullkin's
client), so the emulator is tested against the facts, not against our own client.
``delivered_stanzas`` is the one place that says how a test sees what reached a
device; it reads the MCS mailbox until the receiver-side assertions replace it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import pytest
from _mcs_raw import RawMcsClient

from pullkin.crypto import generate_keys
from pullkin.emulator import Emulator
from pullkin.models import AppCredentialsKeys
from pullkin.proto.android_checkin_pb2 import (
    DEVICE_CHROME_BROWSER,
    AndroidCheckinProto,
    ChromeBuildProto,
)
from pullkin.proto.checkin_pb2 import AndroidCheckinRequest, AndroidCheckinResponse
from pullkin.proto.mcs_pb2 import DataMessageStanza

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@asynccontextmanager
async def client(emu: Emulator) -> AsyncIterator[aiohttp.ClientSession]:
    context = emu.endpoints.ssl_context
    assert context is not None
    connector = aiohttp.TCPConnector(ssl=context)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def delivered_stanzas(emu: Emulator, android_id: int) -> list[DataMessageStanza]:
    """What the emulator has for the device, oldest first (swap point for MCS tests)."""
    return [pending.stanza for pending in emu.mailboxes.pending(android_id)]


async def mcs_received(
    emu: Emulator, android_id: int, security_token: int, count: int = 1
) -> list[DataMessageStanza]:
    """Log the device in over MCS (codec on a raw TLS socket), read and ack *count*."""
    mcs = await RawMcsClient.connect(emu.endpoints)
    try:
        assert (await mcs.login(android_id, security_token)).ok
        messages = await mcs.data_messages(count)
        await mcs.ack_all(messages)
    finally:
        await mcs.close()
    return [message.stanza for message in messages]


def app_data(stanza: DataMessageStanza) -> dict[str, str]:
    return {item.key: item.value for item in stanza.app_data}


# --- check-in and register3 -----------------------------------------------------


def checkin_body(android_id: int = 0, security_token: int = 0) -> bytes:
    request = AndroidCheckinRequest(
        checkin=AndroidCheckinProto(
            type=DEVICE_CHROME_BROWSER,
            chrome_build=ChromeBuildProto(
                platform=ChromeBuildProto.PLATFORM_LINUX,
                chrome_version="63.0.3234.0",
                channel=ChromeBuildProto.CHANNEL_STABLE,
            ),
        ),
        version=3,
        user_serial_number=0,
    )
    if android_id or security_token:
        request.id = android_id
        request.security_token = security_token
    return request.SerializeToString()


async def checkin(
    session: aiohttp.ClientSession, emu: Emulator, android_id: int = 0, security_token: int = 0
) -> tuple[int, int]:
    async with session.post(
        emu.endpoints.checkin,
        data=checkin_body(android_id, security_token),
        headers={"Content-Type": "application/x-protobuf"},
    ) as response:
        assert response.status == 200, await response.text()
        answer = AndroidCheckinResponse.FromString(await response.read())
    assert answer.stats_ok
    return answer.android_id, answer.security_token


async def register3(
    session: aiohttp.ClientSession,
    emu: Emulator,
    device: tuple[int, int],
    form: dict[str, str],
    authorization: str | None = None,
) -> tuple[int, str]:
    auth = authorization if authorization is not None else f"AidLogin {device[0]}:{device[1]}"
    body = {"device": str(device[0]), **form}
    async with session.post(
        emu.endpoints.register, data=body, headers={"Authorization": auth}
    ) as response:
        return response.status, await response.text()


def web_form(sender: str, subtype: str = "wp:receiver.push.com#3f1c") -> dict[str, str]:
    return {"app": "org.chromium.linux", "X-subtype": subtype, "sender": sender}


async def gcm_token(
    session: aiohttp.ClientSession, emu: Emulator, device: tuple[int, int], sender: str
) -> str:
    status, text = await register3(session, emu, device, web_form(sender))
    assert status == 200
    assert text.startswith("token="), text
    return text.removeprefix("token=")


# --- Firebase Installations and FCM registrations ---------------------------------


def fis_headers(emu: Emulator, **extra: str) -> dict[str, str]:
    return {"x-goog-api-key": emu.firebase_config.api_key, **extra}


def installations_url(emu: Emulator, project: str | None = None) -> str:
    project = project or emu.firebase_config.project_id
    return f"{emu.endpoints.installations}/v1/projects/{project}/installations"


def registrations_url(emu: Emulator, token: str = "", project: str | None = None) -> str:
    project = project or emu.firebase_config.project_id
    url = f"{emu.endpoints.registrations}/v1/projects/{project}/registrations"
    return f"{url}/{token}" if token else url


async def create_installation(
    session: aiohttp.ClientSession, emu: Emulator, app_id: str | None = None, fid: str = ""
) -> dict[str, Any]:
    body = {
        "fid": fid or "dIsVQ2QVRT-TW_Y6AzJdfV",
        "appId": app_id or emu.firebase_config.app_id,
        "authVersion": "FIS_v2",
        "sdkVersion": "w:0.6.6",
    }
    async with session.post(
        installations_url(emu), json=body, headers=fis_headers(emu)
    ) as response:
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
    return result


async def create_registration(
    session: aiohttp.ClientSession,
    emu: Emulator,
    fis_token: str,
    gcm: str,
    keys: AppCredentialsKeys,
) -> tuple[int, dict[str, Any]]:
    body = {
        "web": {
            "endpoint": f"https://fcm.googleapis.com/fcm/send/{gcm}",
            "p256dh": keys.public_key,
            "auth": keys.auth_secret,
        }
    }
    headers = fis_headers(emu, **{"x-goog-firebase-installations-auth": f"FIS {fis_token}"})
    async with session.post(registrations_url(emu), json=body, headers=headers) as response:
        return response.status, await response.json()


@dataclass
class WebDevice:
    """A Chrome-style registration made through the four HTTP steps."""

    android_id: int
    security_token: int
    gcm_token: str
    fcm_token: str
    keys: AppCredentialsKeys
    sender: str
    fid: str


async def web_device(
    session: aiohttp.ClientSession, emu: Emulator, sender: str | None = None
) -> WebDevice:
    device = await checkin(session, emu)
    sender = sender or emu.vapid_keys.public_key
    gcm = await gcm_token(session, emu, device, sender)
    installation = await create_installation(session, emu)
    keys = generate_keys()
    status, body = await create_registration(
        session, emu, installation["authToken"]["token"], gcm, keys
    )
    assert status == 200, body
    return WebDevice(*device, gcm, body["token"], keys, sender, installation["fid"])


def android_form(emu: Emulator, fis_token: str, fid: str, sender: str = "") -> dict[str, str]:
    config = emu.android_config
    sender = sender or config.sender_id
    return {
        "app": config.android_package or "",
        "cert": config.android_cert or "",
        "app_ver": "1",
        "gcm_ver": "231114044",
        "target_ver": "31",
        "sender": sender,
        "X-subtype": sender,
        "X-scope": "*",
        "X-gmp_app_id": config.app_id,
        "X-appid": fid,
        "X-Goog-Firebase-Installations-Auth": fis_token,
        "X-cliv": "fcm-23.1.1",
    }


@dataclass
class AndroidDevice:
    android_id: int
    security_token: int
    token: str
    fid: str


async def android_device(
    session: aiohttp.ClientSession, emu: Emulator, sender: str = ""
) -> AndroidDevice:
    device = await checkin(session, emu)
    installation = await create_installation(session, emu, app_id=emu.android_config.app_id)
    form = android_form(emu, installation["authToken"]["token"], installation["fid"], sender)
    status, text = await register3(session, emu, device, form)
    assert status == 200
    assert text.startswith("token="), text
    return AndroidDevice(*device, text.removeprefix("token="), installation["fid"])


# --- OAuth --------------------------------------------------------------------------


def service_assertion(emu: Emulator, **overrides: Any) -> str:
    info = emu.service_account_info
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": info["client_email"],
        "scope": FCM_SCOPE,
        "aud": "https://oauth2.googleapis.com/token",
        "iat": now,
        "exp": now + 3600,
    }
    key = overrides.pop("key", info["private_key"])
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": info["private_key_id"]})


async def access_token(session: aiohttp.ClientSession, emu: Emulator) -> str:
    form = {"grant_type": JWT_BEARER, "assertion": service_assertion(emu)}
    async with session.post(emu.endpoints.oauth_token, data=form) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
    token: str = body["access_token"]
    return token


async def v1_send(
    session: aiohttp.ClientSession,
    emu: Emulator,
    token: str,
    body: Any,
    project: str | None = None,
) -> tuple[int, dict[str, Any]]:
    url = emu.endpoints.fcm_send_url(project or emu.firebase_config.project_id)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with session.post(url, data=data, headers=headers) as response:
        return response.status, await response.json()


def test_delivered_stanzas_reads_the_device_mailbox() -> None:
    emu = Emulator()
    stanza = DataMessageStanza(category="org.chromium.linux", persistent_id="0:1%ab")
    emu.mailboxes.enqueue(7, stanza, ttl=None)
    assert delivered_stanzas(emu, 7) == [stanza]
    assert delivered_stanzas(emu, 8) == []


@pytest.mark.anyio
async def test_web_device_helper_walks_all_four_steps() -> None:
    async with Emulator() as emu, client(emu) as session:
        device = await web_device(session, emu)
    assert emu.state.fcm[device.fcm_token].gcm_token == device.gcm_token
    assert emu.state.gcm[device.gcm_token].android_id == device.android_id
