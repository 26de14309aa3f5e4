"""What the real-browser tests share: the example web app (examples/webpush) served on
http://localhost:<port>, the pushes its service worker reports, and a Chromium on an
emulator — or a skip (a failure under ``PULLKIN_REQUIRE_SERVICES=1``) without one."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from _local_http import serve_local
from _require import need
from aiohttp import web

from pullkin.emulator import Emulator
from pullkin.emulator.chromium import Chromium, find_chromium

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "webpush"


def need_chromium() -> None:
    need(find_chromium() is not None, "chromium (apt-get install chromium)")
    need(shutil.which("certutil") is not None, "certutil (apt-get install libnss3-tools)")


class ReportingSite:
    """A web app on http://localhost:<port> whose pages report to ``POST /pushes``;
    ``reports`` holds what they sent, in order.  A subclass adds its pages (``_routes``)."""

    report_timeout = 20.0

    def __init__(self) -> None:
        self.reports: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.origin = ""
        self._runner: web.AppRunner | None = None

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def _report(self, request: web.Request) -> web.Response:
        await self.reports.put(await request.json())
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/pushes", self._report)
        self._routes(app)
        self._runner, port = await serve_local(app)
        self.origin = f"http://localhost:{port}"

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def next_report(self, timeout: float | None = None) -> dict[str, Any]:
        return await asyncio.wait_for(self.reports.get(), timeout or self.report_timeout)


class Site(ReportingSite):
    """examples/webpush; each report is ``{"seq": n, "text": payload}``, the service
    worker's n-th push event."""

    def __init__(self, root: Path = EXAMPLE) -> None:
        super().__init__()
        self.root = root

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(self.root / "index.html")

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        app.router.add_static("/", self.root)

    async def next_push(self, timeout: float = 20.0) -> Any:
        return json.loads((await self.next_report(timeout))["text"])


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    served = Site()
    await served.start()
    try:
        yield served
    finally:
        await served.aclose()


@pytest.fixture
async def browser(emu: Emulator) -> AsyncIterator[Chromium]:
    need_chromium()
    async with Chromium(emu) as chromium:
        yield chromium


async def subscribed(browser: Chromium, site: Site, key: str) -> dict[str, Any]:
    """Open the example app, allow notifications and subscribe with *key*."""
    await browser.grant_notifications(site.origin)
    page = await browser.new_page(site.origin + "/")
    subscription: dict[str, Any] = await page.evaluate(f"subscribe({json.dumps(key)})")
    return subscription
