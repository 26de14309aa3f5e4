"""FcmSender against a local fake of Google's OAuth, FCM v1 and IID endpoints.

The fake verifies the JWT bearer grant with the service account's public key, so
the OAuth flow is checked end to end; FCM answers are scripted per test.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from _local_http import serve_local
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pullkin.endpoints import Endpoints
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
from pullkin.senders._http import RetryPolicy
from pullkin.senders.fcm import (
    AndroidConfig,
    FcmSender,
    Message,
    Notification,
    _AccessTokens,
    load_service_account,
)

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()

Fcm = Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]


def service_account(token_uri: str = "https://oauth2.googleapis.com/token") -> dict[str, str]:
    return {
        "type": "service_account",
        "project_id": "proj-1",
        "private_key_id": "kid-123",
        "private_key": PEM,
        "client_email": "sender@proj-1.iam.gserviceaccount.com",
        "token_uri": token_uri,
    }


@dataclass
class FakeGoogle:
    url: str = ""
    expires_in: int = 3600
    token_delay: float = 0.0
    token_error: tuple[int, dict[str, Any]] | None = None
    fcm: Fcm | None = None
    grants: list[dict[str, Any]] = field(default_factory=list)
    sends: list[dict[str, Any]] = field(default_factory=list)
    iid: list[dict[str, Any]] = field(default_factory=list)
    issued: set[str] = field(default_factory=set)

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            oauth_token=f"{self.url}/token",
            fcm_send=f"{self.url}/v1/projects/{{project_id}}/messages:send",
            iid=self.url,
        )

    async def token(self, request: web.Request) -> web.Response:
        form = dict(urllib.parse.parse_qsl((await request.read()).decode()))
        header = jwt.get_unverified_header(form["assertion"])
        claims = jwt.decode(
            form["assertion"], KEY.public_key(), algorithms=["RS256"], audience=f"{self.url}/token"
        )
        self.grants.append({"form": form, "header": header, "claims": claims})
        await asyncio.sleep(self.token_delay)
        if self.token_error is not None:
            return web.json_response(self.token_error[1], status=self.token_error[0])
        token = f"ya29.token-{len(self.grants)}"
        self.issued.add(token)
        return web.json_response(
            {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    async def send(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.sends.append({"path": request.path, "headers": request.headers.copy(), "body": body})
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") not in self.issued:
            return web.json_response(
                {"error": {"code": 401, "status": "UNAUTHENTICATED"}}, status=401
            )
        if self.fcm is not None:
            return await self.fcm(request, body)
        return web.json_response({"name": f"projects/proj-1/messages/0:{len(self.sends)}"})

    async def iid_call(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.iid.append({"path": request.path, "headers": request.headers.copy(), "body": body})
        results = [
            {"error": "INVALID_ARGUMENT"} if t.startswith("bad") else {}
            for t in body["registration_tokens"]
        ]
        return web.json_response({"results": results})


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    fake = FakeGoogle()
    app = web.Application()
    app.router.add_post("/token", fake.token)
    app.router.add_post("/v1/projects/{project}/messages:send", fake.send)
    app.router.add_post("/iid/v1:{op}", fake.iid_call)
    runner, port = await serve_local(app)
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


def sender(google: FakeGoogle, **kwargs: Any) -> FcmSender:
    kwargs.setdefault("retry", RetryPolicy(attempts=3, base=0.01, cap=0.02, total=5))
    return FcmSender(service_account(), endpoints=google.endpoints, **kwargs)


def fcm_error(status: int, canonical: str, code: str | None, **headers: str) -> Fcm:
    async def answer(request: web.Request, body: dict[str, Any]) -> web.Response:
        details = [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
        ]
        error = {"code": status, "message": f"{canonical} here", "status": canonical}
        if code:
            error["details"] = details
        return web.json_response({"error": error}, status=status, headers=headers)

    return answer


# --- OAuth -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_send_exchanges_a_signed_jwt_for_a_bearer_token(google: FakeGoogle) -> None:
    async with sender(google) as fcm:
        name = await fcm.send(Message(token="tok", data={"k": "v"}))
    assert name == "projects/proj-1/messages/0:1"
    grant = google.grants[0]
    assert grant["form"]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert grant["header"] == {"alg": "RS256", "typ": "JWT", "kid": "kid-123"}
    claims = grant["claims"]
    assert claims["iss"] == "sender@proj-1.iam.gserviceaccount.com"
    assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    assert google.sends[0]["headers"]["Authorization"] == "Bearer ya29.token-1"


@pytest.mark.anyio
async def test_the_token_is_cached_and_fetched_once_under_concurrency(google: FakeGoogle) -> None:
    google.token_delay = 0.05
    async with sender(google) as fcm:
        await asyncio.gather(*(fcm.send(Message(token=f"t{i}")) for i in range(30)))
        await fcm.send(Message(token="later"))
    assert len(google.grants) == 1
    assert len(google.sends) == 31


@pytest.mark.anyio
async def test_a_token_about_to_expire_is_refreshed(google: FakeGoogle) -> None:
    google.expires_in = 0
    async with sender(google) as fcm:
        await fcm.send(Message(token="a"))
        await fcm.send(Message(token="b"))
    assert len(google.grants) == 2
    assert google.sends[1]["headers"]["Authorization"] == "Bearer ya29.token-2"


@pytest.mark.anyio
async def test_refresh_happens_five_minutes_before_expiry_on_the_injected_clock(
    google: FakeGoogle,
) -> None:
    now = [1000.0]
    async with sender(google) as fcm:
        tokens = _AccessTokens(
            fcm._http, service_account(), f"{google.url}/token", ["s"], clock=lambda: now[0]
        )
        assert await tokens.headers() == {"Authorization": "Bearer ya29.token-1"}
        now[0] += 3600 - 301
        assert await tokens.headers() == {"Authorization": "Bearer ya29.token-1"}
        now[0] += 2
        assert await tokens.headers() == {"Authorization": "Bearer ya29.token-2"}


@pytest.mark.anyio
async def test_a_refused_grant_is_an_unauthenticated_error(google: FakeGoogle) -> None:
    google.token_error = (
        400,
        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
    )
    async with sender(google) as fcm:
        with pytest.raises(UnauthenticatedError, match="Invalid JWT Signature") as info:
            await fcm.send(Message(token="t"))
    assert info.value.code == "invalid_grant"
    assert google.sends == []


@pytest.mark.anyio
async def test_token_uri_of_the_key_is_used_unless_endpoints_are_given(google: FakeGoogle) -> None:
    info = service_account(token_uri=f"{google.url}/token")
    async with FcmSender(info, endpoints=None) as fcm:  # never sends: no request to Google
        assert fcm._tokens._token_url == f"{google.url}/token"
        assert fcm._send_url == "https://fcm.googleapis.com/v1/projects/proj-1/messages:send"
    info["token_uri"] = "https://unused.invalid/token"
    async with FcmSender(info, "other-project", google.endpoints) as fcm:
        assert fcm.project_id == "other-project"
        await fcm.send(Message(topic="news"))
    assert google.sends[0]["path"] == "/v1/projects/other-project/messages:send"


# --- request shape ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_request_body_and_headers_follow_the_v1_reference(google: FakeGoogle) -> None:
    message = Message(
        token="device-token",
        notification=Notification(title="T", body="B"),
        data={"k": "v"},
        android=AndroidConfig(priority="high", ttl=3.5, collapse_key="c"),
    )
    async with sender(google) as fcm:
        await fcm.send(message, validate_only=True)
    sent = google.sends[0]
    assert sent["path"] == "/v1/projects/proj-1/messages:send"
    assert sent["headers"]["Content-Type"].startswith("application/json")
    assert sent["headers"]["X-GOOG-API-FORMAT-VERSION"] == "2"
    assert sent["body"] == {
        "validate_only": True,
        "message": {
            "token": "device-token",
            "notification": {"title": "T", "body": "B"},
            "data": {"k": "v"},
            "android": {"priority": "HIGH", "ttl": "3.5s", "collapse_key": "c"},
        },
    }


# --- errors and retries -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "canonical", "code", "kind"),
    [
        (404, "NOT_FOUND", "UNREGISTERED", UnregisteredError),
        (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", InvalidArgumentError),
        (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", UnauthenticatedError),
        (401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", UnauthenticatedError),
        (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", QuotaExceededError),
        (503, "UNAVAILABLE", "UNAVAILABLE", UnavailableError),
        (500, "INTERNAL", "INTERNAL", UnavailableError),
        (404, "NOT_FOUND", None, NotFoundError),
    ],
)
@pytest.mark.anyio
async def test_fcm_error_codes_map_to_the_error_tree(
    google: FakeGoogle, status: int, canonical: str, code: str | None, kind: type[SendError]
) -> None:
    google.fcm = fcm_error(status, canonical, code)
    async with sender(google, retry=RetryPolicy(attempts=1)) as fcm:
        with pytest.raises(kind) as info:
            await fcm.send(Message(token="t"))
    assert type(info.value) is kind
    assert info.value.code == (code or canonical)
    assert info.value.http_status == status
    assert info.value.vendor == "fcm"
    assert info.value.request_id


@pytest.mark.anyio
async def test_verbatim_unregistered_answer_is_unregistered(google: FakeGoogle) -> None:
    body = '{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}'

    async def answer(request: web.Request, _: dict[str, Any]) -> web.Response:
        return web.Response(status=404, text=body, content_type="application/json")

    google.fcm = answer
    async with sender(google) as fcm:
        with pytest.raises(UnregisteredError, match="Requested entity was not found"):
            await fcm.send(Message(token="t"))
    assert len(google.sends) == 1


@pytest.mark.anyio
async def test_unavailable_is_retried_honouring_retry_after_then_succeeds(
    google: FakeGoogle,
) -> None:
    # Retry-After is whole seconds (RFC 9110): one retry, one second.
    failing = fcm_error(503, "UNAVAILABLE", "UNAVAILABLE", **{"Retry-After": "1"})

    async def answer(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        if len(google.sends) < 2:
            return await failing(request, body)
        return web.json_response({"name": "projects/proj-1/messages/ok"})

    google.fcm = answer
    loop = asyncio.get_running_loop()
    async with sender(google) as fcm:
        started = loop.time()
        assert await fcm.send(Message(token="t")) == "projects/proj-1/messages/ok"
        assert loop.time() - started >= 1.0
    assert len(google.sends) == 2


@pytest.mark.anyio
async def test_send_each_returns_per_item_results(google: FakeGoogle) -> None:
    unregistered = fcm_error(404, "NOT_FOUND", "UNREGISTERED")

    async def answer(request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        if body["message"]["token"].startswith("dead"):
            return await unregistered(request, body)
        return web.json_response({"name": f"projects/proj-1/messages/{body['message']['token']}"})

    google.fcm = answer
    messages = [Message(token=t) for t in ("a", "dead1", "b", "dead2")]
    async with sender(google) as fcm:
        batch = await fcm.send_each(messages, concurrency=2)
    assert [r.value for r in batch] == [
        "projects/proj-1/messages/a",
        None,
        "projects/proj-1/messages/b",
        None,
    ]
    assert [type(r.error) for r in batch] == [
        type(None),
        UnregisteredError,
        type(None),
        UnregisteredError,
    ]
    assert (batch.success_count, batch.failure_count) == (2, 2)


# --- topics ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_subscribe_uses_the_iid_batch_api_in_chunks_of_1000(google: FakeGoogle) -> None:
    tokens = [f"t{i}" for i in range(2500)]
    tokens[1500] = "bad-token"
    async with sender(google) as fcm:
        result = await fcm.subscribe_to_topic(tokens, "/topics/news")
        removed = await fcm.unsubscribe_from_topic("one", "news")
    assert [call["path"] for call in google.iid] == ["/iid/v1:batchAdd"] * 3 + [
        "/iid/v1:batchRemove"
    ]
    assert [len(call["body"]["registration_tokens"]) for call in google.iid] == [1000, 1000, 500, 1]
    first = google.iid[0]
    assert first["body"]["to"] == "/topics/news"
    assert first["headers"]["access_token_auth"] == "true"
    assert first["headers"]["Authorization"] == "Bearer ya29.token-1"
    assert (result.success_count, result.failure_count) == (2499, 1)
    assert result.errors == [(1500, "INVALID_ARGUMENT")]
    assert removed.success_count == 1


@pytest.mark.anyio
async def test_bad_topic_or_tokens_fail_before_any_request(google: FakeGoogle) -> None:
    async with sender(google) as fcm:
        with pytest.raises(InvalidArgumentError, match="topic"):
            await fcm.subscribe_to_topic(["t"], "bad topic!")
        with pytest.raises(InvalidArgumentError, match="tokens"):
            await fcm.subscribe_to_topic([], "news")
    assert google.iid == []
    assert google.grants == []


# --- service accounts ---------------------------------------------------------------


def test_service_account_from_dict_path_and_json_text(tmp_path: Path) -> None:
    info = service_account()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    assert load_service_account(info) == info
    assert load_service_account(path) == info
    assert load_service_account(str(path)) == info
    assert load_service_account(json.dumps(info)) == info


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("/nonexistent/sa.json", "cannot read the service account file"),
        ("{not json", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ({"client_email": "x@y"}, "no 'private_key'"),
    ],
)
def test_bad_service_accounts_are_config_errors(source: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        FcmSender(source)


def test_service_account_key_must_be_an_rsa_pem() -> None:
    info = service_account()
    info["private_key"] = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"
    with pytest.raises(ConfigError, match="not a readable PEM"):
        FcmSender(info)
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    info["private_key"] = ec_pem.decode()
    with pytest.raises(ConfigError, match="must be an RSA key"):
        FcmSender(info)


def test_project_id_is_required_from_key_or_argument() -> None:
    info = service_account()
    del info["project_id"]
    with pytest.raises(ConfigError, match="project_id"):
        FcmSender(info)
    assert FcmSender(info, "given").project_id == "given"


@pytest.mark.parametrize("account", [None, 42, b"{}"])
def test_a_sender_without_a_usable_service_account_is_a_config_error(account: object) -> None:
    with pytest.raises(ConfigError, match="a service account is needed"):
        FcmSender(account)  # type: ignore[arg-type]
