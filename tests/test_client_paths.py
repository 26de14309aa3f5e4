"""Pullkin's rare paths against a scripted MCS peer on a virtual clock: concurrency,
routing between apps, stopping one app, replacing an app while it runs, the stop
timeout that cancels a stuck session, and ``on_error`` handlers (async, raising)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from _mcs_peer import PeerConnection, ScriptedPeer, until
from _memory_store import MemoryStore
from _virtual_time import VIRTUAL_TIME

from pullkin import Message
from pullkin._apps import App, AppTable
from pullkin._handling import DeviceHooks
from pullkin._ledger import IdLedger
from pullkin.client import Pullkin
from pullkin.endpoints import Endpoints
from pullkin.errors import ConfigError, ConnectError, PullkinError
from pullkin.mcs import events as ev
from pullkin.mcs.transport import Stream
from pullkin.models import (
    AppCredentials,
    AppCredentialsFcm,
    AppCredentialsGcm,
    AppCredentialsKeys,
    FirebaseConfig,
    FirebaseInstallation,
)
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


def test_a_stanza_that_repeats_subtype_is_routed_by_the_first() -> None:
    # route reads subtype from the event's mapping (which keeps the last of a repeated
    # key); a repeated subtype still routes by its first occurrence, as it always has.
    def web_app(key: str, subtype: str) -> App:
        gcm = AppCredentialsGcm(*DEVICE, token=f"tok-{key}", app_id=subtype)
        fcm = AppCredentialsFcm(token=gcm.token, created_at=NOW)
        credentials = AppCredentials(gcm=gcm, fcm=fcm, keys=AppCredentialsKeys.generate())
        return App(key, "424242", credentials, IdLedger(10))

    table = AppTable()
    for key in ("1", "2"):
        table.put(web_app(key, f"wp:x#{key}"))
    hooks = DeviceHooks(DEVICE[0], table, None, None, None, None)  # type: ignore[arg-type]
    stanza = DataMessageStanza(category="org.chromium.linux")
    for subtype in ("wp:x#2", "wp:x#1"):
        stanza.app_data.add(key="subtype", value=subtype)
    message = ev.DataMessage(stanza)
    assert message.app_data == {"subtype": "wp:x#1"}
    app = hooks.route(stanza, message.app_data)
    assert app is not None
    assert app.key == "2"
    single = ev.DataMessage(DataMessageStanza(category="org.chromium.linux"))
    single.stanza.app_data.add(key="subtype", value="wp:x#1")
    app = hooks.route(single.stanza, {"subtype": "wp:x#1"})
    assert app is not None
    assert app.key == "1"
    assert hooks.route(single.stanza, {"subtype": "wp:x#3"}) is None


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


async def test_no_more_sessions_connect_at_once_than_connect_concurrency() -> None:
    """A client of many devices opens their connections a few at a time: all at once,
    every TLS handshake would share the CPU until each one timed out."""
    active = most = calls = 0
    gate = anyio.Event()

    async def connect(endpoints: Endpoints) -> Stream:
        nonlocal active, most, calls
        calls += 1
        active += 1
        most = max(most, active)
        try:
            await gate.wait()
        finally:
            active -= 1
        raise ConnectError("refused, for the test")

    client = Pullkin(Endpoints(), session_config=CONFIG, connect_concurrency=3)
    client._connector = connect
    for n in range(10):
        await client.add_app(str(n), android_app("com.a", (1000 + n, 1)))
    await client.start()
    await until(lambda: active >= 3)
    gate.set()
    await until(lambda: calls >= 10, within=60)  # every device tried, a few at a time
    assert most == 3
    await client.stop()
    await client.aclose()
    with pytest.raises(ConfigError, match="connect_concurrency must be at least 1"):
        Pullkin(connect_concurrency=0)


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


# --- with a store --------------------------------------------------------------------------------


async def test_replacing_an_app_keeps_what_it_handled_while_a_commit_was_being_written() -> None:
    # The old app's last message is being made durable (a slow disk) when the app is
    # replaced: the new app must still know it, or its redelivery runs handlers twice.
    store = MemoryStore()
    peer = ScriptedPeer()
    async with receiving(peer, ("1", android_app("com.a")), store=store) as client:
        seen: list[str] = []

        @client.on_notification()
        async def handler(message: Message, stanza: DataMessageStanza) -> None:
            seen.append(message.data["n"])

        client._start(None)
        connection = await logged_in(peer)
        store.hold()
        await connection.send(push("com.a", 1))
        await until(lambda: store.holding)
        replacing = asyncio.ensure_future(client.add_app("1", android_app("com.a")))
        await anyio.sleep(1)  # everything that can run has run: add_app waits for the disk
        assert not replacing.done()
        store.release()
        await replacing
        await connection.expect(ev.StreamAck)  # durable, then acknowledged
        await connection.send(push("com.a", 1))  # the server sends it again
        await connection.expect(ev.StreamAck)  # acknowledged at once ...
        await connection.send(push("com.a", 2))
        await until(lambda: len(seen) == 2)
        assert seen == ["1", "2"]  # ... and never handled twice
    assert list(store.handled["1"]) == [push("com.a", n).stanza.persistent_id for n in (1, 2)]


async def test_add_stored_apps_adds_every_app_the_store_holds() -> None:
    store = MemoryStore()
    await store.put_credentials("1", android_app("com.a"))
    await store.put_credentials("2", android_app("com.b"))
    async with Pullkin(Endpoints(), store=store) as client:
        assert await client.add_stored_apps() == ["1", "2"]
        assert client.apps() == store.credentials


async def test_persistent_ids_the_caller_passes_are_recorded_once() -> None:
    store = MemoryStore()
    async with Pullkin(Endpoints(), store=store) as client:
        await client.add_app("1", android_app("com.a"), persistent_ids={"0:x"})
        await client._persist()
        await client.add_app("1", android_app("com.a"), persistent_ids={"0:x", "0:y"})
        await client._persist()
    assert [[list(c.handled) for c in commit] for commit in store.commits] == [
        [["0:x"]], [["0:y"]]
    ]  # fmt: skip


async def test_register_app_adopts_stored_credentials_written_before_configs_were_stored() -> None:
    config = FirebaseConfig(api_key="AIzaKey", project_id="p", app_id="1:42:web:a", sender_id="42")
    stored = android_app("com.a").replace(installation=FirebaseInstallation(
        fid="fAAAAAAAAAAAAAAAAAAAAA", refresh_token="1_r", auth_token="a",
        expires_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=7),
    ))  # fmt: skip
    stored = stored.replace(fcm=AppCredentialsFcm(token=stored.fcm.token,
                                                  created_at=dt.datetime.now(dt.timezone.utc)))  # fmt: skip
    store = MemoryStore()
    await store.put_credentials("42", stored)
    async with Pullkin(Endpoints(), store=store) as client:
        credentials = await client.register_app(config)  # nothing due: no request at all
    assert credentials == stored.replace(config=config)
    assert store.credentials["42"] == credentials


# --- more of the client -------------------------------------------------------------------------


async def test_repr_shows_the_apps_and_the_state() -> None:
    peer = ScriptedPeer()
    async with receiving(peer, ("1", android_app("com.a"))) as client:
        assert repr(client) == "<Pullkin apps=1 state=stopped>"
        client._start(None)
        await logged_in(peer)
        await until(lambda: client.state is SessionState.CONNECTED)
        assert repr(client) == "<Pullkin apps=1 state=connected>"


async def test_stopping_an_app_that_never_started_is_harmless() -> None:
    async with Pullkin(Endpoints()) as client:
        await client.add_app("1", android_app("com.a"))
        await client.stop("1")
        assert client.apps() == {}


async def test_stop_drops_queued_messages_unhandled_so_the_server_sends_them_again() -> None:
    peer = ScriptedPeer()
    async with receiving(peer, ("1", android_app("com.a"))) as client:
        entered = anyio.Event()

        @client.on_notification()
        async def stuck(message: Message, stanza: DataMessageStanza) -> None:
            entered.set()
            await anyio.sleep_forever()

        client._start(None)
        connection = await logged_in(peer)
        await connection.send(push("com.a", 1))
        await entered.wait()
        await connection.send(push("com.a", 2))  # queued behind the stuck one
        app = client._apps["1"]
        await until(lambda: app.queue.qsize() == 1)
        await client.stop()
        assert app.queue.empty()
        assert app.ledger.in_progress == 0  # forgotten, not marked: both come back
        assert app.ledger.handled() == []
        assert connection.conn.take_confirmed() == []  # nothing was acknowledged


async def test_a_failing_filter_is_logged_and_the_other_handlers_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    peer = ScriptedPeer()
    async with receiving(peer, ("1", android_app("com.a"))) as client:
        seen: list[str] = []

        def broken_filter(message: Message, stanza: DataMessageStanza) -> bool:
            raise KeyError("title")

        @client.on_notification(broken_filter)
        async def never(message: Message, stanza: DataMessageStanza) -> None:
            raise AssertionError("a failing filter does not match")

        @client.on_notification()
        async def handler(message: Message, stanza: DataMessageStanza) -> None:
            seen.append(message.data["n"])

        client._start(None)
        connection = await logged_in(peer)
        await connection.send(push("com.a", 1))
        await until(lambda: seen == ["1"])
    [record] = [r for r in caplog.records if "filter of" in r.getMessage()]
    assert "never" in record.getMessage()
    assert isinstance(record.exc_info[1] if record.exc_info else None, KeyError)


async def test_a_listener_gets_only_its_own_apps_messages() -> None:
    peer = ScriptedPeer()
    apps = [("1", android_app("com.a")), ("2", android_app("com.b"))]
    async with receiving(peer, *apps) as client:
        first, second = client.listen_coroutine("1"), client.listen_coroutine("2")
        got_first = asyncio.ensure_future(first.__anext__())
        got_second = asyncio.ensure_future(second.__anext__())
        connection = await logged_in(peer)
        await connection.send(push("com.a", 1), push("com.b", 2))
        one, two = await got_first, await got_second
        assert (one and one.data["n"], two and two.data["n"]) == ("1", "2")
        await first.aclose()
        await second.aclose()


async def test_client_stats_add_up_the_sessions_with_the_latest_heartbeat() -> None:
    peer = ScriptedPeer()
    async with receiving(peer, ("1", android_app("com.a"))) as client:
        client._start(None)
        connection = await logged_in(peer)
        await connection.expect(ev.HeartbeatPing, within=CONFIG.heartbeat_interval + 1)
        await connection.send(ev.HeartbeatAck())
        await until(lambda: client.stats.heartbeat_rtt is not None)
        assert client.stats.last_heartbeat_at is not None
        assert client.stats.logins == 1
