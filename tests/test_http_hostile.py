"""HTTP answers that lie or overwhelm (issue 13): accepted sends are never repeated,
Retry-After is read as RFC 9110 says, TLS verification cannot be switched off by
accident, and every answer pullkin reads is capped in size."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _local_http import catch_all, serve_local
from aiohttp import web

from pullkin import PullkinCore
from pullkin._backoff import parse_retry_after
from pullkin.crypto import generate_keys
from pullkin.emulator import Emulator
from pullkin.emulator._tls import LocalCA, make_local_ca
from pullkin.endpoints import Endpoints
from pullkin.errors import (
    CheckinError,
    ConfigError,
    InstallationError,
    QuotaExceededError,
    UnavailableError,
    UnexpectedResponseError,
)
from pullkin.models import FirebaseInstallation
from pullkin.senders import hms_models
from pullkin.senders._http import HttpClient, HttpResponse, RetryPolicy
from pullkin.senders.azure import AzureNotificationHub
from pullkin.senders.baidu import BaiduSender
from pullkin.senders.fcm import FcmSender, Message
from pullkin.senders.hms import HmsSender
from pullkin.senders.umeng import AndroidBody, AndroidPayload, UmengSender
from pullkin.senders.webpush import WebPushSender
from pullkin.sinks.webhook import WebhookSink

pytestmark = pytest.mark.anyio

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Server:
    """An HTTPS server on 127.0.0.1 with a scripted answer, counting requests by path."""

    def __init__(self, ca: LocalCA, answer: Answer) -> None:
        self.ca = ca
        self.answer = answer
        self.requests: list[str] = []

    async def __aenter__(self) -> Server:
        app = catch_all(self._handle)
        self._runner, self.port = await serve_local(app, ssl_context=self.ca.server_context())
        self.url = f"https://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.requests.append(request.path)
        return await self.answer(request)

    def endpoints(self) -> Endpoints:
        base = self.url
        return Endpoints(
            checkin=f"{base}/checkin", register=f"{base}/c2dm/register3",
            installations=base, registrations=base, oauth_token=f"{base}/token",
            fcm_send=base + "/v1/projects/{project_id}/messages:send", iid=base,
            webpush=base + "/fcm/send/{token}", mcs_host="127.0.0.1",
            ssl_context=self.ca.client_context(),
        )  # fmt: skip


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return make_local_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def service_account(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account", "project_id": "proj-1", "private_key_id": "k1",
        "private_key": pem, "client_email": "sa@proj-1.iam.gserviceaccount.com",
        "token_uri": "https://127.0.0.1:9/token",
    }  # fmt: skip


def fast(**kwargs: Any) -> RetryPolicy:
    return RetryPolicy(**{"attempts": 4, "base": 0.001, "cap": 0.002, "total": 10, **kwargs})


async def token_then(answer: Answer) -> Answer:
    """OAuth token requests succeed; everything else gets *answer*."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/token"):
            return web.json_response({"access_token": "tok", "expires_in": 3600})
        return await answer(request)

    return handle


# --- item 9: an accepted push is never sent again ------------------------------------------


async def html_200(request: web.Request) -> web.StreamResponse:
    return web.Response(text="<html>maintenance</html>", content_type="text/html")


async def test_hms_does_not_repeat_a_send_answered_200_with_a_body_that_is_not_json(
    ca: LocalCA,
) -> None:
    async with Server(ca, await token_then(html_200)) as server:
        hms = HmsSender("1", "s", token_url=f"{server.url}/oauth2/v3/token", api_url=server.url,
                        ssl_context=ca.client_context(), retry=fast())  # fmt: skip
        async with hms:
            with pytest.raises(UnexpectedResponseError) as info:
                await hms.send(hms_models.Message(data="{}", token=["t1"]))
    assert info.value.http_status == 200
    assert "not repeated" in str(info.value)
    assert [p for p in server.requests if not p.endswith("/token")] == ["/v1/1/messages:send"]


