"""The shared sender HTTP base against a real loopback server that counts attempts."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _local_http import catch_all, serve_local
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from pullkin.emulator import _tls
from pullkin.errors import (
    ConfigError,
    InvalidArgumentError,
    NotFoundError,
    QuotaExceededError,
    SendError,
    UnauthenticatedError,
    UnavailableError,
    UnregisteredError,
)
from pullkin.senders._http import (
    HttpClient,
    HttpResponse,
    RetryPolicy,
    error_for_status,
    is_retryable,
    run_each,
)

Answer = Callable[[web.Request, int], Awaitable[web.StreamResponse]]


@dataclass
class Server:
    """A loopback server whose answer to attempt *n* is scripted by the test."""

    url: str = ""
    answer: Answer | None = None
    attempts: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    peers: set[Any] = field(default_factory=set)
    in_flight: int = 0
    max_in_flight: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.attempts += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            assert request.transport is not None
            self.peers.add(request.transport.get_extra_info("peername"))
            self.requests.append(
                {
                    "headers": request.headers.copy(),
                    "body": await request.read(),
                    "query": dict(request.query),
                }
            )
            assert self.answer is not None
            return await self.answer(request, self.attempts)
        finally:
            self.in_flight -= 1


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    runner, port = await serve_local(catch_all(state.handle))
    state.url = f"http://127.0.0.1:{port}/send"
    yield state
    await runner.cleanup()


class FakeTime:
    """Injected clock and sleep: sleeping advances the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client(fake: FakeTime, **kwargs: Any) -> HttpClient:
    kwargs.setdefault("retry", RetryPolicy(attempts=4, base=0.5, cap=8, total=60))
    return HttpClient(
        "testvendor", sleep=fake.sleep, clock=fake.clock, rng=random.Random(1), **kwargs
    )


def respond(status: int, body: str = "{}", **headers: str) -> Answer:
    async def answer(request: web.Request, attempt: int) -> web.StreamResponse:
        return web.Response(status=status, text=body, headers=headers)

    return answer


def script(*answers: Answer) -> Answer:
    async def answer(request: web.Request, attempt: int) -> web.StreamResponse:
        return await answers[min(attempt, len(answers)) - 1](request, attempt)

    return answer


# --- success, keep-alive, encoding -------------------------------------------------


@pytest.mark.anyio
async def test_success_returns_status_headers_body_and_json(server: Server) -> None:
    server.answer = respond(200, '{"name": "x"}', **{"X-Thing": "1"})
    async with client(FakeTime()) as http:
        response = await http.request("POST", server.url, json={"a": "é"})
    assert response.status == 200
    assert response.json() == {"name": "x"}
    assert response.headers["x-thing"] == "1"
    assert server.requests[0]["body"] == '{"a":"é"}'.encode()
    assert server.requests[0]["headers"]["Content-Type"].startswith("application/json")


@pytest.mark.anyio
async def test_sequential_requests_reuse_one_keep_alive_connection(server: Server) -> None:
    server.answer = respond(200)
    async with client(FakeTime()) as http:
        for _ in range(5):
            await http.request("POST", server.url, data=b"x")
    assert server.attempts == 5
    assert len(server.peers) == 1


@pytest.mark.anyio
async def test_json_and_data_together_is_a_config_error(server: Server) -> None:
    server.answer = respond(200)
    async with client(FakeTime()) as http:
        with pytest.raises(ConfigError, match="either json= or data="):
            await http.request("POST", server.url, json={}, data=b"x")
    assert server.attempts == 0


@pytest.mark.anyio
async def test_non_json_body_gives_none_from_json(server: Server) -> None:
    server.answer = respond(200, "<html>")
    async with client(FakeTime()) as http:
        response = await http.request("GET", server.url)
    assert response.json() is None
    assert response.text() == "<html>"


