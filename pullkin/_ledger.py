"""Persistent-id bookkeeping of one app: what was handled, and what the server has not
confirmed yet.  Pure and in memory; the client loads and saves it through the store.

* ``handled`` — a bounded window (oldest evicted) of ids whose handlers finished:
  a redelivered message found here is acknowledged without reaching handlers again.
* in progress — ids received whose handlers have not finished (memory only): a
  duplicate arriving meanwhile is dropped, but after a crash the message is handled
  again because the server never got its acknowledgement.
* ``unconfirmed`` — handled ids the server has not confirmed; they go into the next
  LoginRequest's ``received_persistent_id``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["IdLedger"]


class IdLedger:
    def __init__(
        self, window: int = 10_000, handled: Iterable[str] = (), unconfirmed: Iterable[str] = ()
    ) -> None:
        if window < 1:
            raise ValueError("the persistent-id window must hold at least one id")
        self.window = window
        self._handled: OrderedDict[str, None] = OrderedDict.fromkeys(handled)
        self._evict()
        self._in_progress: set[str] = set()
        self._unconfirmed: dict[str, None] = dict.fromkeys(unconfirmed)
        self.dirty = False

    def __repr__(self) -> str:
        return (
            f"<IdLedger handled={len(self._handled)} in_progress={len(self._in_progress)} "
            f"unconfirmed={len(self._unconfirmed)}>"
        )

    def seen(self, persistent_id: str) -> bool:
        return persistent_id in self._handled or persistent_id in self._in_progress

    def start(self, persistent_id: str) -> None:
        self._in_progress.add(persistent_id)

    def finish(self, persistent_id: str) -> None:
        self._in_progress.discard(persistent_id)
        self._handled[persistent_id] = None
        self._handled.move_to_end(persistent_id)
        self._evict()
        self._unconfirmed[persistent_id] = None
        self.dirty = True

    def confirm(self, persistent_ids: Iterable[str]) -> None:
        for persistent_id in persistent_ids:
            if self._unconfirmed.pop(persistent_id, 0) is None:
                self.dirty = True

    def handled(self) -> list[str]:
        return list(self._handled)

    def unconfirmed(self) -> list[str]:
        return list(self._unconfirmed)

    @property
    def in_progress(self) -> int:
        return len(self._in_progress)

    def _evict(self) -> None:
        while len(self._handled) > self.window:
            evicted, _ = self._handled.popitem(last=False)
            self._unconfirmed.pop(evicted, None)
