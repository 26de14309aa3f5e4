"""The emulated MCS server (TLS, codec in SERVER role).  (Being written: issue 4.)"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator


class McsServer:
    """Placeholder: listens, but does not speak MCS yet."""

    def __init__(self, emu: Emulator, ssl_context: ssl.SSLContext) -> None:
        self._emu = emu
        self._ssl = ssl_context
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._session, host, port, ssl=self._ssl)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def restart(self) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
