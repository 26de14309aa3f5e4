"""The emulator's HTTPS port speaks HTTP/2 and HTTP/1.1, chosen by ALPN, on every route.

httpx (with h2) is a real HTTP/2 client; a few tests drive python-hyper's ``h2`` as the
client directly to reach what httpx hides: flow control with a tiny window, a reset
stream during a hung request, an oversized body, protocol garbage.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator

import anyio
import h2.config
import h2.connection
import h2.events
import h2.settings
import httpx
import pytest
from aiohttp import web

from pullkin.emulator import Emulator
from pullkin.emulator._h2 import Bridge
from pullkin.emulator.vendors.baidu import expected_sign

pytestmark = pytest.mark.anyio


def alpn_context(emu: Emulator, protocols: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    if protocols:
        context.set_alpn_protocols(protocols)
    return context


async def negotiated(emu: Emulator, protocols: list[str]) -> str | None:
    host, port = emu.url.removeprefix("https://").rsplit(":", 1)
    _, writer = await asyncio.open_connection(host, int(port), ssl=alpn_context(emu, protocols))
    chosen: str | None = writer.get_extra_info("ssl_object").selected_alpn_protocol()
    _drop(writer)

    return chosen


def _drop(writer: asyncio.StreamWriter) -> None:
    """Close without the TLS goodbye (an h2 server speaks first, so an orderly close
    would read its frames); close() first marks the transport closed on Python 3.10."""
    writer.close()
    writer.transport.abort()


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["h2", "http/1.1"], "h2"),
        (["http/1.1", "h2"], "h2"),
        (["http/1.1"], "http/1.1"),
        ([], None),
    ],
)
async def test_alpn_negotiates_h2_and_http11(
    emu: Emulator, offered: list[str], chosen: str | None
) -> None:
    assert emu.http2
    assert await negotiated(emu, offered) == chosen


@pytest.fixture
async def clients(emu: Emulator) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    context = emu.endpoints.ssl_context
    async with (
        httpx.AsyncClient(http2=False, verify=context) as http1,
        httpx.AsyncClient(http2=True, verify=context) as http2,
    ):
        yield http1, http2


async def test_every_route_answers_alike_over_http2_and_http11(
    emu: Emulator, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    http1, http2 = clients
    assert emu._runner is not None
    routes = list(emu._runner.app.router.routes())
    assert len(routes) >= 20
    for route in routes:
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info["formatter"].format_map(_Placeholders())
        method = "POST" if route.method == "*" else route.method
        url = emu.url + path
        answers = []
        for client in (http1, http2):
            response = await client.request(method, url, content=b"{}", headers=_JSON)
            answers.append((response.http_version, response.status_code, _type(response)))
        assert [a[0] for a in answers] == ["HTTP/1.1", "HTTP/2"]
        assert answers[0][1:] == answers[1][1:], f"{method} {path}"


_JSON = {"Content-Type": "application/json"}


class _Placeholders(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return {"kind": "wp", "project": "pullkin-emulator"}.get(key, "x")


def _type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0]


async def test_a_v1_send_over_http2_is_delivered(
    emu: Emulator, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    from pullkin.emulator.harness import ReceiverHarness

    _, http2 = clients
    device = await ReceiverHarness.start(emu)
    try:
        token = await _access_token(emu, http2)
        url = emu.endpoints.fcm_send.format(project_id=emu.firebase_config.project_id)
        body = {"message": {"token": device.token, "data": {"over": "h2"}}}
        auth = {"Authorization": f"Bearer {token}"}
        responses = await asyncio.gather(
            *[http2.post(url, json=body, headers=auth) for _ in range(5)]
        )
        assert {(r.http_version, r.status_code) for r in responses} == {("HTTP/2", 200)}
        for response in responses:
            await emu.wait_delivered(response.json()["name"])
            assert (await device.next_message()).data == {"over": "h2"}
    finally:
        await device.aclose()


async def _access_token(emu: Emulator, client: httpx.AsyncClient) -> str:
    import jwt

    info = emu.service_account_info
    now = int(time.time())
    claims = {"iss": info["client_email"], "aud": info["token_uri"], "iat": now,
              "exp": now + 600, "scope": "https://www.googleapis.com/auth/firebase.messaging"}  # fmt: skip
    assertion = jwt.encode(claims, info["private_key"], algorithm="RS256")
    response = await client.post(
        info["token_uri"],
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
    )
    token: str = response.json()["access_token"]
    return token


async def test_a_bridged_request_keeps_its_https_url_for_signatures(
    emu: Emulator, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    # The Baidu fake signs over the URL the client saw: scheme and host must survive.
    _, http2 = clients
    creds = emu.vendor("baidu")
    url = creds["base_url"] + "app/query_tags"
    fields = {"apikey": creds["api_key"], "timestamp": str(int(time.time()))}
    fields["sign"] = expected_sign("POST", url, fields, creds["secret_key"])
    response = await http2.post(url, data=fields)
    assert (response.http_version, response.status_code) == ("HTTP/2", 200), response.text


# --- python-hyper h2 as the client ------------------------------------------------------------


class RawH2:
    """A bare HTTP/2 client connection (h2 state machine on a TLS stream)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.status: dict[int, int] = {}
        self.bodies: dict[int, bytes] = {}
        self.frames: dict[int, int] = {}
        self.ended: set[int] = set()

    @classmethod
    async def open(cls, emu: Emulator, window: int = 65535) -> RawH2:
        host, port = emu.url.removeprefix("https://").rsplit(":", 1)
        context = alpn_context(emu, ["h2"])
        raw = cls(*await asyncio.open_connection(host, int(port), ssl=context))
        raw.conn.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window}
        )
        raw.conn.initiate_connection()
        raw.flush()
        return raw

    def flush(self) -> None:
        self.writer.write(self.conn.data_to_send())

    def request(
        self,
        emu: Emulator,
        method: str,
        path: str,
        body: bytes | None = b"",
        headers: list[tuple[str, str]] = [],  # noqa: B006 - never mutated
    ) -> int:
        """Open a stream; *body* None leaves it open for ``send_data``."""
        stream = self.conn.get_next_available_stream_id()
        authority = emu.url.removeprefix("https://")
        headers = [(":method", method), (":path", path), (":scheme", "https"),
                   (":authority", authority), *headers]  # fmt: skip
        self.conn.send_headers(stream, headers, end_stream=body == b"")
        if body:
            self.conn.send_data(stream, body, end_stream=True)
        self.flush()
        return stream

    async def pump(self) -> None:
        """Read what the server sent once and take it in."""
        data = await self.reader.read(65536)
        assert data, "the server closed the connection"
        for event in self.conn.receive_data(data):
            stream = getattr(event, "stream_id", None)
            if isinstance(event, h2.events.ResponseReceived):
                self.status[event.stream_id] = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.DataReceived) and stream is not None:
                self.bodies[stream] = self.bodies.get(stream, b"") + (event.data or b"")
                self.frames[stream] = self.frames.get(stream, 0) + 1
                self.conn.acknowledge_received_data(event.flow_controlled_length or 0, stream)
            elif isinstance(event, h2.events.StreamEnded) and stream is not None:
                self.ended.add(stream)
        self.flush()

    async def answer(self, stream: int) -> tuple[int, bytes, int]:
        """(status, body, number of DATA frames) of *stream*."""
        with anyio.fail_after(10):
            while stream not in self.ended:
                await self.pump()
        return self.status[stream], self.bodies.get(stream, b""), self.frames.get(stream, 0)

    async def aclose(self) -> None:
        _drop(self.writer)