async def test_fcm_does_not_repeat_a_send_answered_200_without_a_message_name(
    ca: LocalCA, service_account: dict[str, Any]
) -> None:
    async def no_name(request: web.Request) -> web.StreamResponse:
        return web.json_response({"something": "else"})

    async with (
        Server(ca, await token_then(no_name)) as server,
        FcmSender(service_account, endpoints=server.endpoints(), retry=fast()) as fcm,
    ):
        with pytest.raises(UnexpectedResponseError) as info:
            await fcm.send(Message(token="t"))
    assert not isinstance(info.value, UnavailableError)  # nothing invites a resend
    assert "not repeated" in str(info.value)
    assert server.requests.count("/v1/projects/proj-1/messages:send") == 1


async def test_any_2xx_classified_as_an_error_is_not_repeated_for_a_send(ca: LocalCA) -> None:
    async def accepted(request: web.Request) -> web.StreamResponse:
        return web.Response(status=202)

    def picky(response: HttpResponse) -> UnavailableError:
        return UnavailableError("odd answer", vendor="x")

    async with Server(ca, accepted) as server:
        http = HttpClient("x", ssl=ca.client_context(), retry=fast(), classify=picky)
        async with http:
            with pytest.raises(UnavailableError):
                await http.request("POST", server.url + "/send", data=b"x", idempotent=False)
            assert len(server.requests) == 1
            with pytest.raises(UnavailableError):  # idempotent calls may try again
                await http.request("GET", server.url + "/status")
    assert server.requests.count("/status") == 4


async def test_repeat_sends_off_never_repeats_a_send_after_a_5xx_but_still_after_429(
    ca: LocalCA,
) -> None:
    statuses = iter([503, 503, 429, 429, 200])

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=next(statuses))

    async with Server(ca, answer) as server:
        http = HttpClient("x", ssl=ca.client_context(), retry=fast(repeat_sends=False))
        async with http:
            with pytest.raises(UnavailableError):
                await http.request("POST", server.url + "/a", data=b"x", idempotent=False)
            assert len(server.requests) == 1
            with pytest.raises(UnavailableError):  # the default repeats a 5xx
                await http.request("POST", server.url + "/b", data=b"x", idempotent=False,
                                   retry=fast(attempts=1))  # fmt: skip
            response = await http.request("POST", server.url + "/c", data=b"x", idempotent=False)
    assert response.status == 200
    assert server.requests == ["/a", "/b", "/c", "/c", "/c"]


# --- item 10: Retry-After as RFC 9110 allows ---------------------------------------------


@pytest.mark.parametrize(
    "value", ["inf", "Infinity", "1e999", "1_0", "-5", "+5", "2.5", "NaN", "٣", "0x10", "1 2"]
)
def test_retry_after_that_rfc_9110_does_not_allow_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_of_thousands_of_digits_is_a_long_finite_wait() -> None:
    assert parse_retry_after("9" * 5000) == 100 * 365 * 86400


def test_retry_after_http_dates_of_all_three_forms() -> None:
    now = dt.datetime(1994, 11, 6, 8, 49, 0, tzinfo=dt.timezone.utc)
    for value in (
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ):
        assert parse_retry_after(value, now=now) == 37.0


async def test_an_infinite_retry_after_does_not_stall_a_send(ca: LocalCA) -> None:
    async def busy(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, headers={"Retry-After": "inf"})

    async with (
        Server(ca, busy) as server,
        HttpClient("x", ssl=ca.client_context(), retry=fast()) as http,
    ):
        with pytest.raises(UnavailableError) as info:
            await asyncio.wait_for(http.request("GET", server.url), 10)
    assert info.value.retry_after is None
    assert len(server.requests) == 4


# --- item 13: say what the server asked for ------------------------------------------------


async def test_a_429_asking_longer_than_the_budget_says_how_long(ca: LocalCA) -> None:
    async def slow_down(request: web.Request) -> web.StreamResponse:
        return web.Response(status=429, headers={"Retry-After": "3600"})

    async with (
        Server(ca, slow_down) as server,
        HttpClient("x", ssl=ca.client_context(), retry=fast()) as http,
    ):
        with pytest.raises(QuotaExceededError) as info:
            await http.request("GET", server.url)
    assert "retry after 3600 s" in str(info.value)
    assert info.value.retry_after == 3600
    assert len(server.requests) == 1


async def test_a_registration_429_asking_too_long_says_how_long(ca: LocalCA) -> None:
    async def slow_down(request: web.Request) -> web.StreamResponse:
        return web.Response(status=429, headers={"Retry-After": "86400"})

    async with Server(ca, slow_down) as server, PullkinCore(server.endpoints()) as core:
        with pytest.raises(CheckinError, match="retry after 86400 s, more than the 600 s"):
            await core.gcm_check_in()


