"""A bare MCS client for tests: the codec over a raw TLS socket, no receiver logic."""

from __future__ import annotations

import asyncio
import contextlib

from pullkin.endpoints import Endpoints
from pullkin.mcs import events as ev
from pullkin.mcs.codec import McsConnection, Role


class RawMcsClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = McsConnection(Role.CLIENT)
        self.closed = False

    @classmethod
    async def connect(cls, endpoints: Endpoints) -> RawMcsClient:
        reader, writer = await asyncio.open_connection(
            endpoints.mcs_host, endpoints.mcs_port, ssl=endpoints.ssl_context
        )
        return cls(reader, writer)

    async def send(self, event: ev.Event) -> None:
        self.writer.write(self.conn.send(event))
        await self.writer.drain()

    async def login(
        self, android_id: int, security_token: int, persistent_ids: tuple[str, ...] = ()
    ) -> ev.LoginResponse:
        await self.send(ev.LoginRequest(android_id, security_token, persistent_ids=persistent_ids))
        [response] = await self.read(1)
        assert isinstance(response, ev.LoginResponse)
        return response

    async def read(self, count: int, timeout: float = 5.0) -> list[ev.Event]:
        """The next *count* events (fewer if the connection ends first)."""
        return await asyncio.wait_for(self._read(count), timeout)

    async def _read(self, count: int) -> list[ev.Event]:
        out: list[ev.Event] = []
        while len(out) < count:
            event = self.conn.next_event()
            if event is ev.NEED_DATA:
                self.conn.receive_data(await self.reader.read(65536))
                continue
            assert not isinstance(event, ev.NeedData)
            out.append(event)
            if isinstance(event, ev.ConnectionClosed):
                self.closed = True
                break
        return out

    async def data_messages(self, count: int, timeout: float = 5.0) -> list[ev.DataMessage]:
        """Read until *count* DataMessages arrived, skipping acks and heartbeats."""
        found: list[ev.DataMessage] = []
        while len(found) < count:
            [event] = await self.read(1, timeout)
            if isinstance(event, ev.DataMessage):
                found.append(event)
            elif isinstance(event, ev.ConnectionClosed | ev.Close):
                break
        return found

    async def ack_all(self, messages: list[ev.DataMessage]) -> None:
        for message in messages:
            self.conn.message_done(message.stream_index)
        await self.send(ev.StreamAck())

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
