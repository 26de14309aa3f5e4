"""Sinks: handlers that hand each message to a broker or endpoint and return only
once it confirmed — so FCM is acknowledged only for what the sink holds.

``open_sink(url)`` picks one by URL:

* ``redis://host:6379/STREAM`` — Redis Streams (``XADD``), de-duplicated by persistent
  id within a window (``sinks.redis_streams``);
* ``nats://host:4222/SUBJECT`` — NATS JetStream, ``Nats-Msg-Id`` = persistent id
  (``sinks.jetstream``);
* ``https://…`` — a webhook, POST with the persistent id in ``Idempotency-Key``
  (``sinks.webhook``).

Use one as a handler: ``client.on_notification()(sink)`` after ``await sink.start()``.
Redis and NATS need the extra: ``pip install 'pullkin[fleet]'``.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from pullkin.errors import ConfigError
from pullkin.sinks._base import Sink, SinkRecord, SinkStats, redact_url

__all__ = ["Sink", "SinkRecord", "SinkStats", "open_sink", "redact_url"]

_FORMS = "redis://HOST:6379/STREAM, nats://HOST:4222/SUBJECT or https://HOST/PATH"


def open_sink(
    url: str,
    *,
    webhook_secret: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    retry_initial: float = 0.1,
    retry_max: float = 30.0,
) -> Sink:
    """The sink *url* names (not connected yet: ``await sink.start()``)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("redis", "rediss"):
        from pullkin.sinks.redis_streams import RedisStreamSink

        return RedisStreamSink.from_url(url, retry_initial=retry_initial, retry_max=retry_max)
    if scheme in ("nats", "tls"):
        from pullkin.sinks.jetstream import JetStreamSink

        return JetStreamSink.from_url(url, retry_initial=retry_initial, retry_max=retry_max)
    if scheme in ("http", "https"):
        from pullkin.sinks.webhook import WebhookSink

        return WebhookSink(
            url, secret=webhook_secret, ssl_context=ssl_context,
            retry_initial=retry_initial, retry_max=retry_max,
        )  # fmt: skip
    raise ConfigError(f"unknown sink {redact_url(url)!r}: use {_FORMS}")
