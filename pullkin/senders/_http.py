"""The HTTP base every sender composes: pooled session, retries, error mapping.

Theory of operation: a sender owns one ``HttpClient``.  ``request()`` is one logical
call: it gets a fresh request id, then makes up to ``RetryPolicy.attempts`` attempts
inside ``RetryPolicy.total`` seconds.  Each attempt asks the optional ``auth`` hook for
headers (so a token or signature that expires mid-retry is renewed), sends, reads the
whole body and hands an ``HttpResponse`` to the vendor's classifier, which answers
``None`` (success) or the ``SendError`` the answer means.  What is retried:
``UnavailableError`` (5xx, timeouts, dropped connections) and ``QuotaExceededError``
(429) by default; the wait is the server's ``Retry-After`` when it gave one, else
exponential backoff with full jitter.  A retryable answer on the last attempt, or one
whose wait would overrun the budget, is raised with ``retry_after`` set (and said in
the message), so the caller can schedule it.

Repeated sends: a request that is not idempotent (a push) is never repeated after an
answer with a 2xx status — the vendor accepted it, whatever its body says.  After a
failure that leaves unknown whether it arrived (a timeout or dropped connection after
the request was written, a 5xx or 408) it is repeated only while
``RetryPolicy.repeat_sends`` is true (the default, as FCM asks); such a repeat may
deliver the push twice.  Failures before the request left and 429 are retried either
way.  Every answer's body is read up to ``max_response_size`` bytes
(``UnexpectedResponseError`` beyond).

The session is keep-alive and pooled; the client closes it only if it created it.
Sleeping and the clock are injectable, so retry tests run in microseconds.  Batch
helpers (``run_each`` and its result types) live in ``_batch``, the answer type and
the status mapping in ``_answers``; both are re-exported.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl as _ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from pullkin._backoff import Backoff
from pullkin._closing import AsyncClosing
from pullkin._http_read import MAX_SEND_BODY, ResponseTooLarge, read_capped, tls
from pullkin.endpoints import check_ssl_context
from pullkin.errors import (
    ConfigError,
    QuotaExceededError,
    SendError,
    UnavailableError,
    UnexpectedResponseError,
)
from pullkin.senders._answers import (
    Classifier,
    HttpResponse,
    default_classify,
    error_for_status,
    is_retryable,
    not_json,
)
from pullkin.senders._batch import BatchResult, SendResult, run_each
from pullkin.senders._common import dumps

__all__ = [
    "NO_RETRY",
    "AuthHook",
    "BatchResult",
    "Classifier",
    "HttpClient",
    "HttpResponse",
    "RetryPolicy",
    "SendResult",
    "default_classify",
    "dumps",
    "error_for_status",
    "is_retryable",
    "not_json",
    "run_each",
]

log = logging.getLogger(__name__)


#: Async hook returning per-attempt headers (a bearer token, a SAS signature).
AuthHook = Callable[[], Awaitable[Mapping[str, str]]]


# --- retry policy -----------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``attempts`` in all (1 = no retry) within ``total`` seconds.

    Waits are the server's ``Retry-After`` when given, else full-jitter exponential
    backoff from ``base`` doubling up to ``cap`` seconds.  ``repeat_sends=False``
    never repeats a send that may have reached the vendor (a timeout after it was
    written, a 5xx): no push is then delivered twice because of a retry here.
    """

    attempts: int = 4
    base: float = 0.5
    cap: float = 30.0
    total: float = 60.0
    repeat_sends: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError("RetryPolicy.attempts must be at least 1")
        if self.base <= 0 or self.cap < self.base:
            raise ConfigError("RetryPolicy needs base > 0 and cap >= base")
        if self.total <= 0:
            raise ConfigError("RetryPolicy.total must be positive (seconds)")

    def backoff(self, rng: random.Random | None = None) -> Backoff:
        return Backoff(base=self.base, cap=self.cap, rng=rng or random.Random())


NO_RETRY = RetryPolicy(attempts=1)


# --- the client -------------------------------------------------------------------

_Sleep = Callable[[float], Awaitable[None]]