async def test_a_new_device_refused_with_401_is_not_told_about_stored_credentials(
    ca: LocalCA,
) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.Response(status=401)

    async with Server(ca, refuse) as server, PullkinCore(server.endpoints()) as core:
        with pytest.raises(CheckinError) as info:
            await core.gcm_check_in()
    assert "stored" not in str(info.value)
    assert "new device" in str(info.value)
    assert not info.value.device_gone


# --- item 11: no SSL context that does not verify, unless insecure=True ---------------------


def unverified() -> ssl.SSLContext:
    return ssl._create_unverified_context()


def no_hostname_check() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    return context


SENDERS: dict[str, Callable[..., object]] = {
    "fcm": lambda sa, **kw: FcmSender(sa, **kw),
    "webpush": lambda sa, **kw: WebPushSender(generate_vapid(), "mailto:a@b.c", **kw),
    "hms": lambda sa, **kw: HmsSender("1", "s", **kw),
    "baidu": lambda sa, **kw: BaiduSender("k", "s", **kw),
    "umeng": lambda sa, **kw: UmengSender("5a77fca0b27b0a5f3f000001", "s" * 32, **kw),
    "azure": lambda sa, **kw: AzureNotificationHub(
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=n;SharedAccessKey=aw==",
        "hub",
        **kw,
    ),
    "webhook sink": lambda sa, **kw: WebhookSink("https://127.0.0.1:9/hook", **kw),
}


def generate_vapid() -> str:
    return generate_keys().private_key


