"""Google's HTTP endpoints on the emulator's one HTTPS port.

One module per concern: ``routes_checkin`` (check-in, register3), ``routes_firebase``
(Firebase Installations, FCM registrations), ``routes_oauth`` (service-account token
grant), ``routes_fcm`` (FCM HTTP v1 send, topic management), ``routes_webpush``
(RFC 8030 push endpoint).  Handlers raise ``GoogleApiError``; the emulator's one
middleware turns it into Google's JSON error answer.  Route names are the
fault-injection names listed in ``pullkin.emulator.faults``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from pullkin.emulator import (
    routes_checkin,
    routes_fcm,
    routes_firebase,
    routes_oauth,
    routes_webpush,
)
from pullkin.emulator.routes_common import attach_emulator

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = ["add_routes"]


def add_routes(app: web.Application, emu: Emulator) -> None:
    """Mount every Google endpoint on *app*."""
    attach_emulator(app, emu)
    # The send endpoints first: aiohttp tries resources sharing a path prefix in
    # registration order, and messages:send is the hot path.
    routes_fcm.add_routes(app)
    routes_webpush.add_routes(app)
    routes_checkin.add_routes(app)
    routes_firebase.add_routes(app)
    routes_oauth.add_routes(app)
