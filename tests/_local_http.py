"""A web app of a test's own (a fake vendor, a webhook, a page) on 127.0.0.1, on a
free port: nothing leaves the machine."""

from __future__ import annotations

import ssl
from typing import Any

from aiohttp import web


async def serve_local(
    app: web.Application, *, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, int]:
    """Start *app*; returns its runner (``await runner.cleanup()`` stops it) and port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
    return runner, runner.addresses[0][1]


def catch_all(handler: Any) -> web.Application:
    """An app that hands every request, whatever its method and path, to *handler*."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app
