"""``HmsSender``: Huawei HMS Push Kit v1 — sends and topics, async, typed, retrying.

What the seed SDK ``push_admin`` does, with its defects fixed (vendors/hms.md): TLS
is verified; the OAuth client-credentials token is fetched once, renewed five
minutes before it expires, and renewed once more (single-flight, one retry) when
Huawei answers 80200001/80200003; every model field is sent; a partial success
(80100000) becomes one result per token, so callers resend to none that got it;
more than 1000 tokens are sent 1000 a request.  HTTP goes through
``pullkin.senders._http``.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import aiohttp

from pullkin.errors import (
    ConfigError,
    InvalidArgumentError,
    SendError,
    UnauthenticatedError,
    UnregisteredError,
)
from pullkin.senders._common import require_non_empty
from pullkin.senders._http import HttpClient, HttpResponse, RetryPolicy, _OwnsHttpClient, not_json
from pullkin.senders._token import AccessToken
from pullkin.senders.hms_encode import dumps, encode_message, send_body
from pullkin.senders.hms_models import (
    MAX_TOKENS_PER_REQUEST,
    Message,
    check_json_message,
    check_topic_name,
)
from pullkin.senders.hms_results import (
    ALL_TOKENS_INVALID,
    PARTIAL_SUCCESS,
    SUCCESS,
    TOKEN_REFRESH_CODES,
    HmsSendResponse,
    HmsTokenResult,
    HmsTopicError,
    HmsTopicListResponse,
    HmsTopicResponse,
    error_for,
    oauth_error,
    token_results,
    topic_errors,
    topic_list,
)

__all__ = ["DEFAULT_API_URL", "DEFAULT_TOKEN_URL", "HmsSender", "token_form"]

log = logging.getLogger(__name__)

DEFAULT_TOKEN_URL = "https://oauth-login.cloud.huawei.com/oauth2/v3/token"
DEFAULT_API_URL = "https://push-api.cloud.huawei.com"
_REFRESH_MARGIN = 300.0  # renew this long before expiry, like the seed SDK
_JSON = {"Content-Type": "application/json;charset=UTF-8"}
_FORM = {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}
_OK_CODES = frozenset({SUCCESS, PARTIAL_SUCCESS})


def token_form(app_id: str, app_secret: str) -> str:
    """The token request body; every value percent-encoded (secrets hold ``+/=&``)."""
    return urlencode(
        [("grant_type", "client_credentials"), ("client_id", app_id), ("client_secret", app_secret)]
    )


def _classify_token(response: HttpResponse) -> SendError | None:
    if response.status < 400:
        return None
    body = response.json()
    return oauth_error(body if isinstance(body, dict) else response.text()[:500], response.status)


def _classify(response: HttpResponse) -> SendError | None:
    """Success is HTTP 2xx with code 80000000 or 80100000; anything else an error."""
    body = response.json()
    if not isinstance(body, dict):
        if response.status < 400:
            return not_json(response, "hms", "HMS")
        return error_for(None, http_status=response.status, response=response.text()[:500])
    code = body.get("code")
    code = None if code is None else str(code)
    if response.status < 400 and code in _OK_CODES:
        return None
    return error_for(
        code,
        msg=str(body.get("msg") or ""),
        http_status=response.status,
        request_id=_request_id(body),
        response=body,
    )


def _request_id(body: Any) -> str | None:
    value = body.get("requestId") if isinstance(body, dict) else None
    return None if value is None else str(value)


def _parse_token(response: HttpResponse) -> tuple[str, float]:
    data = response.json()
    token = data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise UnauthenticatedError(
            "HMS OAuth answered without an access_token",
            vendor="hms",
            code="NO_ACCESS_TOKEN",
            http_status=response.status,
            request_id=response.request_id,
        )
    lifetime = data.get("expires_in", 3600)
    ok = isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool) and lifetime > 0
    seconds = float(lifetime) if ok else 3600.0
    log.debug("hms: new access token, valid for %.0fs", seconds)
    return token, seconds


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class HmsSender(_OwnsHttpClient):
    """Send through Huawei Push Kit as an app (OAuth client credentials).

    ``app_id`` / ``app_secret``: the OAuth client ID and secret of the project (the
    seed's ``appid_at`` / ``app_secret_at``); ``push_app_id`` (the seed's
    ``appid_push``) is the id in the send URL, by default ``app_id``.  ``token_url``
    and ``api_url`` default to Huawei's; ``ssl_context`` adds trust (the emulator's
    CA) and never turns verification off (a context that does not verify is refused
    unless ``insecure=True``).
    """

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        *,
        push_app_id: str | None = None,
        token_url: str = DEFAULT_TOKEN_URL,
        api_url: str = DEFAULT_API_URL,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        insecure: bool = False,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        require_non_empty("HmsSender", app_id=app_id, app_secret=app_secret)
        if not app_id.isdigit():
            raise ConfigError("HmsSender app_id must be the numeric OAuth client ID")
        self.app_id = app_id
        base = f"{api_url.rstrip('/')}/v1/{push_app_id or app_id}"
        self._send_url = f"{base}/messages:send"
        self._topic_url = f"{base}/topic:"
        self._http = HttpClient(
            "hms", session=session, timeout=timeout, retry=retry, ssl=ssl_context,
            insecure=insecure,
            classify=_classify,
        )  # fmt: skip
        self._token_url = token_url
        self._token_form = token_form(app_id, app_secret)
        self._token = AccessToken(self._request_token, _parse_token, clock, _REFRESH_MARGIN)

    async def _request_token(self) -> HttpResponse:
        return await self._http.request(
            "POST", self._token_url, data=self._token_form, headers=_FORM, classify=_classify_token
        )

    @property
    def token_fetches(self) -> int:
        """How many OAuth tokens this sender fetched (observability, tests)."""
        return self._token.fetches

    async def _post(
        self, url: str, body: bytes, *, idempotent: bool = True
    ) -> tuple[HttpResponse, dict[str, Any]]:
        """POST with the bearer token; on 80200001/80200003 renew it and retry once.

        ``idempotent=False`` (sends): never repeated after a 2xx, and after a timeout or a
        5xx only while ``RetryPolicy.repeat_sends`` (see ``senders._http``).
        """
        used: list[str] = []

        async def auth() -> dict[str, str]:
            token = await self._token.get()
            used.append(token)
            return {"Authorization": f"Bearer {token}"}

        try:
            response = await self._http.request(
                "POST", url, data=body, headers=_JSON, auth=auth, idempotent=idempotent
            )
        except UnauthenticatedError as exc:
            if exc.code not in TOKEN_REFRESH_CODES:
                raise
            log.info("hms: token rejected (%s); renewing it and retrying once", exc.code)
            await self._token.refresh(stale=used[-1] if used else None)
            response = await self._http.request(
                "POST", url, data=body, headers=_JSON, auth=auth, idempotent=idempotent
            )
        data = response.json()
        return response, data if isinstance(data, dict) else {}

    # --- sending ------------------------------------------------------------------

    async def send(
        self, message: Message | Mapping[str, Any], validate_only: bool = False
    ) -> HmsSendResponse:
        """Send *message*; ``validate_only`` asks Huawei to check it without delivering.

        *message* is a ``Message``, or Huawei's JSON message as a dict (as the seed's
        ``App.send`` takes it: its target is checked, the rest is sent as given).

        Request-level failures raise ``SendError`` subclasses.  For a token send the
        answer has one result per token: dead tokens (80100000's ``illegal_tokens``,
        or 80300007) hold an ``UnregisteredError``.  When a later chunk of a large
        send fails, its tokens and those after it hold that error, and the earlier
        chunks' results stand — resend ``retryable`` tokens only.
        """
        if isinstance(message, Message):
            encoded = encode_message(message)
        elif isinstance(message, Mapping):
            encoded = check_json_message(message)
        else:
            raise InvalidArgumentError(
                "HmsSender.send needs a pullkin.senders.hms_models.Message or Huawei's "
                "JSON message as a dict",
                vendor="hms",
            )
        tokens = encoded.get("token")
        if tokens is None:
            body = send_body(encoded, validate_only)
            response, data = await self._post(self._send_url, body, idempotent=validate_only)
            code = str(data.get("code"))
            return HmsSendResponse(code, str(data.get("msg", "")), (_rid(response, data),))
        chunks = _chunks(tokens, MAX_TOKENS_PER_REQUEST)
        # Every body is built (and size-checked) before the first request goes out.
        bodies = [send_body(encoded, validate_only, chunk) for chunk in chunks]
        return await self._send_chunks(chunks, bodies)

    send_message = send  # the seed's module-level name

    async def _send_chunks(
        self, chunks: list[Sequence[str]], bodies: list[bytes]
    ) -> HmsSendResponse:
        results: list[HmsTokenResult] = []
        request_ids: list[str] = []
        msg = ""
        for index, (chunk, body) in enumerate(zip(chunks, bodies, strict=True)):
            try:
                response, data = await self._post(self._send_url, body, idempotent=False)
            except UnregisteredError as exc:
                if exc.code != ALL_TOKENS_INVALID:
                    raise
                results.extend(HmsTokenResult(token, exc) for token in chunk)
                request_ids.append(exc.request_id or "")
                msg = str(exc)
                continue
            except SendError as exc:
                if index == 0:
                    raise  # nothing was delivered: the caller may resend everything
                for rest in chunks[index:]:
                    results.extend(HmsTokenResult(token, exc) for token in rest)
                break
            rid = _rid(response, data)
            request_ids.append(rid)
            msg = str(data.get("msg", ""))
            results.extend(token_results(chunk, str(data.get("code")), data, rid))
        return HmsSendResponse(_overall(results), msg, tuple(request_ids), tuple(results))

    # --- topics -------------------------------------------------------------------

    async def subscribe_topic(self, topic: str, tokens: Sequence[str]) -> HmsTopicResponse:
        """Subscribe *tokens* to *topic* (Android; 1000 tokens a request)."""
        return await self._manage_topic("subscribe", topic, tokens)

    async def unsubscribe_topic(self, topic: str, tokens: Sequence[str]) -> HmsTopicResponse:
        """Unsubscribe *tokens* from *topic*."""
        return await self._manage_topic("unsubscribe", topic, tokens)

    async def query_subscribe_list(self, token: str) -> HmsTopicListResponse:
        """The topics *token* is subscribed to (the seed's ``list_topics``)."""
        if not isinstance(token, str) or not token:
            raise InvalidArgumentError("query_subscribe_list needs a token", vendor="hms")
        response, data = await self._post(f"{self._topic_url}list", dumps({"token": token}))
        return HmsTopicListResponse(
            str(data.get("code")), str(data.get("msg", "")), _rid(response, data), topic_list(data)
        )

    list_topics = query_subscribe_list

    async def _manage_topic(
        self, operation: str, topic: str, tokens: Sequence[str]
    ) -> HmsTopicResponse:
        check_topic_name("topic", topic)
        valid = not isinstance(tokens, str) and all(isinstance(t, str) and t for t in tokens)
        if not tokens or not valid:
            raise InvalidArgumentError(
                f"{operation}_topic needs a non-empty list of tokens", vendor="hms"
            )
        success = failure = 0
        errors: list[HmsTopicError] = []
        request_ids = []
        code, msg = SUCCESS, ""
        for index, chunk in enumerate(_chunks(list(tokens), MAX_TOKENS_PER_REQUEST)):
            body = dumps({"topic": topic, "tokenArray": list(chunk)})
            response, data = await self._post(f"{self._topic_url}{operation}", body)
            request_ids.append(_rid(response, data))
            code, msg = str(data.get("code")), str(data.get("msg", ""))
            chunk_errors = topic_errors(data, chunk, index * MAX_TOKENS_PER_REQUEST)
            errors.extend(chunk_errors)
            failure += _count(data.get("failureCount"), len(chunk_errors))
            success += _count(data.get("successCount"), len(chunk) - len(chunk_errors))
        return HmsTopicResponse(code, msg, tuple(request_ids), success, failure, tuple(errors))

    def __repr__(self) -> str:
        return f"<HmsSender app_id={self.app_id} {self._http!r}>"


def _rid(response: HttpResponse, data: dict[str, Any]) -> str:
    return _request_id(data) or response.request_id


def _count(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _overall(results: list[HmsTokenResult]) -> str:
    if all(r.ok for r in results):
        return SUCCESS
    if not any(r.ok for r in results):
        dead = all(isinstance(r.error, UnregisteredError) for r in results)
        return ALL_TOKENS_INVALID if dead else PARTIAL_SUCCESS
    return PARTIAL_SUCCESS