# --- retries ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_503_then_200_is_retried_once_with_jittered_backoff(server: Server) -> None:
    server.answer = script(respond(503), respond(200))
    fake = FakeTime()
    async with client(fake) as http:
        response = await http.request("POST", server.url, data=b"x")
    assert response.status == 200
    assert server.attempts == 2
    assert len(fake.sleeps) == 1
    assert 0 <= fake.sleeps[0] <= 0.5


@pytest.mark.anyio
async def test_429_retry_after_is_honoured_exactly(server: Server) -> None:
    server.answer = script(respond(429, **{"Retry-After": "2"}), respond(200))
    fake = FakeTime()
    async with client(fake) as http:
        await http.request("POST", server.url, data=b"x")
    assert server.attempts == 2
    assert fake.sleeps == [2.0]


@pytest.mark.anyio
async def test_persistent_503_stops_after_the_attempt_budget(server: Server) -> None:
    server.answer = respond(503, '{"error": "down"}', **{"Retry-After": "1"})
    fake = FakeTime()
    async with client(fake) as http:
        with pytest.raises(UnavailableError) as info:
            await http.request("POST", server.url, data=b"x")
    assert server.attempts == 4
    assert fake.sleeps == [1.0, 1.0, 1.0]
    error = info.value
    assert error.http_status == 503
    assert error.retry_after == 1.0
    assert error.code == "HTTP_503"
    assert error.vendor == "testvendor"
    assert error.request_id


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidArgumentError),
        (401, UnauthenticatedError),
        (404, NotFoundError),
        (413, InvalidArgumentError),
    ],
)
@pytest.mark.anyio
async def test_non_retryable_statuses_fail_at_once(
    server: Server, status: int, kind: type[SendError]
) -> None:
    server.answer = respond(status)
    fake = FakeTime()
    async with client(fake) as http:
        with pytest.raises(kind) as info:
            await http.request("POST", server.url, data=b"x")
    assert server.attempts == 1
    assert fake.sleeps == []
    assert info.value.http_status == status


@pytest.mark.anyio
async def test_retry_after_beyond_the_total_budget_is_raised_at_once(server: Server) -> None:
    server.answer = respond(429, **{"Retry-After": "3600"})
    fake = FakeTime()
    async with client(fake) as http:
        with pytest.raises(QuotaExceededError) as info:
            await http.request("POST", server.url, data=b"x")
    assert server.attempts == 1
    assert info.value.retry_after == 3600.0


@pytest.mark.anyio
async def test_total_time_budget_bounds_the_retries(server: Server) -> None:
    server.answer = respond(503, **{"Retry-After": "4"})
    fake = FakeTime()
    async with client(fake, retry=RetryPolicy(attempts=100, total=10)) as http:
        with pytest.raises(UnavailableError):
            await http.request("POST", server.url, data=b"x")
    # waits of 4 s: at t=0 and t=4 fit, the third (t=8 → 12) would overrun 10 s.
    assert fake.sleeps == [4.0, 4.0]
    assert server.attempts == 3


@pytest.mark.anyio
async def test_connection_refused_is_retried_then_unavailable() -> None:
    fake = FakeTime()
    with_socket = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
    port = with_socket.sockets[0].getsockname()[1]
    with_socket.close()
    await with_socket.wait_closed()
    async with client(fake) as http:
        with pytest.raises(UnavailableError) as info:
            await http.request("POST", f"http://127.0.0.1:{port}/", data=b"x", idempotent=False)
    assert info.value.code == "CONNECTION_ERROR"
    assert len(fake.sleeps) == 3  # refused connections never reached the server: safe to retry
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectorError)


