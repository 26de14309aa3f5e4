"""NATS JetStream sink: each message is published to a subject and confirmed by the
stream's PubAck.

URL: ``nats://[user:password@]host[:port]/SUBJECT[?stream=NAME&dedup=120]``
(``tls://`` for TLS).  The header ``Nats-Msg-Id`` carries the persistent id, so the
stream drops a message re-published within its duplicate window (after a failover,
say) — the PubAck then says ``duplicate``, which confirms it just the same.  Headers
``Pullkin-Sender-Id`` name the app.

If no stream captures SUBJECT, one is created: named ``stream=`` (default
``PULLKIN_`` + the subject with ``.``, ``*`` and ``>`` replaced), file storage, with a
duplicate window of ``dedup`` seconds (default 120).  An existing stream is used as it
is (its own duplicate window applies).

Publishes of concurrent handlers are sent together and their acks awaited together.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from pullkin.errors import ConfigError, SinkError
from pullkin.sinks._base import Batcher, Sink, SinkRecord, redact_url, url_options

__all__ = ["JetStreamSink"]


def _nats() -> Any:
    try:
        import nats
    except ImportError:
        raise ConfigError(
            "the NATS JetStream sink needs the nats-py package: pip install 'pullkin[fleet]'"
        ) from None
    return nats


class JetStreamSink(Sink):
    """Publish each message to *subject* with ``Nats-Msg-Id``; see the module docstring."""

    def __init__(
        self,
        servers: str,
        *,
        subject: str,
        stream: str | None = None,
        dedup_window: float = 120.0,
        publish_timeout: float = 5.0,
        max_batch: int = 256,
        retry_initial: float = 0.1,
        retry_max: float = 30.0,
    ) -> None:
        super().__init__(retry_initial=retry_initial, retry_max=retry_max)
        if not subject or any(c in subject for c in " \t\r\n"):
            raise ConfigError("the NATS sink needs a subject: nats://host:4222/SUBJECT")
        self.name = f"{redact_url(servers)} (subject {subject})"
        self.subject = subject
        self.stream = stream or "PULLKIN_" + re.sub(r"[.*>]", "_", subject)
        self.dedup_window = dedup_window
        self.publish_timeout = publish_timeout
        self._servers = servers
        self._nc: Any = None
        self._js: Any = None
        self._lock = asyncio.Lock()
        self._batcher = Batcher(self._send_batch, max_batch)

    @classmethod
    def from_url(
        cls, url: str, *, retry_initial: float = 0.1, retry_max: float = 30.0
    ) -> JetStreamSink:
        parts = urlsplit(url)
        query = url_options(parts.query, ("stream", "dedup"), "NATS")
        try:
            dedup = float(query.get("dedup", 120))
        except ValueError:
            raise ConfigError("the NATS sink's dedup= must be a number of seconds") from None
        servers = parts._replace(path="", query="").geturl()
        subject = unquote(parts.path.lstrip("/"))
        return cls(servers, subject=subject, stream=query.get("stream"), dedup_window=dedup,
                   retry_initial=retry_initial, retry_max=retry_max)  # fmt: skip

    async def start(self) -> None:
        async with self._lock:
            if self._js is not None:
                return
            nats = _nats()
            try:
                nc = await nats.connect(
                    self._servers, max_reconnect_attempts=-1, reconnect_time_wait=1,
                    connect_timeout=2, allow_reconnect=True, name="pullkin",
                )  # fmt: skip
            except (OSError, nats.errors.Error) as exc:
                raise SinkError(f"cannot connect to NATS: {exc}") from exc
            js = nc.jetstream(timeout=self.publish_timeout)
            try:
                await self._ensure_stream(js)
            except BaseException:
                await nc.close()
                raise
            self._nc, self._js = nc, js

    async def _ensure_stream(self, js: Any) -> None:
        nats = _nats()
        try:
            await js.find_stream_name_by_subject(self.subject)
        except nats.js.errors.NotFoundError:
            await js.add_stream(
                name=self.stream, subjects=[self.subject], duplicate_window=self.dedup_window
            )
        except nats.errors.Error as exc:
            raise SinkError(
                f"cannot look up the JetStream stream of {self.subject!r}: {exc}"
            ) from exc

    async def aclose(self) -> None:
        await self._batcher.aclose()
        if self._nc is not None:
            await self._nc.close()
            self._nc = self._js = None

    async def _send(self, record: SinkRecord) -> None:
        await self.start()
        await self._batcher.send(record)

    async def _send_batch(self, records: list[SinkRecord]) -> list[BaseException | None]:
        replies = await asyncio.gather(
            *(self._publish(record) for record in records), return_exceptions=True
        )
        return [self._outcome(reply) for reply in replies]

    async def _publish(self, record: SinkRecord) -> Any:
        headers = {"Pullkin-Sender-Id": record.sender_id or ""}
        if record.persistent_id:
            headers["Nats-Msg-Id"] = record.persistent_id
        return await self._js.publish(self.subject, record.body, headers=headers)

    def _outcome(self, reply: Any) -> BaseException | None:
        if isinstance(reply, asyncio.CancelledError):
            raise reply
        if isinstance(reply, BaseException):
            return SinkError(f"JetStream did not acknowledge a publish to {self.subject!r}: "
                             f"{type(reply).__name__} {reply}")  # fmt: skip
        if getattr(reply, "duplicate", False):
            self.stats.duplicates += 1
        return None
