"""After every fault the emulator can inject, each message reaches handlers exactly once."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from _receiver_support import FAST, register_direct, send, wait_for, web_stanza

from pullkin import Message
from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.models import AppCredentials
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import SessionConfig, SessionState
from pullkin.store import CredentialStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(seed=7) as emulator:
        yield emulator


async def exactly_once(
    emu: Emulator,
    arm: Callable[[Emulator], object],
    *,
    count: int = 30,
    config: SessionConfig = FAST,
    during: Callable[[Emulator], object] | None = None,
) -> tuple[Pullkin, AppCredentials]:
    credentials = register_direct(emu)
    client = Pullkin(emu.endpoints, session_config=config)
    seen: list[str] = []

    @client.on_notification()
    async def record(message: Message, stanza: DataMessageStanza) -> None:
        seen.append(message.data["n"])

    await client.add_app("1", credentials)
    arm(emu)
    client._start(None)
    for n in range(count // 2):
        send(emu, credentials, web_stanza(credentials, data={"n": str(n)}))
    await wait_for(lambda: len(seen) >= 1, within=10)
    if during is not None:
        result = during(emu)
        if hasattr(result, "__await__"):
            await result  # type: ignore[misc]
    for n in range(count // 2, count):
        send(emu, credentials, web_stanza(credentials, data={"n": str(n)}))
    await wait_for(lambda: len(set(seen)) == count, within=20)
    await wait_for(lambda: emu.mailboxes.pending(credentials.gcm.android_id) == [], within=10)
    assert sorted(seen, key=int) == [str(n) for n in range(count)], "duplicates or losses"
    await client.stop()
    await client.aclose()
    return client, credentials


async def test_drop_mid_frame(emu: Emulator) -> None:
    await exactly_once(emu, lambda e: e.faults.close_mid_frame(times=2))
    assert emu.faults.fired.count("mcs:close_mid_frame") == 2
    assert emu.mcs.logins >= 3  # each drop cost a login


async def test_drop_after_login(emu: Emulator) -> None:
    await exactly_once(emu, lambda e: e.faults.close_after_login(times=2))
    assert emu.mcs.logins >= 3


async def test_drop_before_ack(emu: Emulator) -> None:
    await exactly_once(emu, lambda e: e.faults.close_after_frames(3, times=3))
    assert emu.faults.fired.count("mcs:close_after_frames") == 3
    assert emu.mcs.logins >= 4


async def test_duplicate_delivery(emu: Emulator) -> None:
    await exactly_once(emu, lambda e: e.faults.duplicate_delivery(times=5))
    assert "mcs:duplicate" in emu.faults.fired


async def test_server_restart(emu: Emulator) -> None:
    await exactly_once(emu, lambda e: None, during=lambda e: e.restart_mcs())
    assert emu.mcs.logins >= 2  # the restart ended the first connection: logged in again


async def test_heartbeats_missing_means_reconnect(emu: Emulator) -> None:
    config = dataclasses.replace(FAST, heartbeat_interval=0.2, heartbeat_timeout=0.2)
    await exactly_once(
        emu,
        lambda e: e.faults.ignore_heartbeats(times=2),
        config=config,
        # idle until the unanswered pings have ended two links
        during=lambda e: wait_for(lambda: e.mcs.logins >= 3, within=10),
    )
    assert emu.faults.fired.count("mcs:ignore_pings") == 2


@pytest.mark.parametrize(
    ("fault", "fired", "logged"),
    [
        ("malformed_frame", "mcs:malformed", "required field"),
        ("unknown_tag", "mcs:unknown_tag", "unknown MCS tag 16"),
    ],
)
async def test_a_malformed_frame_or_an_unknown_tag_costs_a_reconnect_and_loses_nothing(
    emu: Emulator, caplog: pytest.LogCaptureFixture, fault: str, fired: str, logged: str
) -> None:
    # The frame kills the connection (the codec cannot resync after it), never the
    # session: it logs in again and every message still arrives exactly once.
    await exactly_once(emu, lambda e: getattr(e.faults, fault)())
    assert emu.faults.fired == [fired]
    assert emu.mcs.logins >= 2
    lost = [r.getMessage() for r in caplog.records if "MCS connection lost" in r.getMessage()]
    assert any(logged in message for message in lost), lost


async def test_random_drops_seeded(emu: Emulator) -> None:
    await exactly_once(emu, lambda e: e.faults.drop_randomly(0.1), count=80)
    assert emu.faults.fired.count("mcs:drop_randomly") >= 1


async def test_refused_login_rechecks_in_and_survives_a_failing_check_in(emu: Emulator) -> None:
    # A refused login makes the session check in again; a failing check-in is
    # transient: the session keeps backing off instead of dying.
    emu.faults.reject_login(times=1)
    emu.faults.http_error("checkin", 503, times=2)
    credentials = register_direct(emu)
    client = Pullkin(emu.endpoints, session_config=FAST, backoff_base=0.01, backoff_cap=0.02)
    await client.add_app("1", credentials)
    client._start(None)
    await wait_for(lambda: client.state is SessionState.CONNECTED, within=10)
    assert emu.faults.fired.count("http:checkin") == 2
    await client.stop()
    await client.aclose()


async def test_dead_device_is_registered_again_and_keeps_receiving(
    emu: Emulator, tmp_path: Path
) -> None:
    errors: list[Exception] = []
    client = Pullkin(emu.endpoints, credentials_path=tmp_path / "c.json", session_config=FAST)
    client.on_error(lambda error, stanza: errors.append(error))
    seen: list[str] = []

    @client.on_notification()
    async def record(message: Message, stanza: DataMessageStanza) -> None:
        seen.append(message.data["n"])

    old = await client.register_app(emu.firebase_config)
    client._start(None)
    await wait_for(lambda: client.state is SessionState.CONNECTED)
    del emu.state.devices[old.gcm.android_id]  # the server forgets the device
    await emu.restart_mcs()
    await wait_for(lambda: client.apps()[emu.firebase_config.sender_id] != old, within=10)
    new = client.apps()[emu.firebase_config.sender_id]
    assert new.fcm.token != old.fcm.token
    assert new.gcm.android_id != old.gcm.android_id
    await wait_for(lambda: any("registered again" in str(error) for error in errors))
    stored = CredentialStore.open(tmp_path / "c.json").get(emu.firebase_config.sender_id)
    assert stored == new
    await wait_for(lambda: client.state is SessionState.CONNECTED, within=10)
    await emu.send(new.fcm.token, data={"n": "after"})
    await wait_for(lambda: seen == ["after"], within=10)
    await client.stop()
    await client.aclose()