@pytest.mark.anyio
async def test_a_timed_out_send_is_repeated_only_while_repeat_sends(server: Server) -> None:
    async def slow(request: web.Request, attempt: int) -> web.StreamResponse:
        await asyncio.sleep(1)
        return web.Response()

    server.answer = slow
    never = RetryPolicy(attempts=2, repeat_sends=False)
    async with client(FakeTime(), timeout=0.05, retry=never) as http:
        with pytest.raises(UnavailableError) as info:
            await http.request("POST", server.url, data=b"x", idempotent=False)
        assert info.value.code == "TIMEOUT"
        assert server.attempts == 1
        with pytest.raises(UnavailableError):  # idempotent: repeated whatever the policy
            await http.request("POST", server.url, data=b"x")
        assert server.attempts == 3
    async with client(FakeTime(), timeout=0.05, retry=RetryPolicy(attempts=2)) as http:
        with pytest.raises(UnavailableError):  # the default repeats it (it may arrive twice)
            await http.request("POST", server.url, data=b"x", idempotent=False)
        assert server.attempts == 5


@pytest.mark.anyio
async def test_server_dropping_the_connection_is_retried(server: Server) -> None:
    async def drop(request: web.Request, attempt: int) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    server.answer = script(drop, respond(200))
    fake = FakeTime()
    async with client(fake) as http:
        response = await http.request("POST", server.url, data=b"x")
    assert response.status == 200
    assert server.attempts == 2


# --- request ids, auth hook, classifier ------------------------------------------------


@pytest.mark.anyio
async def test_our_request_id_is_sent_and_put_on_the_error(server: Server) -> None:
    server.answer = respond(400)
    async with client(FakeTime(), request_id_header="X-Request-Id") as http:
        with pytest.raises(InvalidArgumentError) as info:
            await http.request("POST", server.url, data=b"x")
    assert info.value.request_id == server.requests[0]["headers"]["X-Request-Id"]
    assert info.value.request_id is not None
    assert len(info.value.request_id) == 32


@pytest.mark.anyio
async def test_the_vendors_request_id_wins_when_it_sends_one(server: Server) -> None:
    server.answer = respond(404, TrackingId="vendor-42")
    async with client(FakeTime(), response_id_headers=("TrackingId",)) as http:
        with pytest.raises(NotFoundError) as info:
            await http.request("POST", server.url, data=b"x")
    assert info.value.request_id == "vendor-42"
    assert "request_id=vendor-42" in str(info.value)


@pytest.mark.anyio
async def test_auth_hook_is_asked_before_every_attempt(server: Server) -> None:
    server.answer = script(respond(503), respond(200))
    calls = 0

    async def auth() -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"Authorization": f"token-{calls}"}

    async with client(FakeTime()) as http:
        await http.request("POST", server.url, data=b"x", auth=auth)
    assert [r["headers"]["Authorization"] for r in server.requests] == ["token-1", "token-2"]


@pytest.mark.anyio
async def test_classifier_turns_a_200_error_body_into_a_retryable_error(server: Server) -> None:
    server.answer = script(respond(200, '{"code": "busy"}'), respond(200, '{"code": "ok"}'))

    def classify(response: HttpResponse) -> SendError | None:
        code = response.json()["code"]
        return None if code == "ok" else UnavailableError("busy", vendor="testvendor", code=code)

    fake = FakeTime()
    async with client(fake, classify=classify) as http:
        response = await http.request("POST", server.url, data=b"x")
    assert response.json() == {"code": "ok"}
    assert server.attempts == 2


@pytest.mark.anyio
async def test_classifier_errors_get_status_and_request_id_filled_in(server: Server) -> None:
    server.answer = respond(404)

    def classify(response: HttpResponse) -> SendError | None:
        return UnregisteredError("gone", vendor="testvendor", code="GONE")

    async with client(FakeTime(), classify=classify) as http:
        with pytest.raises(UnregisteredError) as info:
            await http.request("POST", server.url, data=b"x")
    assert (info.value.http_status, info.value.code) == (404, "GONE")
    assert info.value.request_id


# --- sessions and TLS ----------------------------------------------------------------


@pytest.mark.anyio
async def test_a_session_passed_in_is_used_and_left_open(server: Server) -> None:
    server.answer = respond(200)
    async with aiohttp.ClientSession() as session:
        async with client(FakeTime(), session=session) as http:
            await http.request("GET", server.url)
        assert not session.closed
        assert http.closed


