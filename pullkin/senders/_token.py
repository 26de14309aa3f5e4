"""The cached OAuth access token of the senders that need one (FCM, HMS).

One fetch at a time however many sends are waiting (single-flight behind a lock).
A token is renewed ``margin`` seconds before it expires — or half-way through a
lifetime shorter than twice that — and ``refresh(stale)`` replaces a token the
server refused, unless another task already did.  How to ask for a token and how to
read the answer are the vendor's: ``request`` and ``parse``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pullkin.senders._http import HttpResponse

__all__ = ["AccessToken"]


class AccessToken:
    """``parse`` returns ``(token, lifetime in seconds)`` or raises the vendor's error."""

    def __init__(
        self,
        request: Callable[[], Awaitable[HttpResponse]],
        parse: Callable[[HttpResponse], tuple[str, float]],
        clock: Callable[[], float],
        margin: float = 300.0,
    ) -> None:
        self._request = request
        self._parse = parse
        self._clock = clock
        self._margin = margin
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self.fetches = 0

    async def get(self) -> str:
        """The cached token, fetched first when there is none or it is due."""
        token = self._token
        if token is None or self._clock() >= self._expires:
            token = await self.refresh(stale=token)
        return token

    async def refresh(self, stale: str | None) -> str:
        """A token other than *stale*; fetched unless another task already did."""
        async with self._lock:
            token = self._token
            if token is not None and token != stale and self._clock() < self._expires:
                return token
            started = self._clock()
            response = await self._request()
            self.fetches += 1
            token, lifetime = self._parse(response)
            self._token = token
            self._expires = started + max(lifetime - self._margin, lifetime / 2)
            return token
