"""Google's HTTP endpoints (check-in, register3, FIS, FCM registrations, OAuth, FCM v1,
IID, Web Push) as aiohttp routes.  (Being written: see issue 4.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator


def add_routes(app: web.Application, emu: Emulator) -> None:
    """Mount every Google endpoint on *app*."""
