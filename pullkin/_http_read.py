"""What every HTTP answer pullkin reads is held to: a size cap, and verified TLS.

Registration, OAuth, the senders and the webhook sink read answers through
``read_capped``: a body larger than the cap (by ``Content-Length``, or as it streams
in, after decompression) raises ``ResponseTooLarge`` before it fills memory — a
captive portal or a hostile server can otherwise send hundreds of MiB.  ``tls``
turns "no SSL context given" into an explicit verifying context, so a session passed
in with ``TCPConnector(ssl=False)`` cannot quietly turn verification off.
"""

from __future__ import annotations

import functools
import ssl

import aiohttp

__all__ = ["MAX_REGISTRATION_BODY", "MAX_SEND_BODY", "ResponseTooLarge", "read_capped", "tls"]

#: Google's registration answers (check-in, register3, Installations, FCM
#: registrations) are a few KiB.
MAX_REGISTRATION_BODY = 1 << 20
#: Vendor answers to sends, topic and registration calls (the largest: a page of Azure
#: registrations, about 150 KiB).
MAX_SEND_BODY = 4 << 20
_CHUNK = 64 * 1024


class ResponseTooLarge(Exception):
    """The answer's body is over the cap; ``size`` is its Content-Length when known."""

    def __init__(self, limit: int, size: int | None) -> None:
        told = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
        super().__init__(f"the answer's body is {told}, over the {limit:,}-byte limit")
        self.limit = limit
        self.size = size


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body of *response*, or ``ResponseTooLarge`` once it exceeds *limit*."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise ResponseTooLarge(limit, declared)
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            raise ResponseTooLarge(limit, None)
    return bytes(body)


@functools.cache
def _default_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def tls(context: ssl.SSLContext | None) -> ssl.SSLContext:
    """*context*, or the system trust store with full verification."""
    return context if context is not None else _default_context()
