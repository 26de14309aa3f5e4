"""Helpers for receiver tests: registrations made directly in emulator state, and
messages queued the way FCM delivers them (independent of the HTTP side)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from typing import Any

import anyio

from pullkin import crypto
from pullkin.emulator import Emulator
from pullkin.emulator.state import Device, FcmRegistration, GcmRegistration
from pullkin.endpoints import DEFAULT_VAPID_KEY
from pullkin.models import AppCredentials, AppCredentialsFcm, AppCredentialsGcm, AppCredentialsKeys
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import SessionConfig

FAST = SessionConfig(
    heartbeat_interval=5.0,
    heartbeat_timeout=2.0,
    reconnect_initial=0.02,
    reconnect_max=0.2,
    stop_timeout=2.0,
)


def register_direct(
    emu: Emulator, device: tuple[int, int] | None = None, *, android: bool = False
) -> AppCredentials:
    """A registration as the emulator would record it, without the HTTP round trips."""
    if device is None:
        device = (secrets.randbelow(1 << 62) + 1, secrets.randbelow(1 << 63) + 1)
    android_id, security_token = device
    emu.state.devices.setdefault(android_id, Device(android_id, security_token))
    gcm_token = f"{secrets.token_urlsafe(8)}:APA91b{secrets.token_urlsafe(40)}"
    now = dt.datetime.now(dt.timezone.utc)
    if android:
        package = emu.android_config.android_package or "com.example"
        emu.state.gcm[gcm_token] = GcmRegistration(
            gcm_token, android_id, package, emu.firebase_config.sender_id,
            emu.firebase_config.sender_id, kind="android",
        )  # fmt: skip
        gcm = AppCredentialsGcm(
            android_id, security_token, token=gcm_token,
            app_id=emu.firebase_config.sender_id, app_name=package,
            sender=emu.firebase_config.sender_id,
        )  # fmt: skip
        return AppCredentials(gcm=gcm, fcm=AppCredentialsFcm(token=gcm_token, created_at=now))
    keys = AppCredentialsKeys.generate()
    subtype = f"wp:receiver.test#{uuid.uuid4()}"
    emu.state.gcm[gcm_token] = GcmRegistration(
        gcm_token, android_id, "org.chromium.linux", subtype, DEFAULT_VAPID_KEY
    )
    fcm_token = f"{secrets.token_urlsafe(8)}:APA91b{secrets.token_urlsafe(60)}"
    emu.state.fcm[fcm_token] = FcmRegistration(
        fcm_token, emu.firebase_config.project_id, gcm_token, keys.public_key, keys.auth_secret
    )
    gcm = AppCredentialsGcm(android_id, security_token, token=gcm_token, app_id=subtype)
    fcm = AppCredentialsFcm(token=fcm_token, created_at=now)
    return AppCredentials(gcm=gcm, fcm=fcm, keys=keys)


def web_stanza(
    credentials: AppCredentials,
    *,
    notification: dict[str, str] | None = None,
    data: dict[str, str] | None = None,
    encoding: crypto.ContentEncoding = "aesgcm",
    raw_body: bytes | None = None,
) -> DataMessageStanza:
    """What FCM puts on the wire for a v1 send to a web registration (fcm-send.md §3.1)."""
    assert credentials.keys is not None
    document: dict[str, Any] = {
        "data": data or {},
        "from": "424242424242",
        "fcmMessageId": str(uuid.uuid4()),
        "priority": "normal",
    }
    if notification is not None:
        document["notification"] = notification
    body = raw_body if raw_body is not None else json.dumps(document).encode()
    payload = crypto.encrypt(
        body, credentials.keys.public_key, credentials.keys.auth_secret, encoding=encoding
    )
    stanza = DataMessageStanza(
        category=credentials.gcm.app_name, raw_data=payload.body, ttl=2419200, id="abc"
    )
    setattr(stanza, "from", credentials.gcm.sender)  # "from" is a Python keyword
    for key, value in {
        **payload.app_data(),
        "subtype": credentials.gcm.app_id,
        "google.source": "webpush",
    }.items():
        stanza.app_data.add(key=key, value=value)
    return stanza


def android_stanza(credentials: AppCredentials, **app_data: str) -> DataMessageStanza:
    stanza = DataMessageStanza(category=credentials.gcm.app_name, token="collapse-1")
    setattr(stanza, "from", credentials.gcm.sender)
    for key, value in app_data.items():
        stanza.app_data.add(key=key, value=value)
    return stanza


def send(emu: Emulator, credentials: AppCredentials, stanza: DataMessageStanza) -> str:
    return emu.mailboxes.enqueue(credentials.gcm.android_id, stanza, ttl=None)


async def wait_for(predicate: Any, within: float = 5.0) -> None:
    """Wait until *predicate()* holds (polling is fine in a test helper)."""
    with anyio.fail_after(within):
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.01)
