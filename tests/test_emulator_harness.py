"""The emulator as a test harness: inject, wait for delivery and ack, drain, connected,
and the outages (MCS port refused, TLS failing or from another CA, login never
answered, HTTP endpoint hanging), each seen from a real pullkin receiver."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator

import aiohttp
import anyio
import pytest

from pullkin import RegistrationTiming, SessionConfig
from pullkin.emulator import FAST_SESSION, Emulator
from pullkin.emulator.harness import ReceiverHarness
from pullkin.errors import ConfigError
from pullkin.proto.mcs_pb2 import DataMessageStanza

pytestmark = pytest.mark.anyio


@pytest.fixture
async def device(emu: Emulator) -> AsyncIterator[ReceiverHarness]:
    harness = await ReceiverHarness.start(emu, android=True)
    try:
        yield harness
    finally:
        await harness.aclose()


def stanza_for(device: ReceiverHarness, **app_data: str) -> DataMessageStanza:
    gcm = device.credentials.gcm
    stanza = DataMessageStanza(category=gcm.app_name)
    setattr(stanza, "from", gcm.sender)  # "from" is a Python keyword
    for key, value in app_data.items():
        stanza.app_data.add(key=key, value=value)
    return stanza


# --- inject ------------------------------------------------------------------------------


async def test_an_injected_stanza_reaches_the_handler_and_is_acked(
    emu: Emulator, device: ReceiverHarness
) -> None:
    pid = emu.inject(device, stanza_for(device, k="v"))
    assert await emu.wait_delivered(pid, acked=True) == pid
    assert (await device.next_message()).data == {"k": "v"}


async def test_serialized_stanza_bytes_can_be_injected_by_token(
    emu: Emulator, device: ReceiverHarness
) -> None:
    pid = emu.inject(device.token, stanza_for(device, raw="bytes").SerializeToString())
    assert await emu.wait_delivered(device.token) == pid
    assert (await device.next_message()).data == {"raw": "bytes"}


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (b"\xff\xff\xff", "not a serialized DataMessageStanza"),
        (DataMessageStanza(category="only-category"), "required fields: from"),
        ("text", "DataMessageStanza or its serialized bytes"),
    ],
)
async def test_inject_refuses_what_cannot_be_framed(
    emu: Emulator, device: ReceiverHarness, message: object, why: str
) -> None:
    with pytest.raises(ConfigError, match=why):
        emu.inject(device, message)  # type: ignore[arg-type]


async def test_inject_names_an_unknown_token_clearly(emu: Emulator) -> None:
    with pytest.raises(ConfigError, match="no registration has the token"):
        emu.inject("not-a-token", DataMessageStanza(category="c", **{"from": "s"}))


# --- wait_delivered, drain, connected ------------------------------------------------------


async def test_wait_delivered_by_token_takes_each_send_in_order(
    emu: Emulator, device: ReceiverHarness
) -> None:
    first = await emu.send(device.token, data={"n": "1"})
    second = await emu.send(device.token, data={"n": "2"})
    assert first.endswith(await emu.wait_delivered(device.token))
    assert second.endswith(await emu.wait_delivered(device.token))
    later = asyncio.create_task(emu.wait_delivered(device.token))  # before the send
    third = await emu.send(device.token, data={"n": "3"})
    assert third.endswith(await later)


async def test_wait_delivered_unacked_returns_once_written(emu: Emulator) -> None:
    harness = await ReceiverHarness.start(emu, android=True)
    try:
        name = await emu.send(harness.token, data={"k": "v"})
        assert name.endswith(await emu.wait_delivered(name, acked=False))
    finally:
        await harness.aclose()


async def test_wait_delivered_times_out_with_what_it_waited_for(emu: Emulator) -> None:
    harness = await ReceiverHarness.start(emu, android=True)
    await harness.aclose()  # registered, now offline
    name = await emu.send(harness.token, data={"k": "v"})
    with pytest.raises(TimeoutError, match=r"acked within 0\.2 s"):
        await emu.wait_delivered(name, timeout=0.2)


async def test_wait_delivered_fails_at_once_for_an_expired_message(emu: Emulator) -> None:
    harness = await ReceiverHarness.start(emu, android=True)
    await harness.aclose()
    name = await emu.send(harness.token, data={"k": "v"}, android={"ttl": "0s"})
    with pytest.raises(TimeoutError, match="expired or was replaced"):
        await emu.wait_delivered(name, timeout=30)


async def test_drain_returns_when_every_queued_message_is_acked(emu: Emulator) -> None:
    harness = await ReceiverHarness.start(emu, android=True)
    await harness.client.stop()
    with anyio.fail_after(5):  # the server notices the close a moment later
        while emu.connected(harness):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    for n in range(5):
        await emu.send(harness.token, data={"n": str(n)})
    with pytest.raises(TimeoutError, match=r"5 message\(s\) still queued .* \(not connected\)"):
        await emu.drain(harness, timeout=0.1)
    await harness.client.wait_connected()
    try:
        await emu.drain(harness)
        assert emu.connected(harness.token)
        assert emu.mailboxes.pending(harness.android_id) == []
        assert [m.data["n"] for m in harness.messages] == ["0", "1", "2", "3", "4"]
    finally:
        await harness.aclose()


# --- outages -------------------------------------------------------------------------------


async def test_refused_mcs_port_heals_and_a_send_made_meanwhile_arrives(
    emu: Emulator, device: ReceiverHarness
) -> None:
    await emu.refuse_mcs(0.5)
    assert not emu.connected(device)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(emu.host, emu.endpoints.mcs_port)
    name = await emu.send(device.token, data={"during": "outage"})
    await emu.wait_delivered(name, timeout=10)
    assert (await device.next_message()).data == {"during": "outage"}


@pytest.mark.parametrize("wrong_ca", [False, True], ids=["handshake-fails", "another-ca"])
async def test_mcs_tls_failure_is_refused_by_the_client_then_heals(
    emu: Emulator, device: ReceiverHarness, wrong_ca: bool
) -> None:
    emu.faults.tls_failure("mcs", times=2, wrong_ca=wrong_ca)
    context = emu.endpoints.ssl_context
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await asyncio.open_connection(emu.host, emu.endpoints.mcs_port, ssl=context)
    await emu.restart_mcs()  # the receiver's reconnect meets the second failure
    name = await emu.send(device.token, data={"k": "v"})
    await emu.wait_delivered(name, timeout=10)
    assert emu.faults.fired.count("tls:mcs") == 2


async def test_https_tls_failure_for_some_seconds_fails_every_handshake(emu: Emulator) -> None:
    emu.faults.tls_failure("http", seconds=30, wrong_ca=True)
    connector = aiohttp.TCPConnector(ssl=emu.endpoints.ssl_context)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(2):
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await session.post(emu.endpoints.checkin, data=b"")
        emu.faults.clear()
        async with session.post(emu.endpoints.checkin, data=b"") as response:
            assert response.status == 400  # reached the handler: an empty check-in


async def test_a_login_never_answered_is_retried_by_the_receiver(
    emu: Emulator, device: ReceiverHarness
) -> None:
    emu.faults.silent_login()
    await emu.restart_mcs()
    name = await emu.send(device.token, data={"k": "v"})
    await emu.wait_delivered(name, timeout=15)
    assert "mcs:silent_login" in emu.faults.fired
    assert emu.mcs.logins >= 2


async def test_a_hung_endpoint_ends_with_the_client_and_logs_one_line(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    emu.faults.http_hang("register3")
    emu.faults.http_delay("checkin", 0.3)
    connector = aiohttp.TCPConnector(ssl=emu.endpoints.ssl_context)
    caplog.set_level(logging.INFO)
    async with aiohttp.ClientSession(connector=connector) as session:
        for url in (emu.endpoints.register, emu.endpoints.checkin):
            with pytest.raises(asyncio.TimeoutError):
                await session.post(url, data=b"x" * 100_000, timeout=aiohttp.ClientTimeout(0.1))
        with anyio.fail_after(5):
            while sum("went away" in r.getMessage() for r in caplog.records) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    gone = [r.getMessage() for r in caplog.records if "went away" in r.getMessage()]
    assert sorted(gone) == [
        "POST /c2dm/register3: the client went away during an injected hang",
        "POST /checkin: the client went away during an injected 0.3 s delay",
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- receiver timing is public -------------------------------------------------------------


def test_session_config_and_registration_timing_are_exported_from_pullkin() -> None:
    assert isinstance(FAST_SESSION, SessionConfig)
    assert FAST_SESSION.reconnect_max < SessionConfig().reconnect_max
    timing = RegistrationTiming(timeout=5.0, backoff_base=0.05, backoff_cap=0.5)
    assert timing["backoff_cap"] == 0.5
