"""Apps under keys of their own, ``start`` and ``stop_device``: what one client
receiving for many devices of one sender id (a fleet worker) needs, with messages
carrying the true sender id and the old API (keyed by sender id) unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from _receiver_support import FAST, register_direct, send, wait_for, web_stanza

from pullkin import Message
from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.errors import ConfigError
from pullkin.local_store import LocalStore
from pullkin.proto.mcs_pb2 import DataMessageStanza

pytestmark = pytest.mark.anyio

SENDER = "424242424242"


def _receiver(emu: Emulator, path: Path, seen: list[Message]) -> Pullkin:
    client = Pullkin(emu.endpoints, credentials_path=path, session_config=FAST)

    @client.on_notification()
    async def record(message: Message, stanza: DataMessageStanza) -> None:
        seen.append(message)

    return client


async def test_two_devices_of_one_sender_under_their_own_keys(
    emu: Emulator, tmp_path: Path
) -> None:
    """Each app is stored and selected by its key; its messages carry the sender id."""
    alice, bob = register_direct(emu), register_direct(emu)
    seen: list[Message] = []
    client = _receiver(emu, tmp_path / "c.json", seen)
    await client.add_app(SENDER, alice, key="alice")
    await client.add_app(SENDER, bob, key="bob")
    assert set(client.apps()) == {"alice", "bob"}
    await client.start()
    pids = {
        send(emu, alice, web_stanza(alice, data={"to": "alice"})): "alice",
        send(emu, bob, web_stanza(bob, data={"to": "bob"})): "bob",
    }
    await wait_for(lambda: len(seen) == 2)
    assert {(m.sender_id, m.data["to"]) for m in seen} == {(SENDER, "alice"), (SENDER, "bob")}
    await client.stop()
    await client.aclose()
    store = LocalStore.open(tmp_path / "c.json")
    try:
        assert sorted(await store.sender_ids()) == ["alice", "bob"]
        assert await store.get_credentials("bob") == bob
        for pid, key in pids.items():
            assert (await store.load_ids(key)).handled == [pid]
    finally:
        await store.aclose()


async def test_stop_by_sender_id_stops_every_app_of_that_sender(
    emu: Emulator, tmp_path: Path
) -> None:
    alice, bob, other = register_direct(emu), register_direct(emu), register_direct(emu)
    client = _receiver(emu, tmp_path / "c.json", [])
    await client.add_app(SENDER, alice, key="alice")
    await client.add_app(SENDER, bob, key="bob")
    await client.add_app("777", other)
    await client.wait_connected()
    await client.stop("alice")  # by key: that app only
    assert set(client.apps()) == {"bob", "777"}
    await client.stop(SENDER)  # by sender id: every app it names
    assert set(client.apps()) == {"777"}
    await wait_for(lambda: not emu.connected(alice.gcm.android_id))
    await wait_for(lambda: not emu.connected(bob.gcm.android_id))
    assert emu.connected(other.gcm.android_id)
    await client.stop()
    await client.aclose()


async def test_start_returns_and_stop_device_leaves_everything_durable(
    emu: Emulator, tmp_path: Path
) -> None:
    """``start`` receives in the background; ``stop_device`` disconnects one device,
    removes its apps and returns once what they handled is durable and acknowledged."""
    alice, bob = register_direct(emu), register_direct(emu)
    seen: list[Message] = []
    client = _receiver(emu, tmp_path / "c.json", seen)
    await client.add_app(SENDER, alice, key="alice")
    await client.start()  # returns at once: bob is added and started later
    await client.add_app(SENDER, bob, key="bob")
    await client.start(["bob"])
    await client.wait_connected()
    pid = send(emu, alice, web_stanza(alice, data={"n": "1"}))
    await wait_for(lambda: len(seen) == 1)
    assert await client.stop_device(alice.gcm.android_id) == ["alice"]
    assert set(client.apps()) == {"bob"}
    assert client.store is not None
    assert (await client.store.load_ids("alice")).handled == [pid]
    await wait_for(lambda: not emu.connected(alice.gcm.android_id))
    await wait_for(lambda: emu.mailboxes.pending(alice.gcm.android_id) == [])  # acknowledged
    assert emu.connected(bob.gcm.android_id)
    assert await client.stop_device(alice.gcm.android_id) == []  # gone already
    send(emu, bob, web_stanza(bob, data={"n": "2"}))
    await wait_for(lambda: len(seen) == 2)
    await client.stop()
    await client.aclose()


async def test_the_old_api_keys_apps_by_sender_id(emu: Emulator, tmp_path: Path) -> None:
    credentials = register_direct(emu)
    seen: list[Message] = []
    client = _receiver(emu, tmp_path / "c.json", seen)
    await client.add_app(SENDER, credentials, {"0:old"})
    assert client.apps() == {SENDER: credentials}
    send(emu, credentials, web_stanza(credentials, data={"n": "1"}))
    messages = client.listen_coroutine(SENDER)
    message = await messages.__anext__()
    assert message is not None
    assert message.sender_id == SENDER
    await messages.aclose()
    await client.stop(SENDER)
    assert client.apps() == {}
    assert client.store is not None
    assert (await client.store.load_ids(SENDER)).handled[0] == "0:old"
    with pytest.raises(ConfigError, match="key must not be empty"):
        await client.add_app(SENDER, credentials, key="")
    await client.stop()
    await client.aclose()


async def test_stored_apps_come_back_under_their_keys_with_their_sender_ids(
    emu: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "c.json"
    alice = register_direct(emu).replace(config=emu.firebase_config)
    first = _receiver(emu, path, [])
    await first.add_app(emu.firebase_config.sender_id, alice, key="alice")
    await first.aclose()
    seen: list[Message] = []
    second = _receiver(emu, path, seen)
    assert await second.add_stored_apps() == ["alice"]
    await second.start()
    send(emu, alice, web_stanza(alice, data={"n": "1"}))
    await wait_for(lambda: len(seen) == 1)
    assert seen[0].sender_id == emu.firebase_config.sender_id
    await second.stop()
    await second.aclose()
