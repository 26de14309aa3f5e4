"""Receivers nobody here wrote, against the emulator: firebase-messaging (PyPI) registers,
logs in over MCS, receives and decrypts what the emulator sends for FCM.

Changed for the emulator: only the hosts (its module constants) and the CA trust (an
aiohttp session with the emulator's CA for HTTP, ``SSL_CERT_FILE`` for its MCS socket,
which it opens with ``ssl.create_default_context()``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from firebase_messaging import (
    FcmPushClient,
    FcmPushClientConfig,
    FcmRegisterConfig,
    fcmpushclient,
    fcmregister,
)

from pullkin.emulator import Emulator

pytestmark = pytest.mark.anyio


@pytest.fixture
async def fm_emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with Emulator() as emu:
        base = emu.url
        for name, url in {
            "GCM_CHECKIN_URL": f"{base}/checkin",
            "GCM_REGISTER_URL": f"{base}/c2dm/register3",
            "FCM_INSTALLATION": f"{base}/v1/",
            "FCM_REGISTRATION": f"{base}/v1/",
            "FCM_SEND_URL": f"{base}/fcm/send/",
        }.items():
            monkeypatch.setattr(fcmregister, name, url)
        monkeypatch.setattr(fcmpushclient, "MCS_HOST", emu.endpoints.mcs_host)
        monkeypatch.setattr(fcmpushclient, "MCS_PORT", emu.endpoints.mcs_port)
        monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_path))
        yield emu


async def test_firebase_messaging_registers_receives_and_decrypts_an_fcm_v1_send(
    fm_emulator: Emulator,
) -> None:
    emu = fm_emulator
    received: asyncio.Queue[tuple[dict[str, Any], str]] = asyncio.Queue()
    config = FcmRegisterConfig(
        project_id=emu.firebase_config.project_id,
        app_id=emu.firebase_config.app_id,
        api_key=emu.firebase_config.api_key,
        messaging_sender_id=emu.firebase_config.sender_id,
        vapid_key=emu.vapid_keys.public_key,
    )
    connector = aiohttp.TCPConnector(ssl=emu.endpoints.ssl_context)
    async with aiohttp.ClientSession(connector=connector) as session:
        push = FcmPushClient(
            lambda note, pid, _: received.put_nowait((note, pid)),
            config,
            config=FcmPushClientConfig(abort_on_sequential_error_count=1),
            http_client_session=session,
        )
        token = await push.checkin_or_register()
        await push.start()
        try:
            name = await emu.send(token, notification={"title": "Hi"}, data={"k": "v"})
            note, persistent_id = await asyncio.wait_for(received.get(), 10)
        finally:
            await push.stop()
    assert name.endswith(persistent_id)
    assert note["notification"] == {"title": "Hi"}
    assert note["data"] == {"k": "v"}
    assert note["from"] == emu.firebase_config.sender_id
