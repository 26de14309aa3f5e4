"""``FleetWorker``: one process of a fleet — receives for the devices it leases and
hands every message to a sink.

It is a ``Pullkin`` client whose store is the fleet's ``PgStore`` and whose one
handler is the sink, plus a loop of lease rounds (``fleet.leases``): the apps of
devices whose lease it gains are added under their fleet keys (``add_app(sender_id,
credentials, key=...)``: credentials and handled-id window from PostgreSQL, the true
sender id on every message) and started (``Pullkin.start``); devices it must give up
are stopped with ``Pullkin.stop_device`` — handled ids durable, acks sent — before
their leases are freed; devices whose lease was taken are stopped at once.

Delivery across a failover: a message is acknowledged to FCM only after the sink
confirmed it and its handled mark is durable in PostgreSQL.  When a worker dies, FCM
still holds whatever it had not acknowledged and delivers it again to the device's
next owner, which loads the handled-id window first: a message whose mark was
durable is acknowledged without reaching the sink again; one that reached the sink
but whose mark was not yet durable (the last group commit before the kill) reaches
the sink a second time — with the same persistent id, which JetStream, the Redis
sink and a webhook's ``Idempotency-Key`` de-duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable
from typing import Any

from pullkin.client import Pullkin
from pullkin.endpoints import Endpoints
from pullkin.fleet.leases import Leases, Round
from pullkin.fleet.pgstore import PgStore
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import SessionConfig, SessionState
from pullkin.sinks import Sink

__all__ = ["FleetWorker"]

log = logging.getLogger(__name__)


class FleetWorker:
    """One worker; ``await worker.run(stop)`` until *stop* is set (then it hands its
    leases back)."""

    def __init__(
        self,
        store: PgStore,
        sink: Sink,
        *,
        endpoints: Endpoints | None = None,
        ttl: float = 15.0,
        worker_id: str | None = None,
        session_config: SessionConfig | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError("the lease TTL must be positive")
        self.store = store
        self.sink = sink
        self.ttl = ttl
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.leases = Leases(store, self.worker_id, ttl)
        self.client = Pullkin(endpoints, store=store, session_config=session_config)
        self.client.on_notification()(sink)
        self.client.on_error(self._on_error)
        self.devices: dict[int, list[str]] = {}  # android_id -> app keys, while served
        self.rounds = 0
        self._wake = asyncio.Event()
        self._renewed_at = 0.0  # monotonic time a successful renewal was sent

    def __repr__(self) -> str:
        return f"<FleetWorker {self.worker_id} devices={len(self.devices)}>"

    async def run(self, stop: asyncio.Event) -> None:
        await self.sink.start()
        await self.leases.join(socket.gethostname(), os.getpid())
        try:
            while not stop.is_set():
                delay = await self._round_safely()
                self._wake.clear()
                stopping = asyncio.ensure_future(stop.wait())
                waking = asyncio.ensure_future(self._wake.wait())
                await asyncio.wait({stopping, waking}, timeout=delay,
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                stopping.cancel()
                waking.cancel()
        finally:
            await self._leave()

    async def _round_safely(self) -> float:
        """One round; on a database failure fence if needed, and retry soon."""
        started = time.monotonic()
        try:
            await self.leases.listen(self._wake.set)
            result = await self._round()
        except Exception as exc:  # noqa: BLE001 - the database may be down: keep trying
            log.warning("lease round failed: %s: %s", type(exc).__name__, exc)
            if self.devices and time.monotonic() - self._renewed_at >= self.ttl * 0.9:
                log.error("no lease renewal for %.0f s: stopping every device", self.ttl)
                await self._stop_devices(list(self.devices))
            return min(1.0, self.ttl / 3)
        self._renewed_at = started
        self.rounds += 1
        wait = self.ttl / 3
        if result.next_expiry is not None:
            wait = min(wait, result.next_expiry + 0.02)
        return max(wait, 0.01)

    async def _round(self) -> Round:
        result = await self.leases.renew(json.dumps(self.figures()))
        lost = [a for a in self.devices if a not in result.held]
        if lost:
            log.warning("leases of %d device(s) were taken over: stopping them", len(lost))
            await self._stop_devices(lost)
        take, give = result.plan()
        if take:
            await self._start_devices(await self.leases.acquire(take))
        if give:
            excess = sorted(result.held)[len(result.held) - give :]
            await self._stop_devices(excess)
            await self.leases.release(excess)
        return result

    async def _start_devices(self, android_ids: list[int]) -> None:
        if not android_ids:
            return
        apps = await self.store.apps_of(android_ids)
        keys: list[str] = []
        for android_id, entries in apps.items():
            for app in entries:
                await self.client.add_app(app.sender_id, app.credentials, key=app.key)
            self.devices[android_id] = [app.key for app in entries]
            keys += self.devices[android_id]
        if keys:
            await self.client.start(keys)
        log.info("now receiving for %d more device(s), %d in all", len(apps), len(self.devices))

    async def _stop_devices(self, android_ids: Iterable[int]) -> None:
        """Stop devices: each session flushes (durable marks, acks) before its apps go."""
        chosen = [a for a in android_ids if a in self.devices]
        await asyncio.gather(*map(self.client.stop_device, chosen))
        for android_id in chosen:
            self.store.forget_cached(self.devices.pop(android_id))

    async def _leave(self) -> None:
        """Stop every device, then free every lease and say so (SIGTERM)."""
        try:
            await self._stop_devices(list(self.devices))
            await self.client.stop()
            with contextlib.suppress(Exception):
                await self.leases.leave()
        finally:
            await self.leases.aclose()
            await self.client.aclose()
            await self.sink.aclose()

    def figures(self) -> dict[str, Any]:
        """What ``pullkin fleet status`` shows of this worker."""
        sessions = self.client.sessions
        stats = self.client.stats
        return {
            "devices": len(self.devices),
            "connected": sum(s.state is SessionState.CONNECTED for s in sessions),
            "handled": stats.dispatched,
            "duplicates_dropped": stats.duplicates,
            "sink": self.sink.name,
            "sink_confirmed": self.sink.stats.confirmed,
            "sink_pending": self.sink.stats.pending,
            "lag_s": round(self.sink.stats.lag(), 3),
        }

    def _on_error(self, error: Exception, stanza: DataMessageStanza | None) -> None:
        pid = stanza.persistent_id if stanza is not None else "-"
        log.warning("message %s: %s", pid, error)
