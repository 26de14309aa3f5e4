"""The emulator's HMS fake spoken to directly: OAuth errors, token checks, send limits
and answer shapes, the way Huawei answers a client that skipped our validation."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from pullkin.emulator import Emulator
from pullkin.emulator.vendors import hms as hms_fake

pytestmark = pytest.mark.anyio
pytest_plugins = ["_vendor_support"]


async def token_text(emu: Emulator, http: aiohttp.ClientSession, **form: str) -> tuple[int, str]:
    """The token endpoint's status and raw answer to the app's credentials (+ *form*)."""
    creds = emu.vendor("hms")
    data = {
        "grant_type": "client_credentials",
        "client_id": creds["app_id"],
        "client_secret": creds["app_secret"],
        **form,
    }
    async with http.post(creds["token_url"], data=data) as resp:
        return resp.status, await resp.text()


async def token(emu: Emulator, http: aiohttp.ClientSession, **form: str) -> tuple[int, Any]:
    status, text = await token_text(emu, http, **form)
    return status, json.loads(text)


async def send(
    emu: Emulator, http: aiohttp.ClientSession, body: Any, bearer: str | None = None
) -> tuple[int, dict[str, Any]]:
    creds = emu.vendor("hms")
    if bearer is None:
        _, answer = await token(emu, http)
        bearer = answer["access_token"]
    url = f"{creds['api_url']}/v1/{creds['app_id']}/messages:send"
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with http.post(url, data=raw, headers={"Authorization": f"Bearer {bearer}"}) as resp:
        return resp.status, await resp.json()


def message(**fields: Any) -> dict[str, Any]:
    return {"message": {"data": "x", "token": ["t1"], **fields}}


async def test_the_token_answer_escapes_slashes_like_huawei(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    _, text = await token_text(emu, http)
    answer = json.loads(text)
    assert answer["expires_in"] == 3600
    assert answer["token_type"] == "Bearer"
    assert "/" not in text.replace("\\/", "")


@pytest.mark.parametrize(
    ("form", "error", "sub_error"),
    [
        ({"client_id": "abc"}, 1101, 20002),
        ({"client_id": "42"}, 1101, 20003),
        ({"client_secret": ""}, 1101, 20171),
        ({"client_secret": "wrong"}, 1101, 12304),
        ({"grant_type": "password"}, 1102, 20001),
    ],
)
async def test_the_token_endpoint_refuses_bad_credentials(
    emu: Emulator, http: aiohttp.ClientSession, form: dict[str, str], error: int, sub_error: int
) -> None:
    status, answer = await token(emu, http, **form)
    assert status == 400
    assert (answer["error"], answer["sub_error"]) == (error, sub_error)


async def test_the_token_quota_answers_503(emu: Emulator, http: aiohttp.ClientSession) -> None:
    hms_fake.fake(emu).token_window.limit = 2
    statuses = [(await token(emu, http))[0] for _ in range(3)]
    assert statuses == [200, 200, 503]


@pytest.mark.parametrize(
    ("bearer", "code"),
    [("", "80200001"), ("made-up", "80200001")],
)
async def test_sends_need_a_token_we_issued(
    emu: Emulator, http: aiohttp.ClientSession, bearer: str, code: str
) -> None:
    status, answer = await send(emu, http, message(), bearer=bearer)
    assert (status, answer["code"]) == (401, code)
    assert answer["requestId"]


async def test_an_expired_token_answers_80200003(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    _, answer = await token(emu, http)
    hms_fake.fake(emu).expire_tokens()
    status, refusal = await send(emu, http, message(), bearer=answer["access_token"])
    assert (status, refusal["code"]) == (401, "80200003")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "80100003"),
        ({"validate_only": False}, "80100003"),
        (message(topic="news"), "80100001"),
        ({"message": {"data": "x"}}, "80100001"),
        (message(token=[f"t{i}" for i in range(1001)]), "80300010"),
        (message(data="x" * 4097), "80300008"),
        (message(android={"ttl": "1296001s"}), "80100001"),
        (message(android={"collapse_key": 101}), "80100013"),
        (message(android={"notification": {"title": "t"}}), "80100001"),
        (
            {"message": {"condition": " && ".join(f"'t{i}' in topics" for i in range(6))}},
            "80100001",
        ),
    ],
)
async def test_send_rules_are_enforced(
    emu: Emulator, http: aiohttp.ClientSession, body: Any, code: str
) -> None:
    status, answer = await send(emu, http, body)
    assert (status, answer["code"]) == (400, code)
    assert emu.inbox("hms") == []


async def test_the_size_limit_excludes_the_tokens(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    tokens = [f"{i:0100d}" for i in range(1000)]
    status, answer = await send(emu, http, message(data="x" * 3000, token=tokens))
    assert (status, answer["code"]) == (200, "80000000")


async def test_partial_success_message_is_json_text(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    hms_fake.fake(emu).dead_tokens.add("t2")
    status, answer = await send(emu, http, message(token=["t1", "t2"]))
    assert (status, answer["code"]) == (200, "80100000")
    assert json.loads(answer["msg"]) == {"success": 1, "failure": 1, "illegal_tokens": ["t2"]}
    assert emu.inbox("hms")[0]["tokens"] == ["t1"]


async def test_send_flow_control_answers_503(emu: Emulator, http: aiohttp.ClientSession) -> None:
    hms_fake.fake(emu).send_window.limit = 1
    hms_fake.fake(emu).send_window.seconds = 60
    first, _ = await send(emu, http, message())
    second, _ = await send(emu, http, message())
    assert (first, second) == (200, 503)


async def test_topic_answers_have_counts_and_errors(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    creds = emu.vendor("hms")
    _, answer = await token(emu, http)
    headers = {"Authorization": f"Bearer {answer['access_token']}"}
    base = f"{creds['api_url']}/v1/{creds['app_id']}/topic:"
    hms_fake.fake(emu).dead_tokens.add("bad")
    async with http.post(
        base + "subscribe",
        json={"topic": "weather", "tokenArray": ["good-token", "bad"]},
        headers=headers,
    ) as resp:
        subscribed = await resp.json()
    async with http.post(base + "list", json={"token": "good-token"}, headers=headers) as resp:
        listed = await resp.json()
    async with http.post(
        base + "subscribe", json={"topic": "no spaces", "tokenArray": ["x"]}, headers=headers
    ) as resp:
        bad = resp.status, (await resp.json())["code"]
    assert subscribed["successCount"] == 1
    assert subscribed["failureCount"] == 1
    assert subscribed["errors"] == [{"index": 1, "reason": "80300007"}]
    assert [t["name"] for t in listed["topics"]] == ["weather"]
    assert bad == (400, "80100001")


async def test_fault_injection_reaches_each_route(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    creds = emu.vendor("hms")
    for route in ("hms_token", "hms_send", "hms_topic"):
        emu.faults.http_error(route, 502)
    assert (await token(emu, http))[0] == 502
    _, answer = await token(emu, http)
    headers = {"Authorization": f"Bearer {answer['access_token']}"}
    base = f"{creds['api_url']}/v1/{creds['app_id']}/"
    async with http.post(base + "messages:send", json=message(), headers=headers) as resp:
        assert resp.status == 502
    async with http.post(base + "topic:list", json={"token": "t"}, headers=headers) as resp:
        assert resp.status == 502
    assert emu.faults.fired == ["http:hms_token", "http:hms_send", "http:hms_topic"]
