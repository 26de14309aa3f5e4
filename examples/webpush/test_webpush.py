"""Web Push in a real browser, offline: a web developer's end-to-end test.

The page (index.html) subscribes with the backend's VAPID key, the backend sends with
``WebPushSender``, and the service worker (sw.js) must get the exact payload.  The push
service is the pullkin emulator and the browser is the system's Chromium (Debian:
``apt-get install chromium libnss3-tools``), headless, in a throw-away profile that
trusts the emulator's CA; ``pullkin_emulator`` and ``pullkin_chromium`` come from
pullkin's pytest plugin.  Run it with:

    pytest examples/webpush/test_webpush.py
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from pullkin.emulator import Emulator
from pullkin.emulator.chromium import Chromium, rewrite_subscription
from pullkin.senders import WebPushSender

HERE = Path(__file__).resolve().parent


class Site:
    """Your web app: serves this directory on http://localhost:<port> (a secure
    context, as push needs) and collects what the service worker reports."""

    def __init__(self) -> None:
        self.pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.origin = ""

    async def _report(self, request: web.Request) -> web.Response:
        await self.pushes.put(await request.json())
        return web.Response(status=204)

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(HERE / "index.html")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/pushes", self._report)
        app.router.add_get("/", self._index)
        app.router.add_static("/", HERE)
        return app

    async def next_push(self, timeout: float = 20.0) -> Any:
        report = await asyncio.wait_for(self.pushes.get(), timeout)
        return json.loads(report["text"])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    site = Site()
    runner = web.AppRunner(site.app(), access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    site.origin = f"http://localhost:{port}"
    yield site
    await runner.cleanup()


@pytest.mark.anyio
async def test_the_service_worker_gets_the_push(
    pullkin_emulator: Emulator, pullkin_chromium: Chromium, site: Site
) -> None:
    # The browser: open the app, allow notifications, subscribe with the backend's key.
    await pullkin_chromium.grant_notifications(site.origin)
    page = await pullkin_chromium.new_page(site.origin + "/")
    vapid = pullkin_emulator.vapid_keys
    subscription = await page.evaluate(f"subscribe({json.dumps(vapid.public_key)})")

    # The backend: send to the subscription (its endpoint pointed at the emulator).
    subscription = rewrite_subscription(subscription, pullkin_emulator)
    async with WebPushSender(
        vapid.private_pem, "mailto:dev@example.com",
        ssl_context=pullkin_emulator.endpoints.ssl_context,
    ) as sender:  # fmt: skip
        await sender.send(subscription, {"title": "Order shipped", "order": "A-1001"})

    assert await site.next_push() == {"title": "Order shipped", "order": "A-1001"}
