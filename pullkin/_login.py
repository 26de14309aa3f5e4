"""The MCS login of one connection: the ``LoginRequest`` a device sends (Chrome's
client id, the persistent ids the server has not confirmed yet) and the wait for the
server's ``LoginResponse``.  A refusal raises ``LoginError`` (the session then checks
in again), any other frame first ends the connection, and a server that accepted the
connection but never answers raises ``_LoginTimeout`` after *login_timeout* seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from pullkin._session_types import Device, _ConnectionLost, _LoginTimeout
from pullkin.errors import LoginError
from pullkin.mcs import events as ev

if TYPE_CHECKING:
    from pullkin.receiver import _Link

__all__ = ["log_in"]


async def log_in(
    link: _Link, device: Device, persistent_ids: tuple[str, ...], *, login_timeout: float, host: str
) -> ev.LoginResponse:
    """Log *device* in on *link*; returns the server's accepting ``LoginResponse``."""
    try:
        with anyio.fail_after(login_timeout):
            return await _exchange(link, device, persistent_ids)
    except TimeoutError:
        raise _LoginTimeout(
            f"no LoginResponse from {host} within {login_timeout:g} s of connecting "
            "(SessionConfig.login_timeout); reconnecting"
        ) from None


async def _exchange(
    link: _Link, device: Device, persistent_ids: tuple[str, ...]
) -> ev.LoginResponse:
    request = ev.LoginRequest(
        android_id=device.android_id,
        security_token=device.security_token,
        client_id=f"chrome-{device.chrome_version}",
        persistent_ids=persistent_ids,
    )
    await link.write([request])
    while True:
        event = link.conn.next_event()
        if event is ev.NEED_DATA:
            data = await link.stream.receive()
            link.conn.receive_data(data)
            continue
        if isinstance(event, ev.LoginResponse):
            break
        raise _ConnectionLost(f"connection ended during login ({type(event).__name__})")
    if not event.ok:
        raise LoginError(
            f"MCS refused the login of android_id {device.android_id}: "
            f"{event.error_code} {event.error_message}".rstrip(),
            code=event.error_code,
        )
    return event
