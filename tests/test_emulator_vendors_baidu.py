"""The emulator's Baidu fake spoken to directly: it verifies the PHP-urlencode sign over
what it received (so the official Python SDK's ``quote_plus`` sign fails on ``~``, and
its habit of sending ``secretKey`` still verifies), the time window, ranges and GET/POST."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import pytest

from pullkin.emulator import Emulator
from pullkin.emulator.vendors.baidu import expected_sign
from pullkin.senders.baidu_sign import sign

pytestmark = pytest.mark.anyio
pytest_plugins = ["_vendor_support"]


VECTOR_URL = "http://api.tuisong.baidu.com/rest/3.0/push/single_device"
VECTOR_SECRET = "9pnWcMfkbeIGmbbqOI1vfK4iKrLCCRwH"
VECTOR_PARAMS = {"apikey": "Ljc8jEN2TpLmGDqmjvqS7xGX", "timestamp": "1700000000",
                 "device_type": "3", "channel_id": "3812345678901234567", "msg_type": "1"}  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"msg": '{"title":"Hello","description":"hello world"}'},
            "b5a119753d04261a0a7fea4e52cbaa69",
        ),
        (
            {"msg": '{"title":"Hi~*","description":"你好 world"}'},
            "1eaf0e348b2cddbc5e4af58d192cc26d",
        ),
        (
            {"msg": '{"title":"Hello","description":"hello world"}', "secretKey": VECTOR_SECRET},
            "f09bf2d5d8b5208f1934c34eec35da9c",
        ),
    ],
    ids=["A", "B", "C"],
)
def test_the_fakes_own_sign_matches_the_fixed_vectors(extra: dict[str, str], expected: str) -> None:
    params = {**VECTOR_PARAMS, **extra}
    assert expected_sign("POST", VECTOR_URL, params, VECTOR_SECRET) == expected


def signed(
    emu: Emulator, method: str, params: dict[str, Any], http_method: str = "POST"
) -> tuple[str, dict[str, str]]:
    creds = emu.vendor("baidu")
    url = creds["base_url"] + method
    fields = {
        "apikey": creds["api_key"],
        "timestamp": str(int(time.time())),
        **{k: str(v) for k, v in params.items()},
    }
    fields["sign"] = sign(http_method, url, fields, creds["secret_key"])
    return url, fields


async def call(
    http: aiohttp.ClientSession, url: str, fields: dict[str, str], method: str = "POST"
) -> tuple[int, dict[str, Any]]:
    if method == "GET":
        async with http.get(url, params=fields) as resp:
            return resp.status, await resp.json()
    async with http.post(url, data=fields) as resp:
        return resp.status, await resp.json()


async def test_a_php_signed_push_is_accepted_in_baidus_shape(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    status, answer = await call(
        http, *signed(emu, "push/single_device", {"channel_id": "1", "msg": "Hi~*"})
    )
    assert status == 200
    assert isinstance(answer["request_id"], int)
    assert answer["response_params"]["msg_id"].isdigit()
    assert emu.inbox("baidu")[0]["params"]["msg"] == "Hi~*"


async def test_a_quote_plus_sign_is_refused_when_a_value_holds_a_tilde(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    creds = emu.vendor("baidu")
    url = creds["base_url"] + "push/all"
    fields = {"apikey": creds["api_key"], "timestamp": str(int(time.time())), "msg": "Hi~"}
    gather = (
        "POST" + url + "".join(f"{k}={fields[k]}" for k in sorted(fields)) + creds["secret_key"]
    )
    fields["sign"] = hashlib.md5(quote_plus(gather).encode()).hexdigest()
    status, answer = await call(http, url, fields)
    assert status == 401
    assert answer["error_code"] == 30603
    assert answer["error_msg"] == "Authentication Failed"
    assert emu.inbox("baidu") == []


async def test_extra_parameters_like_the_sdks_secret_key_are_signed_over(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    secret = emu.vendor("baidu")["secret_key"]
    status, _ = await call(http, *signed(emu, "push/all", {"msg": "m", "secretKey": secret}))
    assert status == 200


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"timestamp": str(int(time.time()) - 3600)}, 30606),
        ({"expires": str(int(time.time()) - 1)}, 30606),
        ({"msg_expires": "604801"}, 30602),
        ({"msg_type": "2"}, 30602),
        ({"device_type": "5"}, 30602),
        ({"msg": "x" * 4097}, 30602),
        ({"send_time": str(int(time.time()) + 10)}, 30602),
    ],
)
async def test_time_window_and_ranges_are_enforced(
    emu: Emulator, http: aiohttp.ClientSession, params: dict[str, str], code: int
) -> None:
    status, answer = await call(http, *signed(emu, "push/all", {"msg": "m", **params}))
    assert answer["error_code"] == code
    assert status in (400, 401)


async def test_queries_answer_get_but_pushes_do_not(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    status, answer = await call(http, *signed(emu, "app/query_tags", {}, "GET"), method="GET")
    assert (status, answer["response_params"]) == (200, {"total_num": 0, "result": []})
    status, answer = await call(http, *signed(emu, "push/all", {"msg": "m"}, "GET"), method="GET")
    assert (status, answer["error_code"]) == (405, 30601)


async def test_unknown_methods_and_missing_tags(emu: Emulator, http: aiohttp.ClientSession) -> None:
    status, answer = await call(http, *signed(emu, "push/nowhere", {}))
    assert (status, answer["error_code"]) == (405, 30601)
    status, answer = await call(
        http, *signed(emu, "push/tags", {"type": 1, "tag": "none", "msg": "m"})
    )
    assert (status, answer["error_code"]) == (404, 30611)


async def test_channel_id_lists_are_parsed_and_limited(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    await call(http, *signed(emu, "app/create_tag", {"tag": "vip"}))
    ids = json.dumps([str(i) for i in range(11)])
    status, answer = await call(
        http, *signed(emu, "tag/add_devices", {"tag": "vip", "channel_ids": ids})
    )
    assert (status, answer["error_code"]) == (400, 30602)
    status, answer = await call(
        http, *signed(emu, "tag/add_devices", {"tag": "vip", "channel_ids": "not json"})
    )
    assert answer["error_code"] == 30602
