"""A hostile MCS server for tests: real TLS on 127.0.0.1, logs any device in, then
plays a script of good and bad frames, redelivering what the client did not
acknowledge on the next connection, as the real service does."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from pullkin.emulator._tls import make_local_ca
from pullkin.endpoints import Endpoints
from pullkin.errors import ProtocolError
from pullkin.mcs import events as ev
from pullkin.mcs.codec import McsConnection, Role
from pullkin.proto.mcs_pb2 import DataMessageStanza


@dataclass
class Segment:
    """What one connection gets after the login: *messages* (serialised stanzas, bad
    bytes and all), then *killer* raw bytes that should make the client hang up."""

    messages: list[bytes] = field(default_factory=list)
    killer: bytes | None = None


class HostileMcsServer:
    def __init__(self, directory: Path, script: list[Segment]) -> None:
        self._ca = make_local_ca(directory)
        self._script = list(script)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.logins = 0
        #: persistent id (str, or bytes when not UTF-8) -> serialised stanza, until acked
        self.pending: dict[str | bytes, bytes] = {}
        self.confirmed: set[str | bytes] = set()
        self.told: set[str | bytes] = set()  # ids a LoginRequest said the client has
        self.hangups = 0  # connections the client ended after a killer frame

    @property
    def acknowledged(self) -> set[str | bytes]:
        return self.confirmed | self.told

    def endpoints(self, base: Endpoints) -> Endpoints:
        return base.replace(
            mcs_host="127.0.0.1",
            mcs_port=self.port,
            mcs_fallback_port=None,
            ssl_context=self._ca.client_context(),
        )

    async def __aenter__(self) -> HostileMcsServer:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", 0, ssl=self._ca.server_context()
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = McsConnection(Role.SERVER)
        try:
            login = await self._login(conn, reader, writer)
            for persistent_id in [*self.pending]:
                if persistent_id in login.persistent_ids:
                    self.pending.pop(persistent_id)  # the client says it has it
                    self.told.add(persistent_id)
            for body in [*self.pending.values()]:
                writer.write(conn.send(ev.DataMessage(DataMessageStanza.FromString(body))))
            segment = self._script.pop(0) if self._script else Segment()
            for body in segment.messages:
                stanza = DataMessageStanza.FromString(body)
                self.pending[stanza.persistent_id] = body
                writer.write(conn.send(ev.DataMessage(stanza)))
            if segment.killer is not None:
                writer.write(segment.killer)
            await writer.drain()
            await self._serve(conn, reader, writer)
            if segment.killer is not None:
                self.hangups += 1
        except (ProtocolError, OSError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _login(
        self, conn: McsConnection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> ev.LoginRequest:
        while True:
            event = conn.next_event()
            if isinstance(event, ev.LoginRequest):
                break
            assert event is ev.NEED_DATA, event
            conn.receive_data(await reader.read(65536))
        self.logins += 1
        writer.write(conn.send(ev.LoginResponse(id=event.client_id, jid="x@mcs.android.com/x")))
        return event

    async def _serve(
        self, conn: McsConnection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Answer pings and StreamAcks, record what the client acknowledged, until EOF."""
        while True:
            data = await reader.read(65536)
            conn.receive_data(data)
            while (event := conn.next_event()) is not ev.NEED_DATA:
                if isinstance(event, ev.HeartbeatPing):
                    writer.write(conn.send(ev.HeartbeatAck()))
                elif isinstance(event, ev.StreamAck):
                    writer.write(conn.send(ev.StreamAck()))  # confirms the client's ids
                elif isinstance(event, ev.ConnectionClosed | ev.Close):
                    return
            for persistent_id in conn.take_confirmed():
                self.confirmed.add(persistent_id)
                self.pending.pop(persistent_id, None)
            if not data:
                return
