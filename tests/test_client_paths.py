"""Pullkin's rare paths against a scripted MCS peer on a virtual clock: concurrency,
routing between apps, stopping one app, replacing an app while it runs, the stop
timeout that cancels a stuck session, and ``on_error`` handlers (async, raising)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from _mcs_peer import PeerConnection, ScriptedPeer, until
from _virtual_time import VIRTUAL_TIME

from pullkin import Message
from pullkin.client import Pullkin
from pullkin.endpoints import Endpoints
from pullkin.errors import ConfigError, PullkinError
from pullkin.mcs import events as ev
from pullkin.mcs.transport import Stream
from pullkin.models import AppCredentials, AppCredentialsFcm, AppCredentialsGcm
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import SessionConfig, SessionState

pytestmark = pytest.mark.anyio

CONFIG = SessionConfig()
NOW = dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc)
DEVICE = (5678901234567890123, 1234567890123456789)


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    return VIRTUAL_TIME


def android_app(package: str, device: tuple[int, int] = DEVICE) -> AppCredentials:
    """Android-app credentials: plain payloads, routed by ``category`` = package."""
    gcm = AppCredentialsGcm(*device, token=f"tok-{package}", app_id="424242", app_name=package,
                            sender="424242")  # fmt: skip
    return AppCredentials(gcm=gcm, fcm=AppCredentialsFcm(token=gcm.token, created_at=NOW))


def push(package: str, n: int, **data: str) -> ev.DataMessage:
    stanza = DataMessageStanza(category=package, persistent_id=f"0:{n:016d}%{package[-1]}")
    setattr(stanza, "from", "424242")
    for key, value in {"n": str(n), **data}.items():
        stanza.app_data.add(key=key, value=value)
    return ev.DataMessage(stanza)


@asynccontextmanager
async def receiving(
    peer: ScriptedPeer, *apps: tuple[str, AppCredentials], **options: object
) -> AsyncIterator[Pullkin]:
    client = Pullkin(Endpoints(), session_config=CONFIG, **options)  # type: ignore[arg-type]
    client._connector = peer.connect
    for sender, credentials in apps:
        await client.add_app(sender, credentials)
    try:
        with anyio.fail_after(3600):
            async with client:
                yield client
    finally:
        await peer.aclose()


async def logged_in(peer: ScriptedPeer) -> PeerConnection:
    connection = await peer.accept()
    await connection.login()
    return connection


# --- concurrency ---------------------------------------------------------------------------


async def test_with_concurrency_two_a_slow_message_does_not_hold_up_the_next() -> None:
    peer = ScriptedPeer()
    async with receiving(peer, ("1", android_app("com.a")), concurrency=2) as client:
        second_done = anyio.Event()
        order: list[str] = []

        @client.on_notification()
        async def handler(message: Message, stanza: DataMessageStanza) -> None:
            if message.data["n"] == "1":
                await second_done.wait()  # only another worker can let this one finish
            else:
                second_done.set()
            order.append(message.data["n"])

        client._start(None)
        connection = await logged_in(peer)
        await connection.send(push("com.a", 1), push("com.a", 2))  # one chunk, one batch
        await connection.expect(ev.StreamAck, within=5)
        assert order == ["2", "1"]
        assert len(client._apps["1"].workers) == 2


async def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="concurrency must be at least 1"):
        Pullkin(Endpoints(), concurrency=0)


# --- several apps on one device -------------------------------------------------------------


async def test_messages_are_routed_to_their_app_and_an_unknown_one_is_reported() -> None:
    peer = ScriptedPeer()
    apps = [("1", android_app("com.a")), ("2", android_app("com.b"))]
    async with receiving(peer, *apps) as client:
        seen: list[tuple[str | None, str]] = []
        errors: list[tuple[Exception, DataMessageStanza | None]] = []
        client.on_error(lambda error, stanza: errors.append((error, stanza)))

        @client.on_notification()
        async def handler(message: Message, stanza: DataMessageStanza) -> None:
            seen.append((message.sender_id, stanza.category))

        client._start(None)
        assert len(client.sessions) == 1  # one connection for the device
        connection = await logged_in(peer)
        await connection.send(push("com.b", 1), push("com.a", 2), push("com.zzz", 3))
        await connection.expect(ev.StreamAck, within=5)
        await until(lambda: len(seen) == 2)
        assert sorted(seen) == [("1", "com.a"), ("2", "com.b")]
        [(error, stanza)] = errors
        assert isinstance(error, PullkinError)
        assert "no registered app" in str(error)
        assert stanza is not None
        assert stanza.category == "com.zzz"
        # acknowledged all the same: it would otherwise come back forever
        assert push("com.zzz", 3).stanza.persistent_id in connection.conn.take_confirmed()


async def test_stopping_one_app_keeps_the_shared_connection_and_the_last_one_closes_it() -> None:
    peer = ScriptedPeer()
    apps = [("1", android_app("com.a")), ("2", android_app("com.b"))]
    async with receiving(peer, *apps) as client:
        seen: list[str] = []

        @client.on_notification()
        async def handler(message: Message, stanza: DataMessageStanza) -> None:
            seen.append(f"{message.sender_id}:{message.data['n']}")

        client._start(None)
        connection = await logged_in(peer)
        workers = client._apps["1"].workers
        await client.stop("1")
        await until(lambda: all(worker.done() for worker in workers))
        assert set(client.apps()) == {"2"}
        await connection.send(push("com.b", 1))
        await until(lambda: seen == ["2:1"])
        assert client.state is SessionState.CONNECTED
        await client.stop("unknown sender")  # nothing to stop: no error
        await client.stop("2")
        await connection.expect_closed(within=CONFIG.stop_timeout + 1)
        assert client.sessions == []
        assert client.state is SessionState.STOPPED
    assert len(peer.connects) == 1


async def test_replacing_an_app_while_running_hands_its_messages_to_the_new_credentials() -> None:
    peer = ScriptedPeer()
    async with receiving(peer, ("1", android_app("com.a"))) as client:
        seen: list[tuple[str, str]] = []

        @client.on_notification()
        async def handler(message: Message, stanza: DataMessageStanza) -> None:
            seen.append((message.data["n"], client.apps()["1"].gcm.token))

        client._start(None)
        connection = await logged_in(peer)
        await connection.send(push("com.a", 1))
        await until(lambda: len(seen) == 1)
        old_workers = client._apps["1"].workers
        gcm = AppCredentialsGcm(*DEVICE, token="tok-new", app_id="424242", app_name="com.a")
        replacement = android_app("com.a").replace(gcm=gcm)
        await client.add_app("1", replacement)
        await until(lambda: all(worker.done() for worker in old_workers))
        assert len(client._apps["1"].workers) == 1
        await connection.send(push("com.a", 2))
        await until(lambda: len(seen) == 2)
        assert seen == [("1", "tok-com.a"), ("2", "tok-new")]
        assert len(client.sessions) == 1
    assert len(peer.connects) == 1


# --- stopping --------------------------------------------------------------------------------


async def test_stop_cancels_a_session_that_does_not_end_within_the_stop_timeout() -> None:
    stalled = anyio.Event()

    async def connect_forever(endpoints: Endpoints) -> Stream:
        stalled.set()
        await anyio.sleep_forever()  # a TCP connect that hangs
        raise AssertionError("unreachable")

    client = Pullkin(Endpoints(), session_config=CONFIG)
    client._connector = connect_forever
    await client.add_app("1", android_app("com.a"))
    client._start(None)
    await stalled.wait()
    [(_, task)] = client._sessions.values()
    started = anyio.current_time()
    with anyio.fail_after(60):
        await client.stop()
    assert task.cancelled()
    assert anyio.current_time() - started >= CONFIG.stop_timeout
    assert client.state is SessionState.STOPPED
    await client.aclose()


async def test_run_returns_after_stop() -> None:
    peer = ScriptedPeer()
    async with receiving(peer, ("1", android_app("com.a"))) as client, \
            anyio.create_task_group() as tasks:  # fmt: skip
        tasks.start_soon(client.run)
        await logged_in(peer)
        await client.stop()


# --- on_error ---------------------------------------------------------------------------------


async def undeliverable(client: Pullkin, peer: ScriptedPeer) -> None:
    client._start(None)
    connection = await logged_in(peer)
    await connection.send(push("com.nobody", 1))
    await connection.expect(ev.StreamAck)


async def test_an_async_on_error_handler_is_awaited() -> None:
    peer = ScriptedPeer()
    async with receiving(peer, ("1", android_app("com.a")), ("2", android_app("com.b"))) as client:
        finished: list[str] = []

        @client.on_error
        async def report(error: Exception, stanza: DataMessageStanza | None) -> None:
            await anyio.sleep(1)  # it really runs as a coroutine, to its end
            finished.append(str(error))

        await undeliverable(client, peer)
        await until(lambda: finished)
        assert "no registered app" in finished[0]


async def test_a_raising_on_error_handler_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    peer = ScriptedPeer()
    async with receiving(peer, ("1", android_app("com.a")), ("2", android_app("com.b"))) as client:
        reached: list[Exception] = []

        def broken(error: Exception, stanza: DataMessageStanza | None) -> None:
            raise RuntimeError("the error handler broke")

        client.on_error(broken)
        client.on_error(lambda error, stanza: reached.append(error))
        await undeliverable(client, peer)
        await until(lambda: reached)
        assert client.state is SessionState.CONNECTED
    failure = next(r for r in caplog.records if "on_error handler" in r.getMessage())
    assert failure.levelno == logging.ERROR
    assert failure.exc_info is not None
    assert "the error handler broke" in str(failure.exc_info[1])


async def test_a_failing_async_on_error_handler_does_not_stop_receiving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    peer = ScriptedPeer()
    async with receiving(peer, ("1", android_app("com.a")), ("2", android_app("com.b"))) as client:
        seen: list[str] = []

        @client.on_error
        async def broken(error: Exception, stanza: DataMessageStanza | None) -> None:
            raise RuntimeError("async error handler broke")

        @client.on_notification()
        async def handler(message: Message, stanza: DataMessageStanza) -> None:
            seen.append(message.data["n"])

        await undeliverable(client, peer)
        connection = peer.connections[0]
        await connection.send(push("com.a", 2))
        await until(lambda: seen == ["2"])
        await until(lambda: "async error handler broke" in caplog.text)


# --- misuse -------------------------------------------------------------------------------------


async def test_receiving_without_an_app_is_a_config_error() -> None:
    async with Pullkin(Endpoints()) as client:
        with pytest.raises(ConfigError, match="add_app"):
            await client.run()


async def test_store_and_credentials_path_together_are_a_config_error(tmp_path: object) -> None:
    from pullkin.store import CredentialStore

    with pytest.raises(ConfigError, match="either store= or credentials_path="):
        Pullkin(Endpoints(), store=CredentialStore.open(f"{tmp_path}/a.json"),
                credentials_path=f"{tmp_path}/b.json")  # fmt: skip


async def test_add_stored_apps_needs_a_store() -> None:
    async with Pullkin(Endpoints()) as client:
        with pytest.raises(ConfigError, match="no store"):
            await client.add_stored_apps()
