"""Webhook sink: each message is POSTed as JSON; any 2xx answer confirms it.

The body is the JSON line ``pullkin listen`` prints.  Headers: ``Idempotency-Key`` and
``Pullkin-Persistent-Id`` (the persistent id: the receiving end de-duplicates a message
re-posted after a retry or a failover by it), ``Pullkin-Sender-Id``, and — when a
secret is set (``PULLKIN_WEBHOOK_SECRET`` for the CLI) — ``Pullkin-Signature:
t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, so the endpoint can check the
post came from this fleet.

Anything else than 2xx, a timeout or a refused connection is retried with backoff
(honouring ``Retry-After``) until the endpoint answers 2xx: a 4xx from a misconfigured
endpoint holds acknowledgements back until it is fixed rather than dropping pushes.
TLS certificates are verified (pass ``ssl_context`` for a private CA; one that does
not verify needs ``insecure=True``); the answer's body is read up to 4 MiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ssl
import time

import aiohttp

from pullkin._backoff import parse_retry_after
from pullkin._http_read import MAX_SEND_BODY, ResponseTooLarge, read_capped, tls
from pullkin.endpoints import check_ssl_context
from pullkin.errors import ConfigError, SinkError
from pullkin.sinks._base import Sink, SinkRecord, redact_url

__all__ = ["WebhookSink"]


class _HttpRefused(SinkError):
    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WebhookSink(Sink):
    """POST each message to *url*; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        secret: str | bytes | None = None,
        ssl_context: ssl.SSLContext | None = None,
        insecure: bool = False,
        timeout: float = 10.0,
        concurrency: int = 64,
        retry_initial: float = 0.1,
        retry_max: float = 30.0,
    ) -> None:
        super().__init__(retry_initial=retry_initial, retry_max=retry_max)
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"a webhook URL starts with https:// (or http://), got {url!r}")
        if concurrency < 1:
            raise ConfigError("the webhook sink's concurrency must be at least 1")
        self.name = redact_url(url)
        self.url = url
        self._secret = secret.encode() if isinstance(secret, str) else secret
        check_ssl_context(ssl_context, insecure=insecure, owner="the webhook sink's ssl_context")
        self._ssl = tls(ssl_context)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._slots = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def headers(self, record: SinkRecord, now: float | None = None) -> dict[str, str]:
        """The headers of *record*'s POST (signed at *now* when a secret is set)."""
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if record.persistent_id:
            headers["Idempotency-Key"] = record.persistent_id
            headers["Pullkin-Persistent-Id"] = record.persistent_id
        if record.sender_id:
            headers["Pullkin-Sender-Id"] = record.sender_id
        if self._secret:
            stamp = str(int(now if now is not None else time.time()))
            mac = hmac.new(self._secret, stamp.encode() + b"." + record.body, hashlib.sha256)
            headers["Pullkin-Signature"] = f"t={stamp},v1={mac.hexdigest()}"
        return headers

    async def _send(self, record: SinkRecord) -> None:
        await self.start()
        assert self._session is not None
        async with self._slots:
            try:
                async with self._session.post(
                    self.url, data=record.body, headers=self.headers(record), ssl=self._ssl
                ) as response:
                    with contextlib.suppress(ResponseTooLarge):  # the status says it all
                        await read_capped(response, MAX_SEND_BODY)
                    status = response.status
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                raise SinkError(f"POST failed: {type(exc).__name__} {exc}") from exc
        if not 200 <= status < 300:
            raise _HttpRefused(f"the webhook answered HTTP {status}", retry_after)
