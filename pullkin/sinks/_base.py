"""What every sink shares: the record it writes, the retry loop, batching, outage logs.

A sink is a handler (``await sink(message, stanza)``) whose return means "the broker
or endpoint confirmed this message".  The client marks a message handled — and so
lets it be saved and acknowledged to FCM — only after its handlers return, so a sink
that never returns before confirmation gives the rule of design §6: *a message counts
as handled only when the sink confirmed it*.  When the sink is down, ``deliver``
retries with backoff for as long as it takes; it never raises, so a message is never
counted as handled without being confirmed.  Acknowledgements are held back meanwhile
and the server keeps the messages.  Cancelling ``deliver`` (the worker stops) leaves
the message unconfirmed and unhandled: it is delivered again by the next owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit, urlunsplit

import anyio

from pullkin._backoff import ChromeBackoff
from pullkin._closing import AsyncClosing
from pullkin.errors import ConfigError, SinkError
from pullkin.models import Message
from pullkin.proto.mcs_pb2 import DataMessageStanza

__all__ = ["Sink", "SinkRecord", "SinkStats", "redact_url"]

log = logging.getLogger("pullkin.sinks")

BatchSender = Callable[[list["SinkRecord"]], Awaitable[list[BaseException | None]]]


@dataclass(frozen=True, slots=True)
class SinkRecord:
    """One message as a sink writes it: ``body`` is the JSON line ``pullkin listen``
    prints (UTF-8, no newline); ``persistent_id`` is the de-duplication key."""

    body: bytes
    persistent_id: str | None = None
    sender_id: str | None = None

    @classmethod
    def of(cls, message: Message) -> SinkRecord:
        body = json.dumps(message.to_json(), ensure_ascii=False).encode()
        return cls(body, message.persistent_id or None, message.sender_id)


@dataclass
class SinkStats:
    """Counters of one sink; ``lag()`` is how long the oldest unconfirmed message has
    waited (0 when none waits)."""

    confirmed: int = 0
    duplicates: int = 0  # the broker said it already had the message (JetStream, Redis)
    failures: int = 0
    _waiting: dict[int, float] = field(default_factory=dict, repr=False)

    @property
    def pending(self) -> int:
        return len(self._waiting)

    def lag(self, now: float | None = None) -> float:
        oldest = next(iter(self._waiting.values()), None)
        if oldest is None:
            return 0.0
        return max(0.0, (now if now is not None else time.monotonic()) - oldest)


class _Outage:
    """Logs the start of a sink outage once, then a reminder every 30 s, then the end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.since: float | None = None
        self._reminded = 0.0

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since = self._reminded = now
            unexpected = not isinstance(exc, SinkError)
            log.warning(
                "sink %s did not confirm: %s; retrying, acknowledgements held back",
                self.name,
                _describe(exc),
                exc_info=exc if unexpected else None,
            )
        elif now - self._reminded >= 30.0:
            self._reminded = now
            log.warning(
                "sink %s still failing after %.0f s: %s",
                self.name,
                now - self.since,
                _describe(exc),
            )

    def recovered(self) -> None:
        if self.since is not None:
            log.warning(
                "sink %s confirms again after %.1f s", self.name, time.monotonic() - self.since
            )
            self.since = None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Sink(AsyncClosing):
    """Base of every sink.  Subclasses implement ``_send(record)`` (raise on anything
    but a confirmation), and may override ``start``/``aclose``."""

    #: Shown in logs and ``pullkin fleet status``; never carries a password.
    name: str = "sink"

    def __init__(self, *, retry_initial: float = 0.1, retry_max: float = 30.0) -> None:
        if retry_initial <= 0 or retry_max < retry_initial:
            raise ValueError("a sink needs 0 < retry_initial <= retry_max")
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.stats = SinkStats()
        self._outage = _Outage(self.name)
        self._rng = random.Random()
        self._ticket = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} confirmed={self.stats.confirmed}>"

    async def start(self) -> None:
        """Connect (or check the configuration); called once before the first message.
        A broker that is down is not an error here: ``deliver`` retries."""

    async def aclose(self) -> None:
        """Close connections; messages still waiting stay unconfirmed."""

    async def __call__(self, message: Message, stanza: DataMessageStanza) -> None:
        await self.deliver(SinkRecord.of(message))

    async def deliver(self, record: SinkRecord) -> None:
        """Return once the sink confirmed *record*; retry (with backoff) until then."""
        self._ticket += 1
        ticket = self._ticket
        self.stats._waiting[ticket] = time.monotonic()
        backoff = ChromeBackoff(self.retry_initial, self.retry_max, self._rng)
        self._outage.name = self.name
        try:
            while True:
                try:
                    await self._send(record)
                except Exception as exc:  # noqa: BLE001 - every failure is retried, none drops
                    self.stats.failures += 1
                    self._outage.failed(exc)
                    await anyio.sleep(self._retry_delay(exc, backoff))
                    continue
                self.stats.confirmed += 1
                self._outage.recovered()
                return
        finally:
            del self.stats._waiting[ticket]

    def _retry_delay(self, exc: BaseException, backoff: ChromeBackoff) -> float:
        delay = backoff.next_delay()
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after > delay:
            delay = min(float(retry_after), self.retry_max)
        return delay

    async def _send(self, record: SinkRecord) -> None:
        raise NotImplementedError


class Batcher:
    """Groups the records of concurrent ``send`` calls into one round trip.

    One batch is in flight at a time; records arriving meanwhile form the next one
    (group commit: a burst costs one round trip per batch, not per message).
    ``send_batch`` returns one entry per record: None (confirmed) or the exception.
    """

    def __init__(self, send_batch: BatchSender, max_batch: int = 256) -> None:
        self._send_batch = send_batch
        self._max = max_batch
        self._queue: list[tuple[SinkRecord, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: list[tuple[SinkRecord, asyncio.Future[None]]] = []

    async def send(self, record: SinkRecord) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((record, future))
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush_forever(), name="pullkin sink batcher")
        await future

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = [item for item in self._queue[: self._max] if not item[1].done()]
                del self._queue[: self._max]
                if batch:
                    await self._flush(batch)

    async def _flush(self, batch: list[tuple[SinkRecord, asyncio.Future[None]]]) -> None:
        self._inflight = batch
        try:
            results = await self._send_batch([record for record, _ in batch])
            if len(results) != len(batch):
                raise SinkError(f"the sink answered {len(results)} of {len(batch)} records")
        except Exception as exc:  # noqa: BLE001 - every caller gets it and retries
            results = [exc] * len(batch)
        finally:
            self._inflight = []
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if result is None:
                future.set_result(None)
            else:
                future.set_exception(result)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for _, future in [*self._inflight, *self._queue]:
            if not future.done():
                future.set_exception(SinkError("the sink was closed"))
        self._queue.clear()
        self._inflight = []


def redact_url(url: str) -> str:
    """*url* without its password and query (which may carry tokens), for logs."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}" if user else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def url_options(query: str, allowed: tuple[str, ...], sink: str) -> dict[str, str]:
    """The ``?name=value`` options of a sink URL's *query* (the last of a repeated
    name); a name outside *allowed* is a ConfigError that lists them."""
    options = {name: values[-1] for name, values in parse_qs(query).items()}
    unknown = set(options) - set(allowed)
    if unknown:
        raise ConfigError(
            f"unknown {sink} sink option(s) {sorted(unknown)}: use {', '.join(allowed)}"
        )
    return options
