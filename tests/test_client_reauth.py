"""Pullkin after a refused MCS login, against the emulator: the device checks in again,
and when the device itself is dead every app of it registers again — each keeps
receiving, the new tokens are stored and reported — or, without the Firebase config to
register with, receiving stops with an error that says what to do."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from _receiver_support import FAST, register_direct, wait_for

from pullkin import Message
from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.errors import ConfigError, LoginError
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import SessionState
from pullkin.store import CredentialStore

pytestmark = pytest.mark.anyio


async def kill_device(emu: Emulator, android_id: int) -> None:
    """The server forgets the device: its next login and check-in are refused."""
    del emu.state.devices[android_id]
    await emu.restart_mcs()


@pytest.mark.parametrize("stored", [True, False], ids=["with a store", "in memory"])
async def test_every_app_of_a_dead_device_registers_again_and_each_keeps_receiving(
    emu: Emulator, tmp_path: Path, stored: bool
) -> None:
    first = register_direct(emu).replace(config=emu.firebase_config)
    device = (first.gcm.android_id, first.gcm.security_token)
    second = register_direct(emu, device).replace(config=emu.firebase_config)
    path = tmp_path / "c.json" if stored else None
    client = Pullkin(emu.endpoints, credentials_path=path, session_config=FAST)
    errors: list[Exception] = []
    client.on_error(lambda error, stanza: errors.append(error))
    seen: list[tuple[str | None, str]] = []

    @client.on_notification()
    async def record(message: Message, stanza: DataMessageStanza) -> None:
        seen.append((message.sender_id, message.data["n"]))

    await client.add_app("a", first)
    await client.add_app("b", second)
    client._start(None)
    await wait_for(lambda: client.state is SessionState.CONNECTED)
    assert len(client.sessions) == 1  # one device, one connection
    await kill_device(emu, first.gcm.android_id)
    await wait_for(lambda: len(errors) == 2, within=15)
    assert sorted(str(e) for e in errors) == [
        "app a was registered again: its FCM token changed",
        "app b was registered again: its FCM token changed",
    ]
    new = client.apps()
    assert new["a"].fcm.token != first.fcm.token
    assert new["b"].fcm.token != second.fcm.token
    # Each registration checked in anew: two devices now, each with its own session.
    assert new["a"].gcm.android_id != new["b"].gcm.android_id
    assert first.gcm.android_id not in {s.device.android_id for s in client.sessions}
    await wait_for(lambda: len(client.sessions) == 2 and client.state is SessionState.CONNECTED)
    if path is not None:
        on_disk = CredentialStore.open(path)
        assert (on_disk.get("a"), on_disk.get("b")) == (new["a"], new["b"])
    await emu.send(new["a"].fcm.token, data={"n": "1"})
    await emu.send(new["b"].fcm.token, data={"n": "2"})
    await wait_for(lambda: len(seen) == 2, within=10)
    assert sorted(seen) == [("a", "1"), ("b", "2")]
    await client.stop()
    await client.aclose()


async def receiving_until_the_device_dies(emu: Emulator) -> tuple[Pullkin, list[Exception]]:
    """A client receiving for an app without a Firebase config (it cannot register
    again by itself), after its device was killed and ``run()`` returned; and the
    errors its ``on_error`` got."""
    credentials = register_direct(emu)
    client = Pullkin(emu.endpoints, session_config=FAST)
    errors: list[Exception] = []
    client.on_error(lambda error, stanza: errors.append(error))
    await client.add_app("1", credentials)
    running = asyncio.ensure_future(client.run())
    await wait_for(lambda: client.state is SessionState.CONNECTED)
    await kill_device(emu, credentials.gcm.android_id)
    await asyncio.wait_for(running, 15)  # run() returns: nothing can receive any more
    return client, errors


async def test_a_dead_device_without_a_firebase_config_stops_receiving_and_says_why(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    client, errors = await receiving_until_the_device_dies(emu)
    [error] = errors
    assert isinstance(error, ConfigError)
    assert "register_app(config)" in str(error)
    assert isinstance(error.__cause__, LoginError)
    assert client.state is SessionState.STOPPED
    assert "receiving stopped for android_id" in caplog.text
    await client.stop()
    await client.aclose()


async def test_run_after_a_session_stopped_for_good_tries_again_instead_of_hanging(
    emu: Emulator,
) -> None:
    client, errors = await receiving_until_the_device_dies(emu)
    assert len(errors) == 1
    # Called again, run() starts a new session for the app (the dead one is replaced),
    # which is refused in turn: run() returns again rather than waiting forever.
    await asyncio.wait_for(client.run(), 15)
    assert len(errors) == 2  # the new session's own refusal
    assert len(client.sessions) == 1
    await client.stop()
    await client.aclose()


async def test_reauthentication_for_a_device_without_apps_is_a_config_error(
    emu: Emulator,
) -> None:
    async with Pullkin(emu.endpoints) as client:
        with pytest.raises(ConfigError, match="no app left for android_id 42"):
            await client._reauthenticate(42, LoginError("refused"))
