"""A small Chrome DevTools Protocol client over aiohttp's WebSocket, for driving a real
browser in tests without another dependency.

``DevTools`` is one connection to the browser endpoint (``ws://…/devtools/browser/…``)
in flattened-session mode: ``call(method, params, session_id)`` sends a command and
awaits its answer; ``wait_event(method)`` awaits the next matching event.  ``Page`` is
a tab attached to that connection, with ``evaluate`` (await a promise, return its
value as JSON, raise on a JavaScript exception).  The protocol itself:
https://chromedevtools.github.io/devtools-protocol/.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from pullkin._closing import AsyncClosing
from pullkin.errors import PullkinError

__all__ = ["DevTools", "DevToolsError", "Page"]

Event = dict[str, Any]


class DevToolsError(PullkinError):
    """A DevTools command failed, or the page's JavaScript threw."""


class DevTools(AsyncClosing):
    """One DevTools connection; commands are matched to answers by id."""

    def __init__(
        self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse[bool]
    ) -> None:
        self._session = session
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._waiters: list[tuple[str, Callable[[Event], bool], asyncio.Future[Event]]] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str) -> DevTools:
        """Connect to a browser's ``webSocketDebuggerUrl``."""
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(url, max_msg_size=0, autoping=True)
        except BaseException:
            await session.close()
            raise
        return cls(session, ws)

    async def call(
        self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None
    ) -> Any:
        """Send one command; its ``result``, or ``DevToolsError`` with the browser's text."""
        if self._reader.done():
            raise DevToolsError(f"{method}: the DevTools connection is closed")
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[message["id"]] = future
        try:
            await self._ws.send_str(json.dumps(message))
            return await future
        finally:
            self._pending.pop(message["id"], None)

    async def wait_event(
        self,
        method: str,
        predicate: Callable[[Event], bool] = lambda event: True,
        timeout: float = 30.0,
    ) -> Event:
        """The next event named *method* for which *predicate(event)* holds.

        Register interest before causing the event: use :meth:`expect` for that."""
        return await asyncio.wait_for(self.expect(method, predicate), timeout)

    def expect(
        self, method: str, predicate: Callable[[Event], bool] = lambda event: True
    ) -> asyncio.Future[Event]:
        """A future for the next matching event, armed now (before the cause)."""
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append((method, predicate, future))
        return future

    async def _read(self) -> None:
        error: BaseException = DevToolsError("the DevTools connection closed")
        try:
            async for frame in self._ws:
                if frame.type is aiohttp.WSMsgType.TEXT:
                    self._dispatch(json.loads(frame.data))
        except (aiohttp.ClientError, ValueError) as exc:
            error = DevToolsError(f"the DevTools connection failed: {exc}")
        finally:
            for future in [*self._pending.values(), *(w[2] for w in self._waiters)]:
                if not future.done():
                    future.set_exception(error)

    def _dispatch(self, message: dict[str, Any]) -> None:
        future = self._pending.get(message.get("id", -1))
        if future is not None:
            if future.done():
                return
            if "error" in message:
                error = message["error"]
                future.set_exception(DevToolsError(f"{error.get('message')} ({error.get('code')})"))
            else:
                future.set_result(message.get("result", {}))
            return
        method = message.get("method")
        for waiter in list(self._waiters):
            name, predicate, pending = waiter
            if pending.done():
                self._waiters.remove(waiter)
            elif name == method and predicate(message):
                self._waiters.remove(waiter)
                pending.set_result(message)

    async def new_page(self, url: str = "about:blank") -> Page:
        """Open a tab at *url* and attach to it."""
        target = await self.call("Target.createTarget", {"url": url})
        attached = await self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        return Page(self, target["targetId"], attached["sessionId"])

    async def grant_permissions(self, origin: str, permissions: list[str]) -> None:
        """``Browser.grantPermissions`` (e.g. ``["notifications"]`` for push)."""
        await self.call("Browser.grantPermissions", {"origin": origin, "permissions": permissions})

    async def aclose(self) -> None:
        await self._ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._session.close()


class Page:
    """An attached tab (a flattened DevTools session)."""

    def __init__(self, devtools: DevTools, target_id: str, session_id: str) -> None:
        self.devtools = devtools
        self.target_id = target_id
        self.session_id = session_id

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return await self.devtools.call(method, params, self.session_id)

    async def goto(self, url: str, timeout: float = 30.0) -> None:
        """Navigate and wait for the load event."""
        await self.call("Page.enable")
        loaded = self.devtools.expect(
            "Page.loadEventFired", lambda event: event.get("sessionId") == self.session_id
        )
        await self.call("Page.navigate", {"url": url})
        await asyncio.wait_for(loaded, timeout)

    async def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """Run *expression* in the page, await it if it is a promise, return its JSON value."""
        params = {"expression": expression, "awaitPromise": True, "returnByValue": True}
        answer = await asyncio.wait_for(self.call("Runtime.evaluate", params), timeout)
        details = answer.get("exceptionDetails")
        if details is not None:
            thrown = details.get("exception", {}).get("description") or details.get("text")
            raise DevToolsError(f"the page threw: {thrown}")
        return answer["result"].get("value")

    async def close(self) -> None:
        await self.devtools.call("Target.closeTarget", {"targetId": self.target_id})