async def test_an_answer_larger_than_the_clients_window_waits_for_window_updates(
    emu: Emulator,
) -> None:
    raw = await RawH2.open(emu, window=8)
    try:
        stream = raw.request(emu, "POST", "/checkin")
        status, body, frames = await raw.answer(stream)
    finally:
        await raw.aclose()
    assert (status, body) == (400, b"Bad Request: AndroidCheckinRequest.checkin is required")
    assert frames >= len(body) // 8  # 8 bytes a frame: it waited for each window update


async def test_a_reset_stream_ends_its_hung_request_with_one_log_line(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    emu.faults.http_hang("checkin")
    raw = await RawH2.open(emu)
    try:
        stream = raw.request(emu, "POST", "/checkin", b"x")
        with anyio.fail_after(5):
            while "http:checkin" not in emu.faults.fired:  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # it reached the hang: now give up on it
            raw.conn.reset_stream(stream)
            raw.flush()
            while not any("went away" in r.getMessage() for r in caplog.records):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        after = raw.request(emu, "POST", "/checkin", b"")  # the connection still serves
        assert (await raw.answer(after))[0] == 400
    finally:
        await raw.aclose()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_expect_100_continue_gets_the_final_answer_not_the_interim_one(
    emu: Emulator,
) -> None:
    raw = await RawH2.open(emu)
    try:
        stream = raw.request(emu, "POST", "/checkin", b"x", [("expect", "100-continue")])
        status, _, _ = await raw.answer(stream)
    finally:
        await raw.aclose()
    assert status == 400  # the check-in handler's answer to a bad body


async def test_the_bridge_replaces_a_connection_aiohttp_closed_while_idle() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.method}")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, keepalive_timeout=0.05)
    await runner.setup()
    bridge = Bridge(runner.server, "secret", "127.0.0.1")
    try:
        first = await bridge.forward("GET", "/", "h", [], b"")
        [(reader, _)] = bridge._idle
        with anyio.fail_after(5):
            while not reader.at_eof():  # aiohttp's keep-alive timeout closes it  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        second = await bridge.forward("GET", "/", "h", [], b"")
    finally:
        bridge.close()
        await runner.cleanup()
    assert (first.status, first.body) == (second.status, second.body) == (200, b"hello GET")


