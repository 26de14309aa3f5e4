"""The delivery state machine end to end, against the emulator: a message is
acknowledged only once its handled-mark is durable, whichever link it came from."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

import pytest
from _receiver_support import FAST, register_direct, send, wait_for, web_stanza

from pullkin import Message
from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.journal import Journal
from pullkin.local_store import LocalStore, journal_path
from pullkin.models import AppCredentials
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.store import IdChanges

pytestmark = pytest.mark.anyio


def durable(path: Path, sender_id: str = "1") -> list[str]:
    """What the journal holds right now (another connection, as after a crash)."""
    journal = Journal.open(journal_path(path))
    try:
        return journal.load(sender_id).handled
    finally:
        journal.close()


def pending(emu: Emulator, credentials: AppCredentials) -> list[str]:
    return [p.persistent_id for p in emu.mailboxes.pending(credentials.gcm.android_id)]


async def crash(client: Pullkin) -> None:
    """Die like a killed process: tasks end mid-flight, nothing is flushed or saved."""
    for _, task in list(client._sessions.values()):
        task.cancel()
    for app in client._apps.values():
        for worker in app.workers:
            worker.cancel()
    committer = client._commits.task
    if committer is not None:
        committer.cancel()
    await asyncio.sleep(0)
    client._sessions.clear()
    await client.aclose()


class Gated:
    """A receiver whose handler records each message and may be held inside."""

    def __init__(self, emu: Emulator, path: Path, **options: object) -> None:
        self.client = Pullkin(emu.endpoints, credentials_path=path, **options)  # type: ignore[arg-type]
        self.seen: list[str] = []
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()
        self.client.on_notification()(self.handle)

    async def handle(self, message: Message, stanza: DataMessageStanza) -> None:
        self.seen.append(stanza.persistent_id)
        self.entered.set()
        await self.gate.wait()

    async def start(self, credentials: AppCredentials) -> None:
        """Receive for *credentials*, as app "1"."""
        await self.client.add_app("1", credentials)
        self.client._start(None)

    async def hold(self, emu: Emulator, credentials: AppCredentials) -> str:
        """Send a message; return its persistent id once its handler is held inside."""
        self.gate.clear()
        pid = send(emu, credentials, web_stanza(credentials, data={"n": "0"}))
        await asyncio.wait_for(self.entered.wait(), 5)
        return pid


async def test_a_copy_of_a_message_still_in_a_handler_is_not_acknowledged(
    emu: Emulator, tmp_path: Path
) -> None:
    # issue 12, lead 1: the copy was dropped as a duplicate *and acknowledged*, so a
    # kill before the handler finished lost the message.
    credentials = register_direct(emu)
    path = tmp_path / "c.json"
    first = Gated(emu, path, session_config=dataclasses.replace(FAST, heartbeat_interval=0.2))
    await first.start(credentials)
    pid = await first.hold(emu, credentials)
    await emu.restart_mcs()  # the link drops; the server redelivers on the next one
    session = first.client.sessions[0]
    await wait_for(lambda: session.stats.duplicates == 1)
    # A heartbeat round trip after the copy: the ping carried the acknowledgement
    # position, and the server applied it before answering.
    beat = session.stats.last_heartbeat_at
    await wait_for(lambda: session.stats.last_heartbeat_at != beat)
    assert pending(emu, credentials) == [pid]
    await crash(first.client)  # killed while the handler still runs
    second = Gated(emu, path, session_config=FAST)
    await second.start(credentials)
    await wait_for(lambda: second.seen == [pid])  # not lost: handled again
    await wait_for(lambda: pending(emu, credentials) == [])
    await second.client.stop()
    await second.client.aclose()


async def test_the_copy_is_acknowledged_without_dispatch_once_the_original_is_durable(
    emu: Emulator, tmp_path: Path
) -> None:
    credentials = register_direct(emu)
    path = tmp_path / "c.json"
    receiver = Gated(emu, path, session_config=FAST)
    await receiver.start(credentials)
    pid = await receiver.hold(emu, credentials)
    await emu.restart_mcs()
    session = receiver.client.sessions[0]
    await wait_for(lambda: session.stats.duplicates == 1)
    receiver.gate.set()
    await wait_for(lambda: pending(emu, credentials) == [])
    assert receiver.seen == [pid]
    assert durable(path) == [pid]
    await receiver.client.stop()
    await receiver.client.aclose()


async def test_a_message_handled_while_the_link_is_down_becomes_durable_at_once(
    emu: Emulator, tmp_path: Path
) -> None:
    # issue 12, lead 2: handled ids of an old link waited in memory for a flush of a
    # later link; a kill meanwhile made them run again.
    credentials = register_direct(emu)
    path = tmp_path / "c.json"
    receiver = Gated(emu, path, session_config=FAST)
    await receiver.start(credentials)
    pid = await receiver.hold(emu, credentials)
    emu.faults.reject_login(times=10_000)
    await emu.restart_mcs()
    receiver.gate.set()  # the handler returns while no link is up
    await wait_for(lambda: durable(path) == [pid])
    assert pending(emu, credentials) == [pid]  # not acknowledged: no link to do it on
    emu.faults.clear()
    # The next link acknowledges it (the redelivered copy, or the login lists it).
    await wait_for(lambda: pending(emu, credentials) == [])
    assert receiver.seen == [pid]
    await receiver.client.stop()
    await receiver.client.aclose()


async def test_handling_never_rewrites_the_credentials_file(emu: Emulator, tmp_path: Path) -> None:
    # issue 12, lead 3: every flush rewrote (and fsynced) the whole secrets file.
    credentials = register_direct(emu)
    path = tmp_path / "c.json"
    receiver = Gated(emu, path, session_config=FAST)
    await receiver.client.add_app("1", credentials)
    before = path.stat()
    receiver.client._start(None)
    pids = [send(emu, credentials, web_stanza(credentials, data={"n": str(n)})) for n in range(30)]
    await wait_for(lambda: sorted(durable(path)) == sorted(pids))
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino, before.st_mtime_ns, before.st_size,
    )  # fmt: skip
    assert [name for name in os.listdir(tmp_path) if name.endswith(".tmp")] == []
    await receiver.client.stop()
    await receiver.client.aclose()


async def test_everything_handled_is_durable_when_stop_returns(
    emu: Emulator, tmp_path: Path
) -> None:
    credentials = register_direct(emu)
    path = tmp_path / "c.json"
    receiver = Gated(emu, path, session_config=FAST, concurrency=3)
    await receiver.start(credentials)
    pids = [send(emu, credentials, web_stanza(credentials, data={"n": str(n)})) for n in range(20)]
    await wait_for(lambda: len(receiver.seen) == 20)
    await receiver.client.stop()
    assert sorted(durable(path)) == sorted(pids)
    await receiver.client.aclose()


async def test_a_handler_cut_short_by_stop_is_not_marked_handled(
    emu: Emulator, tmp_path: Path
) -> None:
    credentials = register_direct(emu)
    path = tmp_path / "c.json"
    config = dataclasses.replace(FAST, stop_timeout=0.05)
    first = Gated(emu, path, session_config=config)
    await first.start(credentials)
    pid = await first.hold(emu, credentials)
    await first.client.stop()  # gives up on the handler after stop_timeout
    await first.client.aclose()
    assert durable(path) == []
    second = Gated(emu, path, session_config=FAST)
    await second.start(credentials)
    await wait_for(lambda: second.seen == [pid])
    await second.client.stop()
    await second.client.aclose()


async def test_a_store_with_a_larger_window_opens_with_a_smaller_one(
    emu: Emulator, tmp_path: Path
) -> None:
    # issue 19: IdLedger evicted before it had its unconfirmed ids (AttributeError)
    credentials = register_direct(emu)
    store = LocalStore.open(tmp_path / "c.json", window=10)
    await store.put_credentials("1", credentials)
    await store.record_ids([IdChanges("1", handled=["a", "b", "c", "d"], confirmed=["d"])])
    client = Pullkin(emu.endpoints, store=store, window=2)
    await client.add_app("1", credentials, persistent_ids={"e"})
    await client._persist()
    ledger = client._apps["1"].ledger
    assert ledger.handled() == ["d", "e"]
    assert ledger.unconfirmed() == ["e"]
    await client.aclose()
    await store.aclose()


async def test_replacing_an_app_mid_handler_gets_the_message_delivered_again(
    emu: Emulator, tmp_path: Path
) -> None:
    credentials = register_direct(emu)
    receiver = Gated(emu, tmp_path / "c.json", session_config=FAST)
    await receiver.start(credentials)
    pid = await receiver.hold(emu, credentials)
    await receiver.client.add_app("1", credentials)  # its workers go, mid-handler
    receiver.gate.set()
    # Not marked handled, and not left holding the link's acknowledgements back: the
    # link is replaced and the server delivers it again, to the new workers.
    await wait_for(lambda: receiver.seen == [pid, pid])
    await wait_for(lambda: pending(emu, credentials) == [])
    await receiver.client.stop()
    await receiver.client.aclose()
