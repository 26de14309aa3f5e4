"""Helpers shared by the HMS, Baidu and Umeng fakes: rate windows, credentials.

``Window`` counts requests in a sliding window; each fake keeps one per documented
limit (HMS: 1000 tokens per 5 minutes; Umeng: 10 broadcasts a day, …) as a plain
attribute, so a test can shrink it (``fake.token_window.limit = 2``).

``publish_credentials`` fills ``emu.vendor_credentials[name]`` (the emulator binds
its port before mounting the fakes, so ``emu.url`` is known).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = ["Window", "publish_credentials"]


@dataclass
class Window:
    """At most ``limit`` events per ``seconds``; ``limit`` None means unlimited."""

    limit: int | None
    seconds: float
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _events: deque[float] = field(default_factory=deque, repr=False)

    def allow(self) -> bool:
        """Count one event if the window has room; False (uncounted) if it is full."""
        if self.limit is None:
            return True
        now = self.clock()
        while self._events and self._events[0] <= now - self.seconds:
            self._events.popleft()
        if len(self._events) >= self.limit:
            return False
        self._events.append(now)
        return True

    def reset(self) -> None:
        self._events.clear()


def publish_credentials(
    emu: Emulator, name: str, secrets: Mapping[str, str], paths: Mapping[str, str]
) -> dict[str, str]:
    """Publish *secrets* plus ``emu.url + path`` for each of *paths* as ``emu.vendor(name)``."""
    credentials = {**secrets, **{key: emu.url + path for key, path in paths.items()}}
    emu.vendor_credentials[name] = credentials
    return credentials
