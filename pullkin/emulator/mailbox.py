"""Store-and-forward queues of the emulated MCS: one mailbox per device.

A send puts a ``DataMessageStanza`` (with a fresh ``persistent_id``) into the device's
mailbox; it stays there until the device confirms it (stream ack, selective ack or
``received_persistent_id`` at login) or its TTL runs out.  Every connected session of
the device is told when mail arrives, so delivery is push, not poll.  A TTL of 0
means "now or never": such a message is dropped when no session is connected.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Protocol

from pullkin.proto.mcs_pb2 import DataMessageStanza

__all__ = [
    "Delivery",
    "MailboxListener",
    "Mailboxes",
    "Pending",
    "id_bytes",
    "new_persistent_id",
]


_id_pool = bytearray()


def id_bytes(size: int) -> bytes:
    """Random bytes for identifiers (never for keys or salts): drawn from the OS in
    4 KiB at a time, since ids are made several times per delivery."""
    global _id_pool
    if len(_id_pool) < size:
        _id_pool = bytearray(os.urandom(4096))
    chunk = bytes(_id_pool[:size])
    del _id_pool[:size]
    return chunk


def new_persistent_id(now: float | None = None) -> str:
    """``0:<16-digit µs timestamp>%<16 hex>``, the shape seen in real traffic."""
    micros = int((time.time() if now is None else now) * 1_000_000)
    return f"0:{micros:016d}%{id_bytes(8).hex()}"


@dataclass(slots=True)
class Pending:
    """A queued message; ``expires_at`` None means it never expires."""

    stanza: DataMessageStanza
    enqueued_at: float
    expires_at: float | None

    @property
    def persistent_id(self) -> str:
        return self.stanza.persistent_id


@dataclass(frozen=True)
class Delivery:
    """One write of a message to a device's socket (introspection for tests)."""

    android_id: int
    persistent_id: str
    at: float


class MailboxListener(Protocol):
    """Told about every queued and every removed message (state-dir persistence)."""

    def add_pending(self, android_id: int, pending: Pending) -> None: ...

    def remove_pending(self, persistent_ids: Iterable[str]) -> None: ...


@dataclass
class _Mailbox:
    pending: dict[str, Pending] = field(default_factory=dict)
    wakers: list[Callable[[Pending], None]] = field(default_factory=list)


