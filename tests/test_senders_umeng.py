"""UmengSender: the signature over the exact body bytes (vectors of umeng.md verbatim),
payload and policy validation, result codes, and every operation against the
emulator's Umeng fake (which verifies the sign over the bytes it received).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from _local_http import serve_local
from _vendor_support import emulator_config_file, parse_cli, vendor_sender
from aiohttp import web

from pullkin.commands import send_umeng
from pullkin.emulator import Emulator
from pullkin.emulator.vendors import umeng as umeng_fake
from pullkin.errors import (
    ConfigError,
    InvalidArgumentError,
    NotFoundError,
    QuotaExceededError,
    SendError,
    UnauthenticatedError,
    UnavailableError,
    UnregisteredError,
)
from pullkin.senders._http import NO_RETRY
from pullkin.senders.umeng import (
    AndroidBody,
    AndroidPayload,
    IosAlert,
    IosAps,
    IosPayload,
    Policy,
    UmengSender,
)
from pullkin.senders.umeng_request import dumps, send_fields, sign
from pullkin.senders.umeng_results import error_for

pytest_plugins = ["_vendor_support"]

SEND_URL = "https://msgapi.umeng.com/api/send"
SECRET = "abcdefghijklmnopqrstuvwxyz012345"
COMPACT = '{"appkey":"5a77fca0b27b0a5f3f000001","timestamp":"1700000000000","type":"unicast","device_tokens":"AgQZuXku_eGXcgHOrAiUxOIkUlivC3QcE2-hf0YtvQ9R","payload":{"display_type":"notification","body":{"ticker":"Hi","title":"Hello","text":"World","after_open":"go_app"}},"production_mode":"false","description":"test"}'
TOKEN = "AgQZuXku_eGXcgHOrAiUxOIkUlivC3QcE2-hf0YtvQ9R"
NOTE = AndroidPayload(
    body=AndroidBody(ticker="Hi", title="Hello", text="World", after_open="go_app")
)
NOW = _dt.datetime(2023, 11, 14, tzinfo=_dt.timezone.utc)


def token(i: int) -> str:
    return f"{i:044d}"


# --- the vectors -----------------------------------------------------------------------


def test_compact_body_vector_signs_to_the_published_value() -> None:
    assert sign("POST", SEND_URL, COMPACT.encode(), SECRET) == "cd2f35382342aa61e602c026d7e70407"


def test_a_reserialised_body_signs_differently() -> None:
    python_default = json.dumps(json.loads(COMPACT)).encode()
    assert sign("POST", SEND_URL, python_default, SECRET) == "89935816bc9fbdd4415d36301574a72f"


def test_third_party_published_vector() -> None:
    text = 'POSThttp://msg.umeng.com/api/send{"policy":{"expire_time":"2018-03-27 09:06:02"},"description":"qweqwe","production_mode":true,"appkey":"5a77fca0b27b0a5f3f0000cb","payload":{"body":{"title":"fdasfa","ticker":"fdasfa","text":"qweqwewqewq","after_open":"go_app","play_vibrate":"false","play_lights":"false","play_sound":"true"},"display_type":"notification"},"type":"broadcast","timestamp":"1521856908422"}bedyc7rzfqdy2wcvycrkabprdil2bpmc'
    method, rest = text[:4], text[4:]
    url, rest = rest.split("{", 1)
    body, secret = (
        "{" + rest[: -len("bedyc7rzfqdy2wcvycrkabprdil2bpmc")],
        "bedyc7rzfqdy2wcvycrkabprdil2bpmc",
    )
    assert sign(method, url, body.encode(), secret) == "914c16508236ab0908e0728301d27d04"


def test_the_models_serialise_to_exactly_the_vector_body() -> None:
    fields = send_fields(
        app_key="5a77fca0b27b0a5f3f000001", timestamp="1700000000000", type="unicast",
        targets={"device_tokens": TOKEN}, payload=NOTE, policy=None, production_mode=False,
        description="test", now=NOW,
    )  # fmt: skip
    assert dumps(fields) == COMPACT.encode()


def test_non_ascii_is_sent_as_utf8_and_signed_as_sent() -> None:
    payload = AndroidPayload(
        body=AndroidBody(ticker="你好", title="你好", text="世界", after_open="go_app")
    )
    fields = send_fields(
        app_key="5a77fca0b27b0a5f3f000001", timestamp="1700000000000", type="unicast",
        targets={"device_tokens": TOKEN}, payload=payload, policy=None, production_mode=False,
        description="test", now=NOW,
    )  # fmt: skip
    assert sign("POST", SEND_URL, dumps(fields), SECRET) == "469c50ce2d4f3b46f3aed2f6f29434b6"
    escaped = json.dumps(fields, separators=(",", ":")).encode()
    assert sign("POST", SEND_URL, escaped, SECRET) == "427d7af385747609b1d16f49d174336b"


@pytest.mark.anyio
async def test_the_bytes_on_the_wire_are_the_bytes_that_were_signed() -> None:
    seen: list[tuple[str, bytes, str]] = []

    async def capture(request: web.Request) -> web.Response:
        seen.append(
            (str(request.url.with_query(None)), await request.read(), request.query["sign"])
        )
        return web.json_response({"ret": "SUCCESS", "data": {"msg_id": "uu1"}})

    app = web.Application()
    app.router.add_post("/api/send", capture)
    runner, port = await serve_local(app)
    try:
        async with UmengSender("k" * 24, SECRET, base_url=f"http://127.0.0.1:{port}") as umeng:
            await umeng.unicast(TOKEN, NOTE, description="测试 ~")
    finally:
        await runner.cleanup()
    ((url, raw, signature),) = seen
    assert hashlib.md5(b"POST" + url.encode() + raw + SECRET.encode()).hexdigest() == signature
    assert "测试 ~".encode() in raw  # UTF-8 as is, no re-escaping


# --- validation -------------------------------------------------------------------------


def offline() -> UmengSender:
    # Nothing listens here: a request would fail with UnavailableError, not InvalidArgument.
    return UmengSender("k" * 24, SECRET, base_url="https://127.0.0.1:9", retry=NO_RETRY)


IOS = IosPayload(aps=IosAps(alert=IosAlert(title="t", body="b")), custom={"k": "v"})
BAD_CALLS: list[tuple[str, Callable[[UmengSender], Awaitable[object]]]] = [
    ("44 characters", lambda u: u.unicast("short", NOTE)),
    ("hex", lambda u: u.unicast("zz" * 32, IOS)),
    (
        "1840",
        lambda u: u.unicast(
            TOKEN, AndroidPayload(body=AndroidBody(ticker="t", title="t", text="x" * 1900))
        ),
    ),
    ("2012", lambda u: u.unicast("ab" * 32, IosPayload(aps=IosAps(alert="x" * 2100)))),
    ("task messages only", lambda u: u.unicast(TOKEN, NOTE, policy=Policy(start_time=NOW))),
    ("out_biz_no applies", lambda u: u.unicast(TOKEN, NOTE, policy=Policy(out_biz_no="o1"))),
    (
        "within 7 days",
        lambda u: u.broadcast(
            NOTE,
            policy=Policy(expire_time=_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(days=8)),
        ),
    ),
    (
        "in the future",
        lambda u: u.broadcast(NOTE, policy=Policy(expire_time="2001-01-01 00:00:00")),
    ),
    ("must not repeat", lambda u: u.listcast([TOKEN, TOKEN], NOTE)),
    ("at least one", lambda u: u.listcast([], NOTE)),
    ("either alias or file_id", lambda u: u.customizedcast("uid", NOTE, alias="a", file_id="f")),
    ("either alias or file_id", lambda u: u.customizedcast("uid", NOTE)),
    (
        "1..500 aliases",
        lambda u: u.customizedcast("uid", NOTE, alias=[f"a{i}" for i in range(501)]),
    ),
    ("alias_type", lambda u: u.customizedcast("", NOTE, alias="a")),
    ("where", lambda u: u.groupcast({"and": []}, NOTE)),
    ("file_id", lambda u: u.filecast("", NOTE)),
    ("non-empty line", lambda u: u.upload([])),
    ("task_id", lambda u: u.status("")),
    ("Android only", lambda u: u.unicast("ab" * 32, IOS, mipush=True)),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("fragment", "call"), BAD_CALLS)
async def test_bad_arguments_fail_before_any_request(
    fragment: str, call: Callable[[UmengSender], Awaitable[object]]
) -> None:
    async with offline() as umeng:
        with pytest.raises(InvalidArgumentError, match=fragment) as info:
            await call(umeng)
    assert info.value.vendor == "umeng"


BAD_MODELS: list[tuple[str, Callable[[], object]]] = [
    ("body.ticker", lambda: AndroidPayload(body=AndroidBody(title="t", text="x"))),
    ("body.custom", lambda: AndroidPayload(display_type="message", body=AndroidBody())),
    ("go_url needs a url", lambda: AndroidBody(after_open="go_url")),
    ("http", lambda: AndroidBody(img="ftp://x")),
    ("after_open", lambda: AndroidBody(after_open="go_moon")),
    ("'d'", lambda: IosPayload(aps=IosAps(alert="a"), custom={"d": 1})),
    ("alert", lambda: IosAps()),
    ("max_send_num", lambda: Policy(max_send_num=10)),
    (
        "after start_time",
        lambda: Policy(start_time="2024-01-02 00:00:00", expire_time="2024-01-01 00:00:00"),
    ),
    ("2024-01-31", lambda: Policy(start_time="tomorrow")),
    ("timezone-aware", lambda: Policy(start_time=_dt.datetime(2024, 1, 1))),
    ("64 bytes", lambda: Policy(apns_collapse_id="x" * 65)),
]


@pytest.mark.parametrize(("fragment", "build"), BAD_MODELS)
def test_bad_model_values_raise_invalid_argument(
    fragment: str, build: Callable[[], object]
) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        build()


def test_models_write_umeng_quirks() -> None:
    body = AndroidBody(
        ticker="t", title="T", text="x", play_sound=False, large_icon="big", builder_id=0
    )
    assert body.to_json("notification") == {
        "ticker": "t", "title": "T", "text": "x", "largeIcon": "big", "builder_id": 0,
        "play_sound": "false", "after_open": "go_app",
    }  # fmt: skip
    aps = IosAps(alert="a", content_available=True, mutable_content=False)
    assert aps.to_json() == {"alert": "a", "content-available": 1, "mutable-content": 0}
    policy = Policy(
        start_time=_dt.datetime(2024, 1, 1, 0, 0, tzinfo=_dt.timezone.utc), max_send_num=1000
    )
    assert policy.to_json() == {"start_time": "2024-01-01 08:00:00", "max_send_num": 1000}


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("2027", UnauthenticatedError),
        ("2028", UnauthenticatedError),
        ("2050", QuotaExceededError),
        ("1014", NotFoundError),
        ("2019", NotFoundError),
        ("2022", InvalidArgumentError),
        ("1028", InvalidArgumentError),
        ("4020", UnregisteredError),
        ("5000", UnregisteredError),
        ("6003", UnavailableError),
    ],
)
def test_error_codes_map_to_error_classes(code: str, cls: type[SendError]) -> None:
    error = error_for(
        {"ret": "FAIL", "data": {"error_code": code, "error_msg": "m"}}, http_status=400
    )
    assert type(error) is cls
    assert (error.code, error.vendor, error.http_status) == (code, "umeng", 400)


# --- against the emulator -----------------------------------------------------------------


def sender(emu: Emulator, **kw: Any) -> UmengSender:
    return vendor_sender(UmengSender, "umeng", emu, **kw)


@pytest.mark.anyio
async def test_unicast_is_signed_accepted_and_recorded(emu: Emulator) -> None:
    async with sender(emu) as umeng:
        result = await umeng.unicast(TOKEN, NOTE, description="hi")
    assert result.msg_id is not None
    assert result.task_id is None
    (record,) = emu.inbox("umeng")
    assert record["recipients"] == [TOKEN]
    assert record["body"]["payload"] == NOTE.to_json()
    assert record["body"]["production_mode"] == "true"


@pytest.mark.anyio
async def test_a_wrong_secret_is_rejected_with_2027(emu: Emulator) -> None:
    async with sender(emu, app_master_secret="0" * 32) as umeng:
        with pytest.raises(UnauthenticatedError) as info:
            await umeng.unicast(TOKEN, NOTE)
    assert (info.value.code, info.value.http_status) == ("2027", 400)
    assert info.value.response == {
        "ret": "FAIL",
        "data": {"error_code": "2027", "error_msg": "signature incorrect"},
    }
    assert emu.inbox("umeng") == []


@pytest.mark.anyio
async def test_listcast_sends_500_tokens_a_request(emu: Emulator) -> None:
    tokens = [token(i) for i in range(1200)]
    async with sender(emu) as umeng:
        result = await umeng.listcast(tokens, NOTE)
    assert [len(r["recipients"]) for r in emu.inbox("umeng")] == [500, 500, 200]
    assert len(result.msg_ids) == 3
    assert result.succeeded == tuple(tokens)
    assert result.failed_tokens == ()


@pytest.mark.anyio
async def test_a_failed_later_listcast_chunk_keeps_earlier_ones(emu: Emulator) -> None:
    tokens = [token(i) for i in range(700)]
    umeng_fake.fake(emu).dead_tokens.update(tokens[500:])  # the whole second chunk
    async with sender(emu) as umeng:
        result = await umeng.listcast(tokens, NOTE)
    assert result.succeeded == tuple(tokens[:500])
    assert result.failed_tokens == tuple(tokens[500:])
    assert isinstance(result.chunks[1].error, UnregisteredError)
    assert result.chunks[1].error.code == "4025"


@pytest.mark.anyio
async def test_broadcast_task_status_and_cancel(emu: Emulator) -> None:
    async with sender(emu) as umeng:
        task = await umeng.broadcast(
            NOTE,
            policy=Policy(expire_time=_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(days=1)),
        )
        assert task.task_id is not None
        assert (await umeng.status(task.task_id)).status == 1
        assert await umeng.cancel(task.task_id) == task.task_id
        assert (await umeng.status(task.task_id)).status == 4
        done = await umeng.broadcast(NOTE)
        assert done.task_id is not None
        statuses = [(await umeng.status(done.task_id)).status for _ in range(3)]
        with pytest.raises(InvalidArgumentError) as info:
            await umeng.cancel(done.task_id)
        with pytest.raises(NotFoundError):
            await umeng.status("us-unknown")
    assert statuses == [1, 2, 2]
    assert info.value.code == "1028"


@pytest.mark.anyio
async def test_groupcast_with_a_filter(emu: Emulator) -> None:
    flt = {"where": {"and": [{"tag": "vip"}, {"app_version": "1.0"}]}}
    async with sender(emu) as umeng:
        result = await umeng.groupcast(flt, NOTE, policy=Policy(max_send_num=1000))
    assert result.task_id is not None
    assert emu.inbox("umeng")[0]["body"]["filter"] == flt


@pytest.mark.anyio
async def test_upload_then_filecast_and_customizedcast_by_file(emu: Emulator) -> None:
    async with sender(emu) as umeng:
        tokens_file = await umeng.upload([token(1), token(2)])
        aliases_file = await umeng.upload_contents("alice\nbob\n")
        filecast = await umeng.filecast(tokens_file, NOTE)
        by_file = await umeng.customizedcast("uid", NOTE, file_id=aliases_file)
        by_alias = await umeng.customizedcast("uid", NOTE, alias=["carol", "dave"])
        with pytest.raises(NotFoundError) as info:
            await umeng.filecast("PF-missing", NOTE)
    assert filecast.task_id is not None
    assert by_file.task_id is not None
    assert by_alias.msg_id is not None
    sends = [r for r in emu.inbox("umeng") if r["op"] == "api/send"]
    assert [r["recipients"] for r in sends] == [
        [token(1), token(2)],
        ["alice", "bob"],
        ["carol", "dave"],
    ]
    assert info.value.code == "2019"


@pytest.mark.anyio
async def test_ios_payloads_are_accepted(emu: Emulator) -> None:
    async with sender(emu, production_mode=False) as umeng:
        await umeng.unicast(
            "ab" * 32,
            IosPayload(aps=IosAps(alert=IosAlert(title="t", body="b"), badge=1), custom={"k": "v"}),
        )
    body = emu.inbox("umeng")[0]["body"]
    assert body["payload"] == {"aps": {"alert": {"title": "t", "body": "b"}, "badge": 1}, "k": "v"}
    assert body["production_mode"] == "false"


@pytest.mark.anyio
async def test_broadcast_rate_limit_is_raised_not_retried(emu: Emulator) -> None:
    umeng_fake.fake(emu).limits["broadcast"].limit = 1
    async with sender(emu) as umeng:
        await umeng.broadcast(NOTE)
        with pytest.raises(QuotaExceededError) as info:
            await umeng.broadcast(NOTE)
        await umeng.broadcast(NOTE, production_mode=False)  # test mode is not limited
    assert info.value.code == "2050"
    assert len(emu.inbox("umeng")) == 2


@pytest.mark.anyio
async def test_out_biz_no_makes_a_task_idempotent(emu: Emulator) -> None:
    async with sender(emu) as umeng:
        first = await umeng.broadcast(NOTE, policy=Policy(out_biz_no="order-1"))
        second = await umeng.broadcast(NOTE, policy=Policy(out_biz_no="order-1"))
    assert first.task_id == second.task_id
    assert len(umeng_fake.fake(emu).tasks) == 1


@pytest.mark.anyio
async def test_a_stale_timestamp_is_resigned_once(emu: Emulator) -> None:
    stamps = [time.time() - 3600]  # the first timestamp is an hour old: 2028

    def clock() -> float:
        stamps.append(time.time())
        return stamps.pop(0)

    async with sender(emu, clock=clock) as umeng:
        file_id = await umeng.upload([token(1)])
    assert file_id.startswith("PF")
    assert len(emu.inbox("umeng")) == 1
    assert len(stamps) == 1  # stamped and signed exactly twice


@pytest.mark.anyio
async def test_server_errors_are_retried_with_the_same_signed_bytes(emu: Emulator) -> None:
    emu.faults.http_error(
        "umeng",
        503,
        retry_after=0.01,
        body='{"ret":"FAIL","data":{"error_code":"4001","error_msg":"busy"}}',
    )
    async with sender(emu) as umeng:
        result = await umeng.status((await umeng.broadcast(NOTE)).task_id or "")
    assert result.status == 1
    assert emu.faults.fired == ["http:umeng"]


# --- the CLI module ---------------------------------------------------------------------


cli_args = functools.partial(parse_cli, send_umeng)


@pytest.mark.anyio
async def test_cli_casts_uploads_and_queries(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = emulator_config_file(emu, tmp_path)
    note = ("--ticker", "t", "--title", "T", "--text", "x")
    run = send_umeng.run
    assert (
        await anyio.to_thread.run_sync(
            run, cli_args("--emulator", str(config), "--token", token(1), *note)
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["msg_id"].startswith("uu")
    await anyio.to_thread.run_sync(
        run, cli_args("--emulator", str(config), "--type", "broadcast", "--test", *note)
    )
    task_id = json.loads(capsys.readouterr().out)["task_id"]
    await anyio.to_thread.run_sync(run, cli_args("--emulator", str(config), "--status", task_id))
    assert json.loads(capsys.readouterr().out)["status"] == 1
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"{token(2)}\n{token(3)}\n")
    await anyio.to_thread.run_sync(
        run, cli_args("--emulator", str(config), "--upload", str(tokens))
    )
    file_id = json.loads(capsys.readouterr().out)["file_id"]
    await anyio.to_thread.run_sync(
        run, cli_args("--emulator", str(config), "--type", "filecast", "--file-id", file_id, *note)
    )
    assert emu.inbox("umeng")[-1]["recipients"] == [token(2), token(3)]
    assert emu.inbox("umeng")[1]["body"]["production_mode"] == "false"


def test_cli_needs_a_payload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULLKIN_UMENG_APP_KEY", "k")
    monkeypatch.setenv("PULLKIN_UMENG_APP_MASTER_SECRET", "s")
    with pytest.raises(ConfigError, match="--ticker"):
        send_umeng.run(cli_args("--token", token(1)))