@pytest.mark.anyio
async def test_a_closed_client_refuses_requests(server: Server) -> None:
    http = client(FakeTime())
    await http.aclose()
    with pytest.raises(ConfigError, match="closed"):
        await http.request("GET", server.url)


@pytest.fixture(scope="module")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> _tls.LocalCA:
    directory: Path = tmp_path_factory.mktemp("ca")
    return _tls.make_local_ca(directory, ("127.0.0.1",))


@pytest.mark.anyio
async def test_tls_is_verified_and_an_untrusted_certificate_is_not_retried(
    local_ca: _tls.LocalCA,
) -> None:
    app = web.Application()
    app.router.add_get("/", _ok)
    runner, port = await serve_local(app, ssl_context=local_ca.server_context())
    url = f"https://127.0.0.1:{port}/"
    try:
        fake = FakeTime()
        async with client(fake) as http:
            with pytest.raises(UnavailableError) as info:
                await http.request("GET", url)
        assert info.value.code == "TLS_CERTIFICATE"
        assert fake.sleeps == []
        async with client(fake, ssl=local_ca.client_context()) as http:
            assert (await http.request("GET", url)).status == 200
    finally:
        await runner.cleanup()


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


# --- mapping and policy ------------------------------------------------------------------


def _response(status: int, body: bytes = b"", **headers: str) -> HttpResponse:
    return HttpResponse(status, headers, body, "rid")


@given(status=st.integers(min_value=400, max_value=599))
def test_every_error_status_maps_to_a_send_error_retryable_only_if_transient(status: int) -> None:
    error = error_for_status(_response(status), "v")
    assert isinstance(error, SendError)
    assert error.http_status == status
    assert error.code == f"HTTP_{status}"
    assert error.request_id == "rid"
    assert is_retryable(error) == (status in (408, 429) or status >= 500)


def test_vendor_can_map_404_and_410_to_unregistered() -> None:
    for status in (404, 410):
        error = error_for_status(_response(status), "v", not_found=UnregisteredError, code="GONE")
        assert isinstance(error, UnregisteredError)
        assert error.code == "GONE"


def test_error_keeps_the_decoded_body_and_a_short_message() -> None:
    error = error_for_status(_response(400, b'{"error": "bad"}'), "v")
    assert error.response == {"error": "bad"}
    long = error_for_status(_response(500, b"x" * 5000), "v")
    assert len(str(long)) < 400


@pytest.mark.parametrize(
    "kwargs", [{"attempts": 0}, {"base": 0}, {"base": 2, "cap": 1}, {"total": 0}]
)
def test_bad_retry_policies_are_config_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# --- batches -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_run_each_keeps_order_bounds_concurrency_and_holds_errors(server: Server) -> None:
    async def answer(request: web.Request, attempt: int) -> web.StreamResponse:
        await asyncio.sleep(0.01)
        item = int(request.query["i"])
        return web.Response(status=400 if item % 3 == 0 else 200, text=str(item))

    server.answer = answer
    async with client(FakeTime()) as http:

        async def send(item: int) -> str:
            response = await http.request("GET", server.url, params={"i": str(item)})
            return response.text()

        batch = await run_each(range(20), send, concurrency=4)
    assert len(batch) == 20
    assert server.max_in_flight == 4
    assert [r.value for r in batch if r.success] == [str(i) for i in range(20) if i % 3]
    assert all(isinstance(batch[i].error, InvalidArgumentError) for i in range(0, 20, 3))
    assert (batch.success_count, batch.failure_count) == (13, 7)


@pytest.mark.anyio
async def test_run_each_rejects_zero_concurrency() -> None:
    async def send(item: int) -> int:
        return item

    with pytest.raises(ConfigError):
        await run_each([1], send, concurrency=0)
    assert len(await run_each([], send)) == 0
