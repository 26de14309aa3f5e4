"""Test support (no tests here): a plain local aiohttp server standing in for Google.

Independent of the emulator on purpose: it records every request verbatim so tests
can check them field by field against ../shared/protocol/register.md, answers with
well-formed values, and can be scripted to misbehave (status + Retry-After, register3
``Error=``, stalls, dropped connections).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from _local_http import serve_local
from aiohttp import web

from pullkin.endpoints import Endpoints
from pullkin.proto import checkin_pb2

ANDROID_ID = 5678901234567890123
SECURITY_TOKEN = 1234567890123456789


@dataclass
class Captured:
    route: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    def form_keys(self) -> list[str]:
        return [key for key, _ in parse_qsl(self.body.decode(), keep_blank_values=True)]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Fault:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0  # seconds to wait before answering normally
    reset: bool = False  # drop the connection without an answer


class FakeGoogle:
    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self.faults: dict[str, deque[Fault]] = {}
        self._n = itertools.count(1)
        self.checkin_status = 200
        self.server_fid = "dServerAssignedFid0001"
        self.endpoints: Endpoints | None = None

    def fail(self, route: str, *faults: Fault) -> None:
        self.faults.setdefault(route, deque()).extend(faults)

    def of(self, route: str) -> list[Captured]:
        return [r for r in self.requests if r.route == route]

    @property
    def routes(self) -> list[str]:
        return [r.route for r in self.requests]

    def app(self) -> web.Application:
        app = web.Application()
        add = app.router.add_route
        add("POST", "/checkin", self._wrap("checkin", self._checkin))
        add("POST", "/c2dm/register3", self._wrap("register3", self._register3))
        add("POST", "/v1/projects/{p}/installations", self._wrap("installations", self._fis_create))
        add(
            "POST",
            "/v1/projects/{p}/installations/{fid}/authTokens:generate",
            self._wrap("installation_token", self._fis_token),
        )
        add(
            "DELETE",
            "/v1/projects/{p}/installations/{fid}",
            self._wrap("installation_delete", self._ok),
        )
        add("POST", "/v1/projects/{p}/registrations", self._wrap("registrations", self._fcm))
        add(
            "PATCH",
            "/v1/projects/{p}/registrations/{t}",
            self._wrap("registrations_patch", self._fcm),
        )
        add(
            "DELETE",
            "/v1/projects/{p}/registrations/{t}",
            self._wrap("registrations_delete", self._ok),
        )
        # Anything else is recorded too (as "unmatched"): a request Google would not
        # understand is a finding, not a silent 404.
        add("*", "/{tail:.*}", self._wrap("unmatched", self._unmatched))
        return app

    def _wrap(self, route: str, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            self.requests.append(
                Captured(route, request.method, request.raw_path, dict(request.headers), body)
            )
            queue = self.faults.get(route)
            if queue:
                fault = queue.popleft()
                if fault.reset:
                    assert request.transport is not None
                    request.transport.close()
                    await asyncio.sleep(0.05)
                    return web.Response()
                if fault.stall:
                    await asyncio.sleep(fault.stall)
                elif fault.status != 200 or fault.body:
                    return web.Response(status=fault.status, text=fault.body, headers=fault.headers)
            result: web.StreamResponse = await handler(request)
            return result

        return wrapped

    async def _checkin(self, request: web.Request) -> web.Response:
        if self.checkin_status != 200:
            return web.Response(status=self.checkin_status)
        answer = checkin_pb2.AndroidCheckinResponse(
            stats_ok=True, time_msec=1, android_id=ANDROID_ID, security_token=SECURITY_TOKEN
        )
        return web.Response(body=answer.SerializeToString(), content_type="application/x-protobuf")

    async def _register3(self, request: web.Request) -> web.Response:
        form = dict(parse_qsl((await request.read()).decode()))
        if form.get("delete") in ("true", "1"):
            return web.Response(text=f"deleted={form['app']}")
        return web.Response(text=f"token=gcm{next(self._n)}:APA91bGcmTokenValue")

    async def _fis_create(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "name": f"projects/424242/installations/{self.server_fid}",
                "fid": self.server_fid,
                "refreshToken": f"1_refresh{next(self._n)}",
                "authToken": {"token": f"fis-auth-{next(self._n)}", "expiresIn": "604800s"},
            }
        )

    async def _fis_token(self, request: web.Request) -> web.Response:
        return web.json_response({"token": f"fis-auth-{next(self._n)}", "expiresIn": "604800s"})

    async def _fcm(self, request: web.Request) -> web.Response:
        token = f"fcm{next(self._n)}:APA91bFcmTokenValue"
        name = f"projects/{request.match_info['p']}/registrations/{token}"
        return web.json_response(
            {"name": name, "token": token, "web": (await request.json())["web"]}
        )

    async def _unmatched(self, request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": 404, "status": "NOT_FOUND"}}, status=404)

    async def _ok(self, request: web.Request) -> web.Response:
        return web.json_response({})


@asynccontextmanager
async def fake_google() -> AsyncIterator[FakeGoogle]:
    fake = FakeGoogle()
    runner, port = await serve_local(fake.app())
    base = f"http://127.0.0.1:{port}"
    fake.endpoints = Endpoints(
        checkin=f"{base}/checkin",
        register=f"{base}/c2dm/register3",
        installations=base,
        registrations=base,
        webpush="https://fcm.googleapis.com/fcm/send/{token}",
    )
    try:
        yield fake
    finally:
        await runner.cleanup()
