"""CORS on the emulator's Google APIs, as the Firebase JS SDK's cross-origin calls from
a page on http://localhost need it: preflights answered, every answer readable."""

from __future__ import annotations

import pytest
from test_emulator_support import client, create_installation, installations_url

from pullkin.emulator import Emulator

pytestmark = pytest.mark.anyio

ORIGIN = "http://localhost:5173"


def preflight(method: str, headers: str) -> dict[str, str]:
    return {"Origin": ORIGIN, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers}  # fmt: skip


@pytest.mark.parametrize(
    ("path", "method", "asked"),
    [
        # What the SDK's Installations and registrations calls ask for.
        ("installations", "POST", "content-type,x-firebase-client,x-goog-api-key"),
        ("registrations", "POST",
         "content-type,x-goog-api-key,x-goog-firebase-installations-auth"),
        ("registrations/cAbCdEfGhIjKlMnOpQrStU", "DELETE",
         "content-type,x-goog-api-key,x-goog-firebase-installations-auth"),
    ],
)  # fmt: skip
async def test_a_preflight_of_the_firebase_sdk_is_allowed(
    path: str, method: str, asked: str
) -> None:
    async with Emulator() as emu, client(emu) as session:
        url = f"{emu.url}/v1/projects/{emu.firebase_config.project_id}/{path}"
        async with session.options(url, headers=preflight(method, asked)) as response:
            status, headers = response.status, response.headers
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert method in headers["Access-Control-Allow-Methods"].split(",")
    assert headers["Access-Control-Allow-Headers"] == asked
    assert headers["Access-Control-Max-Age"] == "3600"


@pytest.mark.parametrize(
    ("method", "asked"),
    [("POST", "content-type,x-goog-api-key,x-my-tracing-id"), ("PUT", "content-type")],
)
async def test_a_preflight_for_an_unknown_header_or_method_is_not_allowed(
    method: str, asked: str
) -> None:
    # Real Installations refuses headers outside its allow list (firebase-js-sdk#8976).
    async with Emulator() as emu, client(emu) as session:
        url = installations_url(emu)
        async with session.options(url, headers=preflight(method, asked)) as response:
            assert "Access-Control-Allow-Origin" not in response.headers


async def test_answers_to_a_page_carry_the_origin_errors_included() -> None:
    async with Emulator() as emu, client(emu) as session:
        installation = await create_installation(session, emu)
        url = installations_url(emu)
        async with session.post(url, json={}, headers={"Origin": ORIGIN}) as response:
            assert response.status == 403  # no API key
            assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert "Origin" in response.headers["Vary"]
        async with session.post(
            url, headers={"Origin": ORIGIN, "x-goog-api-key": emu.firebase_config.api_key},
            json={"fid": installation["fid"], "authVersion": "FIS_v2",
                  "appId": emu.firebase_config.app_id, "sdkVersion": "w:0.6.17"},
        ) as response:  # fmt: skip
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        async with session.post(url, json={}) as response:  # no Origin: no CORS headers
            assert "Access-Control-Allow-Origin" not in response.headers
