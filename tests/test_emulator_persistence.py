"""``state_dir``: a restarted emulator keeps its identity, devices, tokens and queues."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from test_emulator_support import (
    access_token,
    android_device,
    app_data,
    checkin,
    client,
    delivered_stanzas,
    v1_send,
    web_device,
)

from pullkin.crypto import decrypt
from pullkin.emulator import Emulator, persist
from pullkin.errors import ConfigError

pytestmark = pytest.mark.anyio


async def test_restart_with_state_dir_keeps_identity_devices_tokens_and_queues(
    tmp_path: Path,
) -> None:
    async with Emulator(state_dir=tmp_path) as first, client(first) as session:
        web = await web_device(session, first)
        android = await android_device(session, first)
        token = await access_token(session, first)
        status, body = await v1_send(
            session, first, token, {"message": {"token": web.fcm_token, "data": {"n": "1"}}}
        )
        assert status == 200
        identity = (first.firebase_config, first.android_config, first.vapid_keys,
                    first.service_account_info["private_key"])  # fmt: skip
        ca = first.ca_path.read_bytes()
    assert stat.S_IMODE((tmp_path / persist.DB_NAME).stat().st_mode) == 0o600

    async with Emulator(state_dir=tmp_path) as second, client(second) as session:
        again = (second.firebase_config, second.android_config, second.vapid_keys,
                 second.service_account_info["private_key"])  # fmt: skip
        assert again == identity
        assert second.ca_path.read_bytes() == ca
        assert await checkin(session, second, web.android_id, web.security_token) == (
            web.android_id, web.security_token)  # fmt: skip
        [queued] = delivered_stanzas(second, web.android_id)
        assert body["name"].endswith(queued.persistent_id)
        assert json.loads(decrypt(queued.raw_data, app_data(queued), web.keys))["data"] == {
            "n": "1"}  # fmt: skip
        status, _ = await v1_send(
            session, second, token, {"message": {"token": android.token, "data": {"n": "2"}}}
        )
    assert status == 200
    assert len(delivered_stanzas(second, android.android_id)) == 1


async def test_memory_mode_uses_the_null_store() -> None:
    async with Emulator() as emu, client(emu) as session:
        await web_device(session, emu)
        assert isinstance(emu.store, persist.NullStore)
    assert emu.state_dir is None


async def test_unreadable_state_database_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / persist.DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="state database"):
        async with Emulator(state_dir=tmp_path):
            pass


async def test_confirmed_messages_are_not_restored(tmp_path: Path) -> None:
    async with Emulator(state_dir=tmp_path) as first, client(first) as session:
        device = await web_device(session, first)
        await first.send(device.fcm_token, data={"a": "b"})
        [stanza] = delivered_stanzas(first, device.android_id)
        first.mailboxes.confirm(device.android_id, [stanza.persistent_id])
    async with Emulator(state_dir=tmp_path) as second:
        assert delivered_stanzas(second, device.android_id) == []
