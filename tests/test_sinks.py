"""Sinks against the real brokers on loopback: Redis Streams, NATS JetStream, and a
webhook (an aiohttp server).  A sink returns only once the broker confirmed; while it
is down it retries and the message is neither dropped nor acknowledged to FCM."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _local_http import serve_local
from _receiver_support import FAST, register_direct, send, wait_for, web_stanza
from _services import NATS_URL, REDIS_URL, need_nats, need_redis, unique
from aiohttp import web

from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.errors import ConfigError
from pullkin.models import Message, Notification
from pullkin.sinks import SinkRecord, open_sink, redact_url
from pullkin.sinks.webhook import WebhookSink

pytestmark = pytest.mark.anyio


def _message(pid: str = "0:1700000000000000%7031bd3ff9fd7ecd", n: int = 1) -> Message:
    return Message(
        notification=Notification(title="Hi", body="there"),
        data={"n": str(n)},
        persistent_id=pid,
        sender_id="424242424242",
    )


class _Forwarder:
    """A TCP port that refuses (closes at once) until ``open()``, then forwards to
    *target*: a broker that is down, then back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.is_open = False
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.is_open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def aclose(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    need_redis()
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def jetstream() -> AsyncIterator[Any]:
    need_nats()
    import nats

    nc = await nats.connect(NATS_URL)
    yield nc.jetstream()
    await nc.close()


# --- parsing --------------------------------------------------------------------------


def test_an_unknown_sink_scheme_names_the_forms_that_work() -> None:
    with pytest.raises(ConfigError, match="redis://HOST:6379/STREAM"):
        open_sink("kafka://127.0.0.1/topic")


def test_redis_sink_url_takes_the_stream_from_the_path_and_rejects_unknown_options() -> None:
    need_redis()
    sink = open_sink("redis://:hunter2@127.0.0.1:6379/pushes?dedup=30&maxlen=1000&db=2")
    assert (sink.stream, sink.dedup_window, sink.maxlen) == ("pushes", 30, 1000)  # type: ignore[attr-defined]
    assert "hunter2" not in sink.name
    assert "hunter2" not in repr(sink)
    with pytest.raises(ConfigError, match="unknown Redis sink option"):
        open_sink("redis://127.0.0.1/pushes?maxlenn=3")
    with pytest.raises(ConfigError, match="stream name"):
        open_sink("redis://127.0.0.1:6379/")


def test_nats_sink_url_names_the_options_it_takes_when_one_is_unknown() -> None:
    sink = open_sink("nats://127.0.0.1:4222/pushes.in?dedup=30&stream=IN&dedup=60")
    assert (sink.subject, sink.stream, sink.dedup_window) == ("pushes.in", "IN", 60)  # type: ignore[attr-defined]
    with pytest.raises(
        ConfigError, match=r"unknown NATS sink option\(s\) \['dedupe'\]: use stream, dedup"
    ):
        open_sink("nats://127.0.0.1:4222/pushes.in?dedupe=3")


def test_redact_url_hides_password_and_query() -> None:
    assert redact_url("nats://u:secret@h:4222/s?token=x") == "nats://u:***@h:4222/s"


def test_sink_record_is_the_json_line_pullkin_listen_prints() -> None:
    message = _message()
    record = SinkRecord.of(message)
    assert json.loads(record.body) == json.loads(json.dumps(message.to_json()))
    assert record.persistent_id == message.persistent_id


# --- Redis Streams ----------------------------------------------------------------------


async def test_redis_sink_adds_one_entry_per_message_and_drops_a_republish(redis: Any) -> None:
    stream = unique("pullkin_sink")
    sink = open_sink(f"{REDIS_URL}/{stream}")
    try:
        await sink(_message("pid-1"), None)  # type: ignore[arg-type]
        await sink(_message("pid-1"), None)  # type: ignore[arg-type]  # a failover re-publish
        await sink(_message("pid-2", 2), None)  # type: ignore[arg-type]
        entries = await redis.xrange(stream)
        assert [e[1][b"persistent_id"] for e in entries] == [b"pid-1", b"pid-2"]
        assert json.loads(entries[1][1][b"message"])["data"] == {"n": "2"}
        assert (sink.stats.confirmed, sink.stats.duplicates) == (3, 1)
    finally:
        await sink.aclose()
        await redis.delete(stream, f"{stream}:seen:pid-1", f"{stream}:seen:pid-2")


async def test_redis_sink_without_dedup_keeps_every_publish(redis: Any) -> None:
    stream = unique("pullkin_sink")
    sink = open_sink(f"{REDIS_URL}/{stream}?dedup=0")
    try:
        await asyncio.gather(*(sink(_message("same"), None) for _ in range(3)))  # type: ignore[arg-type]
        assert await redis.xlen(stream) == 3
    finally:
        await sink.aclose()
        await redis.delete(stream)


async def test_redis_sink_batches_concurrent_messages_in_order(redis: Any) -> None:
    stream = unique("pullkin_sink")
    sink = open_sink(f"{REDIS_URL}/{stream}")
    try:
        await asyncio.gather(*(sink(_message(f"p{n}", n), None) for n in range(500)))  # type: ignore[arg-type]
        entries = await redis.xrange(stream)
        assert [e[1][b"persistent_id"] for e in entries] == [f"p{n}".encode() for n in range(500)]
    finally:
        await sink.aclose()
        await redis.delete(stream, *(f"{stream}:seen:p{n}" for n in range(500)))


async def test_redis_sink_that_is_down_holds_the_message_until_redis_is_back(redis: Any) -> None:
    stream = unique("pullkin_sink")
    forwarder = _Forwarder(6379)
    port = await forwarder.start()
    sink = open_sink(f"redis://127.0.0.1:{port}/{stream}", retry_initial=0.01, retry_max=0.05)
    try:
        task = asyncio.create_task(sink(_message("held"), None))  # type: ignore[arg-type]
        await wait_for(lambda: sink.stats.failures >= 3)
        assert not task.done()
        assert sink.stats.pending == 1
        assert sink.stats.lag() > 0
        assert await redis.xlen(stream) == 0
        forwarder.is_open = True
        await asyncio.wait_for(task, 5)
        assert await redis.xlen(stream) == 1
        assert sink.stats.pending == 0
    finally:
        await sink.aclose()
        await forwarder.aclose()
        await redis.delete(stream, f"{stream}:seen:held")


# --- NATS JetStream ---------------------------------------------------------------------


async def test_jetstream_sink_creates_a_stream_and_the_broker_drops_a_republish(
    jetstream: Any,
) -> None:
    subject = unique("pullkin.sink")
    sink = open_sink(f"{NATS_URL}/{subject}?dedup=60")
    try:
        await sink(_message("pid-1"), None)  # type: ignore[arg-type]
        await sink(_message("pid-1"), None)  # type: ignore[arg-type]  # a failover re-publish
        await sink(_message("pid-2", 2), None)  # type: ignore[arg-type]
        stream = await jetstream.find_stream_name_by_subject(subject)
        info = await jetstream.stream_info(stream)
        assert info.state.messages == 2
        first = await jetstream.get_msg(stream, 1)
        assert first.headers["Nats-Msg-Id"] == "pid-1"
        assert json.loads(first.data)["persistent_id"] == "pid-1"
        assert (sink.stats.confirmed, sink.stats.duplicates) == (3, 1)
    finally:
        await sink.aclose()
        await jetstream.delete_stream(sink.stream)  # type: ignore[attr-defined]


async def test_jetstream_sink_waits_for_a_stream_that_captures_the_subject(
    jetstream: Any,
) -> None:
    """No stream (and a server that refuses to create one) is a retry, not a drop."""
    subject = unique("pullkin.sink")
    sink = open_sink(f"{NATS_URL}/{subject}", retry_initial=0.01, retry_max=0.05)
    sink.stream = "bad name with spaces"  # type: ignore[attr-defined]  # add_stream refuses it
    try:
        task = asyncio.create_task(sink(_message("waiting"), None))  # type: ignore[arg-type]
        await wait_for(lambda: sink.stats.failures >= 2)
        assert not task.done()
        name = unique("PULLKIN_TEST")
        await jetstream.add_stream(name=name, subjects=[subject])
        await asyncio.wait_for(task, 5)
        assert (await jetstream.stream_info(name)).state.messages == 1
    finally:
        await sink.aclose()
        await jetstream.delete_stream(name)


# --- webhook ---------------------------------------------------------------------------


class _Endpoint:
    """A webhook receiver that answers *failures* errors before accepting."""

    def __init__(self, failures: int = 0, status: int = 503) -> None:
        self.failures = failures
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.attempts = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.read()
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=self.status, headers={"Retry-After": "0"})
        self.received.append((dict(request.headers), body))
        return web.Response(status=204)


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[_Endpoint, str]]:
    hook = _Endpoint()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner, port = await serve_local(app)
    yield hook, f"http://127.0.0.1:{port}/hook"
    await runner.cleanup()


