"""The emulator's Umeng fake spoken to directly: the sign is checked over the raw bytes
received (a body re-serialised after signing — the seed SDKs' defect — is refused),
then JSON, appkey, timestamp, type, targets and payload rules, in Umeng's shapes."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import aiohttp
import pytest

from pullkin.emulator import Emulator

pytestmark = pytest.mark.anyio
pytest_plugins = ["_vendor_support"]
TOKEN = "A" * 44


def body(emu: Emulator, **fields: Any) -> dict[str, Any]:
    base = {
        "appkey": emu.vendor("umeng")["app_key"],
        "timestamp": str(int(time.time() * 1000)),
        "type": "unicast",
        "device_tokens": TOKEN,
        "payload": {
            "display_type": "notification",
            "body": {"ticker": "t", "title": "T", "text": "x"},
        },
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


async def post(
    emu: Emulator,
    http: aiohttp.ClientSession,
    fields: dict[str, Any],
    path: str = "/api/send",
    *,
    sent: bytes | None = None,
    secret: str | None = None,
    signature: str | None = "auto",
) -> tuple[int, dict[str, Any]]:
    creds = emu.vendor("umeng")
    url = creds["base_url"] + path
    raw = json.dumps(fields, separators=(",", ":")).encode()
    key = (secret or creds["app_master_secret"]).encode()
    if signature == "auto":
        signature = hashlib.md5(b"POST" + url.encode() + raw + key).hexdigest()
    params = {} if signature is None else {"sign": signature}
    async with http.post(url, data=sent if sent is not None else raw, params=params) as resp:
        return resp.status, await resp.json()


async def test_a_signed_unicast_gets_a_msg_id(emu: Emulator, http: aiohttp.ClientSession) -> None:
    status, answer = await post(emu, http, body(emu))
    assert status == 200
    assert answer["ret"] == "SUCCESS"
    assert answer["data"]["msg_id"].startswith("uu")


async def test_a_body_reserialised_after_signing_is_refused(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    fields = body(emu)
    status, answer = await post(emu, http, fields, sent=json.dumps(fields).encode())
    assert (status, answer) == (
        400,
        {"ret": "FAIL", "data": {"error_code": "2027", "error_msg": "signature incorrect"}},
    )
    assert emu.inbox("umeng") == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"signature": None}, "2007"),
        ({"secret": "0" * 32}, "2027"),
        ({"sent": b"{not json"}, "2008"),
    ],
)
async def test_signature_and_json_errors(
    emu: Emulator, http: aiohttp.ClientSession, kwargs: dict[str, Any], code: str
) -> None:
    status, answer = await post(emu, http, body(emu), **kwargs)
    assert (status, answer["data"]["error_code"]) == (400, code)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"appkey": None}, "1000"),
        ({"appkey": "nope"}, "2021"),
        ({"timestamp": None}, "2052"),
        ({"timestamp": "12345"}, "2036"),
        ({"timestamp": str(int((time.time() - 3600) * 1000))}, "2028"),
        ({"type": None}, "1016"),
        ({"type": "multicast"}, "2048"),
        ({"payload": None}, "1001"),
        ({"device_tokens": None}, "1015"),
        ({"device_tokens": "short"}, "4020"),
        ({"type": "listcast", "device_tokens": ",".join([TOKEN] * 501)}, "2015"),
        (
            {"payload": {"display_type": "notification", "body": {"title": "T", "text": "x"}}},
            "1008",
        ),
        ({"payload": {"display_type": "message", "body": {}}}, "1003"),
        (
            {
                "payload": {
                    "display_type": "notification",
                    "body": {"ticker": "t", "title": "T", "text": "x" * 1900},
                }
            },
            "2022",
        ),
        (
            {
                "payload": {
                    "display_type": "notification",
                    "body": {
                        "ticker": "t",
                        "title": "T",
                        "text": "x",
                        "after_open": "go_url",
                        "url": "ftp://x",
                    },
                }
            },
            "1007",
        ),
        ({"payload": {"aps": {"alert": "a"}, "d": 1}, "device_tokens": "ab" * 32}, "5002"),
        ({"payload": {"aps": {}}, "device_tokens": "ab" * 32}, "2025"),
        ({"type": "groupcast", "device_tokens": None}, "2016"),
        ({"type": "filecast", "device_tokens": None, "file_id": "PF1"}, "2019"),
        ({"type": "customizedcast", "device_tokens": None, "alias": "a"}, "2047"),
        ({"policy": {"start_time": "2030-01-01 00:00:00"}}, "2039"),
        ({"policy": {"expire_time": "2001-01-01 00:00:00"}}, "2003"),
        ({"policy": {"expire_time": "soon"}}, "2002"),
    ],
)
async def test_send_rules_answer_umeng_error_codes(
    emu: Emulator, http: aiohttp.ClientSession, fields: dict[str, Any], code: str
) -> None:
    merged = body(emu)
    merged.update(fields)
    status, answer = await post(emu, http, {k: v for k, v in merged.items() if v is not None})
    assert (status, answer["ret"], answer["data"]["error_code"]) == (400, "FAIL", code)


async def test_unknown_paths_are_404(emu: Emulator, http: aiohttp.ClientSession) -> None:
    async with http.post(emu.vendor("umeng")["base_url"] + "/api/other", data=b"{}") as resp:
        assert resp.status == 404


async def test_upload_then_status_of_a_missing_task(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    creds = emu.vendor("umeng")
    fields = {"appkey": creds["app_key"], "timestamp": str(int(time.time())), "content": "a\nb\n"}
    status, answer = await post(emu, http, fields, "/upload")
    assert (status, answer["data"]["file_id"][:2]) == (200, "PF")
    fields = {"appkey": creds["app_key"], "timestamp": str(int(time.time())), "task_id": "nope"}
    status, answer = await post(emu, http, fields, "/api/status")
    assert (status, answer["data"]["error_code"]) == (400, "1014")