class HttpClient(AsyncClosing):
    """One vendor's pooled, retrying HTTP client; an async context manager.

    ``session``: use this aiohttp session instead of creating one (it is then never
    closed here).  ``timeout``: seconds per attempt (``connect_timeout``: of which
    at most this many to connect, TLS included).  ``ssl``: an ``SSLContext`` to
    trust (``None`` = system store, verification always on; a context that does not
    verify is refused unless ``insecure=True``).  ``max_response_size``: bytes of an
    answer read at most.  ``classify``: the
    vendor's answer → error mapping.  ``request_id_header``: send our request id under
    this header; ``response_id_headers``: where the vendor puts its own id.
    """

    def __init__(
        self,
        vendor: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
        connect_timeout: float | None = None,
        retry: RetryPolicy | None = None,
        ssl: _ssl.SSLContext | None = None,
        classify: Classifier | None = None,
        retryable: Callable[[SendError], bool] = is_retryable,
        request_id_header: str | None = None,
        response_id_headers: Sequence[str] = (),
        limit: int = 100,
        sleep: _Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        insecure: bool = False,
        max_response_size: int = MAX_SEND_BODY,
    ) -> None:
        if timeout <= 0:
            raise ConfigError(f"{vendor} sender: timeout must be positive seconds")
        if connect_timeout is not None and connect_timeout <= 0:
            raise ConfigError(f"{vendor} sender: connect_timeout must be positive seconds")
        check_ssl_context(ssl, insecure=insecure, owner=f"the {vendor} sender's ssl_context")
        self.vendor = vendor
        self.retry = retry or RetryPolicy()
        self.classify = classify or default_classify(vendor)
        self._retryable = retryable
        self._session = session
        self._owns_session = session is None
        self._ssl = tls(ssl)
        self._max_response_size = max_response_size
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._attempt_timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._request_id_header = request_id_header
        self._response_id_headers = tuple(response_id_headers)
        self._limit = limit
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._closed = False

    # --- lifecycle --------------------------------------------------------------

    async def __aenter__(self) -> HttpClient:
        self._ensure_session()
        return self

    async def aclose(self) -> None:
        """Close the session if this client created it; idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ConfigError(f"this {self.vendor} sender is closed; create a new one")
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._limit, ssl=self._ssl)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    # --- requests ---------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        auth: AuthHook | None = None,
        classify: Classifier | None = None,
        idempotent: bool = True,
        retry: RetryPolicy | None = None,
    ) -> HttpResponse:
        """Send with retries; returns the successful answer or raises ``SendError``.

        ``json`` is encoded compactly (and sets ``Content-Type``); ``data`` is sent
        as is.  ``idempotent=False`` (a send) is never repeated after a 2xx answer,
        and after a timeout, a dropped connection or a 5xx/408 only while the policy's
        ``repeat_sends`` is true (see the module docstring).
        """
        session = self._ensure_session()
        body, base_headers = self._encode(json, data, headers)
        request_id = os.urandom(16).hex()  # 128 random bits, like a uuid4, cheaper
        if self._request_id_header:
            base_headers[self._request_id_header] = request_id
        policy = retry or self.retry
        check = classify or self.classify
        started = self._clock()
        backoff: Backoff | None = None
        attempt = 0
        while True:
            attempt += 1
            send_headers = base_headers
            if auth is not None:
                send_headers = {**base_headers, **(await auth())}
            remaining = policy.total - (self._clock() - started)
            try:
                response = await self._attempt(
                    session, method, url, body, send_headers, params, request_id, remaining
                )
            except _Transient as exc:
                error: SendError = exc.error
                error.__cause__ = exc.__cause__  # keep aiohttp's reason for debugging
                can_retry = exc.before_send or idempotent or policy.repeat_sends
            else:
                maybe = check(response)
                if maybe is None:
                    return response
                error = _complete(maybe, response)
                can_retry = self._retryable(error) and (
                    idempotent or _may_repeat(error, response.status, policy)
                )
            backoff = backoff or policy.backoff(self._rng)
            delay = error.retry_after if error.retry_after is not None else backoff.next_delay()
            elapsed = self._clock() - started
            if can_retry and attempt < policy.attempts and elapsed + delay >= policy.total:
                _say_wait(error, policy)
            if not can_retry or attempt >= policy.attempts or elapsed + delay >= policy.total:
                raise error
            log.info(
                "%s: attempt %d failed (%s, request %s); retrying in %.2fs",
                self.vendor, attempt, error.code, request_id, delay,
            )  # fmt: skip
            await self._sleep(delay)

    def _encode(
        self, json: Any, data: bytes | str | None, headers: Mapping[str, str] | None
    ) -> tuple[bytes | None, dict[str, str]]:
        out = dict(headers) if headers else {}
        if json is not None:
            if data is not None:
                raise ConfigError("pass either json= or data=, not both")
            out.setdefault("Content-Type", "application/json; charset=utf-8")
            return dumps(json), out
        if isinstance(data, str):
            return data.encode(), out
        return data, out

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None,
        request_id: str,
        remaining: float,
    ) -> HttpResponse:
        timeout = self._attempt_timeout
        if remaining < self._timeout:
            timeout = aiohttp.ClientTimeout(
                total=max(remaining, 0.001), connect=self._connect_timeout
            )
        try:
            async with session.request(
                method, url, data=body, headers=headers, params=params,
                timeout=timeout, ssl=self._ssl,
            ) as resp:  # fmt: skip
                try:
                    payload = await read_capped(resp, self._max_response_size)
                except ResponseTooLarge as exc:
                    raise self._too_large(exc, resp, request_id) from None
                return HttpResponse(
                    resp.status, resp.headers, payload, self._vendor_id(resp, request_id), url
                )
        except aiohttp.ClientConnectorCertificateError as exc:
            raise UnavailableError(
                f"{self.vendor}: the TLS certificate of {exc.host} is not trusted "
                f"({exc.certificate_error}); pass ssl= an SSLContext that trusts it",
                vendor=self.vendor, code="TLS_CERTIFICATE", request_id=request_id,
            ) from None  # fmt: skip
        except aiohttp.InvalidURL as exc:
            raise ConfigError(f"{self.vendor} sender: invalid URL {exc.url!s}") from None
        except aiohttp.ClientConnectorError as exc:
            raise _Transient(self._unavailable("CONNECTION_ERROR", exc, request_id), True) from exc
        except asyncio.TimeoutError:
            raise _Transient(
                self._unavailable("TIMEOUT", None, request_id, f"no answer in {timeout.total}s"),
                before_send=False,
            ) from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise _Transient(self._unavailable("CONNECTION_ERROR", exc, request_id), False) from exc

    def _too_large(
        self, exc: ResponseTooLarge, resp: aiohttp.ClientResponse, request_id: str
    ) -> UnexpectedResponseError:
        accepted = " (accepted: the request is not repeated)" if resp.status < 300 else ""
        return UnexpectedResponseError(
            f"{self.vendor} answered HTTP {resp.status}{accepted}, but {exc}",
            vendor=self.vendor, code="RESPONSE_TOO_LARGE", http_status=resp.status,
            request_id=self._vendor_id(resp, request_id),
        )  # fmt: skip

    def _vendor_id(self, resp: aiohttp.ClientResponse, ours: str) -> str:
        for name in self._response_id_headers:
            value = resp.headers.get(name)
            if value:
                return value
        return ours

    def _unavailable(
        self, code: str, exc: BaseException | None, request_id: str, text: str | None = None
    ) -> UnavailableError:
        detail = text or f"{type(exc).__name__}: {exc}"
        return UnavailableError(
            f"{self.vendor}: request failed ({detail})",
            vendor=self.vendor,
            code=code,
            request_id=request_id,
        )

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._session else "idle")
        return f"<HttpClient {self.vendor} {state} attempts={self.retry.attempts}>"


_Owner = TypeVar("_Owner", bound="_OwnsHttpClient")


class _OwnsHttpClient(AsyncClosing):
    """Mixin for a sender that owns one ``HttpClient`` as ``self._http``.

    It makes the sender an async context manager: entering opens the client's
    session, leaving (or ``aclose()``) closes it, or leaves a passed-in one open.
    """

    _http: HttpClient

    async def __aenter__(self: _Owner) -> _Owner:
        await self._http.__aenter__()
        return self

    async def aclose(self) -> None:
        await self._http.aclose()


class _Transient(Exception):
    """A failed attempt without an HTTP answer; ``before_send``: nothing reached the peer."""

    def __init__(self, error: UnavailableError, before_send: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.before_send = before_send


def _may_repeat(error: SendError, status: int, policy: RetryPolicy) -> bool:
    """May a send that got this answer be sent again?  Never after a 2xx (accepted);
    after a 429 yes (refused unprocessed); else only while ``repeat_sends``."""
    if 200 <= status < 300:
        return False
    return isinstance(error, QuotaExceededError) or policy.repeat_sends


def _say_wait(error: SendError, policy: RetryPolicy) -> None:
    """Put the server's requested wait, which this call will not make, in the message."""
    if error.retry_after is not None and error.args:
        error.args = (
            f"{error.args[0]} (the server asked to retry after {error.retry_after:g} s, "
            f"beyond this call's {policy.total:g} s budget: RetryPolicy.total)",
            *error.args[1:],
        )


def _complete(error: SendError, response: HttpResponse) -> SendError:
    # Classifiers may leave the transport facts out; fill them in here, once.
    if error.request_id is None:
        error.request_id = response.request_id
    if error.http_status is None:
        error.http_status = response.status
    if error.retry_after is None:
        error.retry_after = response.retry_after
    return error