async def test_a_body_over_one_mib_is_refused_with_413(emu: Emulator) -> None:
    raw = await RawH2.open(emu)
    try:
        big = raw.request(emu, "POST", "/checkin", None)
        sent = 0
        with anyio.fail_after(20):
            while big not in raw.ended and sent <= 2 << 20:
                chunk = min(16384, raw.conn.local_flow_control_window(big))
                if chunk == 0:  # wait for the server to open its window
                    await raw.pump()
                    continue
                raw.conn.send_data(big, b"y" * chunk)
                raw.flush()
                sent += chunk
        status, body, _ = await raw.answer(big)
        small = raw.request(emu, "POST", "/checkin", b"x")  # the connection still serves
        assert (await raw.answer(small))[0] == 400
    finally:
        await raw.aclose()
    assert (status, body) == (413, b"request body over 1 MiB\n")
    assert sent > 1 << 20


async def test_protocol_garbage_closes_only_that_connection(
    emu: Emulator, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    raw = await RawH2.open(emu)
    raw.writer.write(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")  # DATA on stream 0
    with anyio.fail_after(5):
        while await raw.reader.read(65536):
            pass  # the server sends GOAWAY and closes
    await raw.aclose()
    response = await clients[1].post(emu.endpoints.checkin, content=b"")
    assert (response.http_version, response.status_code) == ("HTTP/2", 400)


async def test_without_h2_the_port_offers_http11_only_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "h2.connection", None)  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    async with Emulator() as emu:
        assert not emu.http2
        assert await negotiated(emu, ["h2", "http/1.1"]) == "http/1.1"
    assert [r.getMessage() for r in caplog.records if "HTTP/1.1 only" in r.getMessage()] == [
        "emulator: HTTP/1.1 only (HTTP/2 needs: pip install 'pullkin[emulator]')"
    ]
