"""The delivery guarantee across restarts, through the credentials store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from _receiver_support import FAST, register_direct, send, wait_for, web_stanza

from pullkin import Message
from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.local_store import LocalStore
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import SessionState
from pullkin.store import CredentialStore

pytestmark = pytest.mark.anyio


def receiver(emu: Emulator, path: Path, seen: list[str]) -> Pullkin:
    client = Pullkin(emu.endpoints, credentials_path=path, session_config=FAST)

    @client.on_notification()
    async def record(message: Message, stanza: DataMessageStanza) -> None:
        seen.append(message.data["n"])

    return client


async def test_redelivered_message_reaches_handlers_once_across_restarts(
    emu: Emulator, tmp_path: Path
) -> None:
    credentials = register_direct(emu)
    path = tmp_path / "creds.json"
    seen: list[str] = []
    first = receiver(emu, path, seen)
    await first.add_app("1", credentials)
    first._start(None)
    stanzas = [web_stanza(credentials, data={"n": str(n)}) for n in range(5)]
    for stanza in stanzas:
        send(emu, credentials, stanza)
    await wait_for(lambda: len(seen) == 5)
    ledger = first._apps["1"].ledger
    # every message handled and acknowledged, and the server confirmed the acks
    await wait_for(lambda: len(ledger.handled()) == 5 and not ledger.unconfirmed())
    await first.stop()
    await first.aclose()
    stored = LocalStore.open(path)
    handled = stored.journal.load("1").handled
    stored.close()
    assert {s.persistent_id for s in stanzas} <= set(handled)
    # The server redelivers two of them (as after a lost acknowledgement).
    for stanza in stanzas[:2]:
        emu.mailboxes.enqueue(credentials.gcm.android_id, stanza, ttl=None)
    send(emu, credentials, web_stanza(credentials, data={"n": "new"}))
    second = receiver(emu, path, seen)
    await second.add_app("1", stored.credentials.get("1"))  # type: ignore[arg-type]
    second._start(None)
    await wait_for(lambda: "new" in seen)
    await wait_for(lambda: emu.mailboxes.pending(credentials.gcm.android_id) == [])
    assert seen == ["0", "1", "2", "3", "4", "new"]
    assert second.stats.duplicates == 2
    await second.stop()
    await second.aclose()


async def test_login_tells_the_server_what_was_received(emu: Emulator, tmp_path: Path) -> None:
    credentials = register_direct(emu)
    path = tmp_path / "creds.json"
    store = CredentialStore.open(path)
    store.put("1", credentials)
    pending = web_stanza(credentials, data={"n": "0"})
    pid = send(emu, credentials, pending)
    # Handled before a crash that lost the acknowledgement: on disk, unconfirmed.
    store.set_persistent_state("1", [pid], [pid])
    store.save()
    seen: list[str] = []
    client = receiver(emu, path, seen)
    await client.add_app("1", credentials)
    client._start(None)
    await wait_for(lambda: client.state is SessionState.CONNECTED)
    await wait_for(lambda: pid in emu.mailboxes.confirmed)
    # Messages arrive in order: had the old one been redelivered, it would come first.
    send(emu, credentials, web_stanza(credentials, data={"n": "after"}))
    await wait_for(lambda: seen != [])
    assert seen == ["after"]
    await client.stop()
    await client.aclose()
    reopened = LocalStore.open(path)
    assert pid not in reopened.journal.load("1").unconfirmed  # the login confirmed it
    reopened.close()


async def test_a_process_that_dies_inside_a_handler_gets_the_message_again(
    emu: Emulator, tmp_path: Path
) -> None:
    credentials = register_direct(emu)
    path = tmp_path / "creds.json"
    entered = asyncio.Event()
    first = Pullkin(emu.endpoints, credentials_path=path, session_config=FAST)

    @first.on_notification()
    async def stuck(message: Message, stanza: DataMessageStanza) -> None:
        entered.set()
        await asyncio.Event().wait()  # never returns: the "process" dies in here

    await first.add_app("1", credentials)
    first._start(None)
    pid = send(emu, credentials, web_stanza(credentials, data={"n": "0"}))
    await asyncio.wait_for(entered.wait(), 5)
    # Simulate a crash: tasks die, nothing is acknowledged or saved cleanly.
    tasks = [task for _, task in first._sessions.values()]
    tasks += [worker for app in first._apps.values() for worker in app.workers]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await first.aclose()
    assert [p.persistent_id for p in emu.mailboxes.pending(credentials.gcm.android_id)] == [pid]
    seen: list[str] = []
    second = receiver(emu, path, seen)
    await second.add_app("1", credentials)
    second._start(None)
    await wait_for(lambda: seen == ["0"])
    await second.stop()
    await second.aclose()