@pytest.mark.parametrize("make", [unverified, no_hostname_check])
def test_endpoints_refuse_a_context_that_does_not_verify(
    make: Callable[[], ssl.SSLContext], caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigError, match="insecure=True"):
        Endpoints(ssl_context=make())
    with pytest.raises(ConfigError):
        Endpoints().replace(ssl_context=make())
    caplog.set_level(logging.WARNING)
    Endpoints(ssl_context=make(), insecure=True)
    assert any("does not verify" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("name", list(SENDERS))
@pytest.mark.parametrize("make", [unverified, no_hostname_check])
def test_every_sender_refuses_a_context_that_does_not_verify(
    name: str, make: Callable[[], ssl.SSLContext], service_account: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError, match="does not verify"):
        SENDERS[name](service_account, ssl_context=make())
    SENDERS[name](service_account, ssl_context=make(), insecure=True)


async def test_a_session_without_verification_does_not_turn_it_off(emu: Emulator) -> None:
    # The emulator's CA is not in the system store: with verification on, check-in fails.
    connector = aiohttp.TCPConnector(ssl=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        core = PullkinCore(emu.endpoints.replace(ssl_context=None), session)
        with pytest.raises(CheckinError) as info:
            await core.gcm_check_in(retries=0)
    assert info.value.untrusted_certificate


# --- item 12: every answer is read up to a cap ----------------------------------------------

HUGE = 6 << 20  # over every cap (1 MiB registration, 4 MiB senders)
ENDLESS = 256 << 20  # a stream the reader must stop long before its end


def huge(*, chunked: bool) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        if not chunked:
            return web.Response(body=b"x" * HUGE, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        written = 0
        try:
            while written < ENDLESS:
                if request.transport is None or request.transport.is_closing():
                    break  # the reader hung up
                await response.write(b"x" * 65536)
                written += 65536
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass
        return response

    return answer


@pytest.fixture(params=["content-length", "chunked"])
async def flood(request: pytest.FixtureRequest, ca: LocalCA) -> AsyncIterator[Server]:
    async with Server(ca, huge(chunked=request.param == "chunked")) as server:
        yield server


async def test_registration_answers_are_capped(flood: Server) -> None:
    installation = FirebaseInstallation(
        "fid", "refresh", "auth", dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
    )
    async with PullkinCore(flood.endpoints()) as core:
        with pytest.raises(CheckinError, match="over the 1,048,576-byte limit"):
            await core.gcm_check_in(retries=0)
        with pytest.raises(InstallationError, match="over the 1,048,576-byte limit"):
            await core.fcm_installation("1:2:android:3", "key", "cert", "pkg", "proj", retries=0)
        _, fcm = await core.fcm_register("gcm", "key", "proj", installation, retries=0)
        assert not fcm.is_success  # the old API reports it on the result
        assert "over the 1,048,576-byte limit" in str(fcm.error)


async def sends(service_account: dict[str, Any], server: Server) -> dict[str, Any]:
    """One send per sender, each pointed at *server*."""
    context = server.ca.client_context()
    keys = generate_keys()
    subscription = {
        "endpoint": f"{server.url}/push/t",
        "keys": {"p256dh": keys.public_key, "auth": keys.auth_secret},
    }
    url = server.url
    return {
        "fcm": (FcmSender(service_account, endpoints=server.endpoints(), retry=fast()),
                lambda s: s.send(Message(token="t"))),
        "webpush": (WebPushSender(generate_vapid(), "mailto:a@b.c", ssl_context=context,
                                  retry=fast()), lambda s: s.send(subscription, b"x")),
        "hms": (HmsSender("1", "s", token_url=f"{url}/token", api_url=url,
                          ssl_context=context, retry=fast()),
                lambda s: s.send(hms_models.Message(data="{}", token=["t1"]))),
        "baidu": (BaiduSender("k", "s", base_url=f"{url}/rest/3.0/", ssl_context=context,
                              retry=fast()), lambda s: s.push_single_device("4000", "hi")),
        "umeng": (UmengSender("5a77fca0b27b0a5f3f000001", "s" * 32, base_url=url,
                              ssl_context=context, retry=fast()),
                  lambda s: s.unicast("t" * 44, AndroidPayload(body=AndroidBody(
                      ticker="t", title="t", text="t", after_open="go_app")))),
        "azure": (AzureNotificationHub(SENDERS_AZURE, "hub", base_url=f"{url}/azure/",
                                       ssl_context=context, retry=fast()),
                  lambda s: s.send_fcm_v1_notification({"message": {}})),
    }  # fmt: skip


SENDERS_AZURE = (
    "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=n;SharedAccessKey=aw=="
)
SEND_NAMES = ["fcm", "webpush", "hms", "baidu", "umeng", "azure"]


@pytest.mark.parametrize("name", SEND_NAMES)
async def test_every_sender_caps_the_answer_to_a_send_and_does_not_repeat_it(
    name: str, flood: Server, service_account: dict[str, Any]
) -> None:
    flood.answer = await token_then(flood.answer)
    sender, call = (await sends(service_account, flood))[name]
    async with sender:
        with pytest.raises(UnexpectedResponseError) as info:
            await call(sender)
    assert info.value.code == "RESPONSE_TOO_LARGE"
    assert info.value.http_status == 200
    assert "over the 4,194,304-byte limit" in str(info.value)
    assert len([p for p in flood.requests if not p.endswith("/token")]) == 1


@pytest.mark.parametrize("name", ["fcm", "hms"])
async def test_oauth_answers_are_capped(
    name: str, flood: Server, service_account: dict[str, Any]
) -> None:
    sender, call = (await sends(service_account, flood))[name]
    async with sender:
        with pytest.raises(UnexpectedResponseError, match="over the 4,194,304-byte limit"):
            await call(sender)
    assert flood.requests[0].endswith("/token")
    assert len(flood.requests) == 1


async def test_the_webhook_sink_reads_no_more_than_the_cap(ca: LocalCA) -> None:
    from pullkin.sinks._base import SinkRecord

    async with Server(ca, huge(chunked=True)) as server:
        sink = WebhookSink(server.url + "/hook", ssl_context=ca.client_context())
        tracemalloc.start()
        try:
            await sink._send(SinkRecord(b"{}", "0:1"))  # 2xx: confirmed, body left unread
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            await sink.aclose()
    assert peak < 64 << 20  # reading the whole answer would take 256 MiB


async def test_the_cap_sees_a_short_body_whole(ca: LocalCA, tmp_path: Path) -> None:
    body = b"y" * ((4 << 20) - 1)

    async def almost(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body)

    async with (
        Server(ca, almost) as server,
        HttpClient("x", ssl=ca.client_context(), retry=fast()) as http,
    ):
        response = await http.request("GET", server.url)
    assert response.body == body