async def test_webhook_posts_the_json_with_the_persistent_id_and_a_signature(
    endpoint: tuple[_Endpoint, str],
) -> None:
    hook, url = endpoint
    sink = open_sink(url, webhook_secret="s3cret")
    try:
        await sink(_message("pid-9"), None)  # type: ignore[arg-type]
    finally:
        await sink.aclose()
    [(headers, body)] = hook.received
    assert json.loads(body)["persistent_id"] == "pid-9"
    assert headers["Idempotency-Key"] == headers["Pullkin-Persistent-Id"] == "pid-9"
    stamp, mac = (part.split("=", 1)[1] for part in headers["Pullkin-Signature"].split(","))
    expected = hmac.new(b"s3cret", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, expected)


@pytest.mark.parametrize("status", [500, 429, 401])
async def test_webhook_retries_any_non_2xx_until_it_is_accepted(
    endpoint: tuple[_Endpoint, str], status: int
) -> None:
    hook, url = endpoint
    hook.failures, hook.status = 3, status
    sink = WebhookSink(url, retry_initial=0.01, retry_max=0.05)
    try:
        await asyncio.wait_for(sink(_message(), None), 5)  # type: ignore[arg-type]
    finally:
        await sink.aclose()
    assert (hook.attempts, len(hook.received), sink.stats.failures) == (4, 1, 3)


