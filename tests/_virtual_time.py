"""An asyncio event loop on a virtual clock, for tests where time matters.

Whenever the loop would wait for its next timer and no I/O is ready, the clock jumps
to that timer instead: ``anyio.sleep(600)``, a ``fail_after`` or a backoff of ten
minutes take no real time, and the order in which timers fire is fully determined.
``loop.time()`` (``anyio.current_time()``) is the virtual clock; the receiver reads
its clock there, so its measurements follow the same time as its timers.

Rules for a test on this loop:

* no threads doing work the test waits for (sync handlers, ``to_thread``, DNS): while
  a thread works, the loop sees nothing ready and would jump ahead — use async
  handlers, no credentials store, and in-memory streams (``_mcs_peer``);
* a deadlock does not hang: the next pending timeout (the test's own ``fail_after``)
  fires at once.

Use it per module with::

    @pytest.fixture
    def anyio_backend() -> tuple[str, dict[str, object]]:
        return VIRTUAL_TIME
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any

__all__ = ["VIRTUAL_TIME", "VirtualTimeLoop"]


class _VirtualSelector:
    """Wraps the real selector: polls without blocking, and advances the clock by the
    timeout the loop asked to wait when nothing is ready."""

    def __init__(self, loop: VirtualTimeLoop, selector: selectors.BaseSelector) -> None:
        self._loop = loop
        self._selector = selector

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._selector.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer at all: only another thread can wake the loop
            return self._selector.select(None)
        self._loop.advance(timeout)
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._selector, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` only moves when the loop is idle."""

    def __init__(self) -> None:
        self._now = 0.0
        super().__init__(_VirtualSelector(self, selectors.DefaultSelector()))  # type: ignore[arg-type]

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


VIRTUAL_TIME: tuple[str, dict[str, Any]] = ("asyncio", {"loop_factory": VirtualTimeLoop})