class RecentIds(AbstractSet[str]):
    """A set that keeps only the *size* most recently added ids (oldest dropped first)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._ids: dict[str, None] = {}

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def update(self, ids: Iterable[str]) -> None:
        for pid in ids:
            self._ids[pid] = None
        while len(self._ids) > self._size:
            del self._ids[next(iter(self._ids))]


class Mailboxes:
    """All devices' queues, plus the logs of what was written, confirmed, expired and
    replaced.  The logs keep the last *log_size* entries each, so an emulator that
    runs for days does not grow without bound."""

    def __init__(self, clock: Callable[[], float] = time.time, log_size: int = 100_000) -> None:
        self._clock = clock
        self._boxes: dict[int, _Mailbox] = {}
        # Plain tuples: the garbage collector stops tracking them, so a long log costs
        # nothing per collection (Delivery objects are built when asked for).
        self._deliveries: deque[tuple[int, str, float]] = deque(maxlen=log_size)
        self.confirmed = RecentIds(log_size)
        self.expired: deque[str] = deque(maxlen=log_size)
        self.replaced: deque[str] = deque(maxlen=log_size)
        #: (registration token, persistent id) of each message queued for a token.
        self.by_token: deque[tuple[str, str]] = deque(maxlen=log_size)
        self.listener: MailboxListener | None = None
        #: Called after anything is queued, written, confirmed or dropped (set only
        #: while a harness waits: ``Emulator.wait_delivered`` / ``drain``).
        self.on_change: Callable[[], None] | None = None

    def _box(self, android_id: int) -> _Mailbox:
        box = self._boxes.get(android_id)
        if box is None:
            box = self._boxes[android_id] = _Mailbox()
        return box

    def enqueue(
        self, android_id: int, stanza: DataMessageStanza, ttl: int | None, token: str = ""
    ) -> str:
        """Queue *stanza* for the device (sent to the registration *token*, if known);
        returns its persistent id."""
        now = self._clock()
        if not stanza.persistent_id:
            stanza.persistent_id = new_persistent_id(now)
        pid = stanza.persistent_id
        if token:
            self.by_token.append((token, pid))
        box = self._box(android_id)
        if ttl == 0 and not box.wakers:
            self.expired.append(pid)
            self._changed()
            return pid
        expires = None if ttl is None else now + max(ttl, 1)
        item = box.pending[pid] = Pending(stanza, now, expires)
        if self.listener is not None:
            self.listener.add_pending(android_id, item)
        for waker in box.wakers:
            waker(item)
        if self.on_change is not None:
            self.on_change()
        return pid

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def replace(
        self,
        android_id: int,
        stanza: DataMessageStanza,
        ttl: int | None,
        same: Callable[[DataMessageStanza], bool],
        token: str = "",
    ) -> str:
        """Queue *stanza* in place of every queued message *same* matches (RFC 8030
        Topic: a newer message replaces an undelivered older one)."""
        box = self._boxes.get(android_id)
        if box is not None:
            stale = [pid for pid, item in box.pending.items() if same(item.stanza)]
            for pid in stale:
                del box.pending[pid]
            self.replaced.extend(stale)
            self._removed(stale)
        return self.enqueue(android_id, stanza, ttl, token)

    def _removed(self, persistent_ids: list[str]) -> None:
        if persistent_ids and self.listener is not None:
            self.listener.remove_pending(persistent_ids)
        if persistent_ids:
            self._changed()

    def pending(self, android_id: int) -> list[Pending]:
        """Unconfirmed, unexpired messages in arrival order (expired ones are dropped)."""
        box = self._boxes.get(android_id)
        if box is None:
            return []
        now = self._clock()
        expired = [
            pid
            for pid, item in box.pending.items()
            if item.expires_at is not None and item.expires_at <= now
        ]
        for pid in expired:
            del box.pending[pid]
        self.expired.extend(expired)
        self._removed(expired)
        return list(box.pending.values())

    def confirm(self, android_id: int, persistent_ids: Iterable[str]) -> None:
        """The device has these messages: never deliver them again."""
        box = self._boxes.get(android_id)
        if box is None:
            return
        removed = [pid for pid in persistent_ids if box.pending.pop(pid, None) is not None]
        self.confirmed.update(removed)
        self._removed(removed)

    def record_delivery(self, android_id: int, persistent_id: str) -> None:
        self._deliveries.append((android_id, persistent_id, self._clock()))
        if self.on_change is not None:
            self.on_change()

    def was_delivered(self, persistent_id: str) -> bool:
        """Whether the message was written to a device (in the log's memory)."""
        return persistent_id in self.confirmed or any(
            pid == persistent_id for _, pid, _ in reversed(self._deliveries)
        )

    @property
    def deliveries(self) -> list[Delivery]:
        """Every write of a message to a device's socket, oldest first."""
        return [Delivery(*record) for record in self._deliveries]

    def attach(self, android_id: int, on_mail: Callable[[Pending], None]) -> bool:
        """Register a connected session: *on_mail* is called with every message queued
        from now on.  Returns whether mail is already waiting."""
        box = self._box(android_id)
        box.wakers.append(on_mail)
        return bool(box.pending)

    def detach(self, android_id: int, on_mail: Callable[[Pending], None]) -> None:
        wakers = self._box(android_id).wakers
        if on_mail in wakers:
            wakers.remove(on_mail)

    def connected(self, android_id: int) -> bool:
        box = self._boxes.get(android_id)
        return box is not None and bool(box.wakers)

    def restore(self, android_id: int, items: Iterable[Pending]) -> None:
        box = self._box(android_id)
        for item in items:
            box.pending[item.persistent_id] = item
