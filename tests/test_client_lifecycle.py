"""``Pullkin.register_app`` with a store, and ``stop()`` without ``async with`` (seed style)."""

from __future__ import annotations

import dataclasses
import gc
import warnings
from pathlib import Path

import pytest

from pullkin import Pullkin
from pullkin.emulator import Emulator
from pullkin.errors import ConfigError
from pullkin.store import CredentialStore

pytestmark = pytest.mark.anyio


async def test_register_app_reuses_the_stored_registration_of_the_same_app(
    emu: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "creds.json"
    async with Pullkin(emu.endpoints, credentials_path=path) as client:
        first = await client.register_app(emu.firebase_config)
    async with Pullkin(emu.endpoints, credentials_path=path) as client:
        again = await client.register_app(emu.firebase_config)
    assert again.fcm.token == first.fcm.token


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"project_id": "other-project"}, "project_id"),
        ({"app_id": "1:424242424242:web:0000"}, "app_id"),
        ({"vapid_key": "vapid"}, "vapid_key"),
    ],
)
async def test_register_app_refuses_stored_credentials_of_another_registration(
    emu: Emulator, tmp_path: Path, change: dict[str, str], named: str
) -> None:
    path = tmp_path / "creds.json"
    async with Pullkin(emu.endpoints, credentials_path=path) as client:
        first = await client.register_app(emu.firebase_config)
    if change.get("vapid_key") == "vapid":
        change = {"vapid_key": emu.vapid_keys.public_key}
    other = dataclasses.replace(emu.firebase_config, **change)
    async with Pullkin(emu.endpoints, credentials_path=path) as client:
        with pytest.raises(ConfigError, match=named) as refused:
            await client.register_app(other)
    assert str(path) in str(refused.value)
    assert "remove" in str(refused.value)  # the way out
    assert CredentialStore.open(path).get(emu.firebase_config.sender_id) == first


async def test_a_rotated_api_key_keeps_the_registration_and_is_stored(
    emu: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "creds.json"
    stale = dataclasses.replace(emu.firebase_config, api_key="AIzaOldKeyRotatedAway")
    async with Pullkin(emu.endpoints, credentials_path=path) as client:
        first = await client.register_app(emu.firebase_config)
    store = CredentialStore.open(path)
    store.put(emu.firebase_config.sender_id, first.replace(config=stale))
    async with Pullkin(emu.endpoints, credentials_path=path) as client:
        again = await client.register_app(emu.firebase_config)
    assert again.fcm.token == first.fcm.token
    stored = CredentialStore.open(path).get(emu.firebase_config.sender_id)
    assert stored is not None
    assert stored.config == emu.firebase_config


async def test_stop_without_async_with_closes_the_http_session(emu: Emulator) -> None:
    client = Pullkin(emu.endpoints)  # the old Pullkin's style: no context manager
    await client.register_app(emu.firebase_config)
    await client.stop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
    assert [str(w.message) for w in caught if "nclosed" in str(w.message)] == []