def test_webhook_refuses_a_url_that_is_not_http() -> None:
    with pytest.raises(ConfigError, match="https://"):
        WebhookSink("ftp://127.0.0.1/x")


async def test_a_message_is_acknowledged_only_after_the_webhook_confirmed_it(
    emu: Emulator, endpoint: tuple[_Endpoint, str]
) -> None:
    """End to end: FCM keeps the message while the webhook fails; once it answers 2xx
    the message is acknowledged and the server forgets it."""
    hook, url = endpoint
    hook.failures = 10**9  # down until told otherwise
    credentials = register_direct(emu)
    sink = WebhookSink(url, retry_initial=0.01, retry_max=0.05)
    client = Pullkin(emu.endpoints, session_config=FAST)
    client.on_notification()(sink)
    await client.add_app("424242424242", credentials)
    await client.wait_connected()
    android_id = credentials.gcm.android_id
    try:
        pid = send(emu, credentials, web_stanza(credentials, data={"n": "1"}))
        await wait_for(lambda: hook.attempts >= 5)
        assert [p.persistent_id for p in emu.mailboxes.pending(android_id)] == [pid]
        hook.failures = 0
        await wait_for(lambda: not emu.mailboxes.pending(android_id))
        [(headers, body)] = hook.received
        assert headers["Pullkin-Persistent-Id"] == pid
        assert json.loads(body)["data"] == {"n": "1"}
    finally:
        await client.stop()
        await client.aclose()
        await sink.aclose()
