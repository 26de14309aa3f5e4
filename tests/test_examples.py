"""Each script in examples/ runs against the emulator and does what it says."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from _local_http import serve_local
from aiohttp import web

from pullkin.core import PullkinCore
from pullkin.emulator import Emulator
from pullkin.emulator.harness import ReceiverHarness
from pullkin.store import CredentialStore

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


async def registered(emu: Emulator, tmp_path: Path) -> tuple[Path, Path, str]:
    """(credentials file, emulator config file, FCM token) as the CLI would leave them."""
    async with PullkinCore(emu.endpoints) as core:
        credentials = await core.register_app(emu.firebase_config)
    path = tmp_path / "creds.json"
    CredentialStore.open(path).put(emu.firebase_config.sender_id, credentials)
    account = tmp_path / "sa.json"
    account.write_text(json.dumps(emu.service_account_info))
    config = tmp_path / "emu.json"
    config.write_text(json.dumps({**emu.config(), "service_account_path": str(account)}))
    return path, config, credentials.fcm.token


@contextlib.asynccontextmanager
async def running(script: str, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """The example as a child process.  If a check fails, the child is killed (never
    left behind) and the failure shows what it wrote to stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / script), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        yield process
    except Exception as exc:
        if process.returncode is None:
            process.kill()
        _, errors = await process.communicate()
        raise AssertionError(f"{exc!r}\n{script} stderr:\n{errors.decode()}") from exc
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def read_until(process: asyncio.subprocess.Process, text: str) -> None:
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert line, f"the example ended before printing {text!r}"
        if text in line.decode():
            return


async def test_listen_example_prints_notifications_and_data(emu: Emulator, tmp_path: Path) -> None:
    creds, config, token = await registered(emu, tmp_path)
    async with running(
        "listen.py", "--credentials", str(creds), "--emulator", str(config), "--count", "2"
    ) as process:
        await read_until(process, "listening")
        await emu.send(token, notification={"title": "Hi", "body": "there"})
        await emu.send(token, data={"k": "v"})
        output, errors = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, errors.decode()
    assert "notification: Hi — there" in output.decode()
    assert 'data: {"k": "v"}' in output.decode()


async def test_bot_example_calls_the_webhook_and_replies_with_a_push(
    emu: Emulator, tmp_path: Path
) -> None:
    creds, config, token = await registered(emu, tmp_path)
    hooks: list[dict[str, object]] = []

    async def hook(request: web.Request) -> web.Response:
        hooks.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner, port = await serve_local(app)
    peer = await ReceiverHarness.start(emu)
    try:
        async with running(
            "bot.py", "--credentials", str(creds), "--emulator", str(config), "--count", "1",
            "--webhook", f"http://127.0.0.1:{port}/hook", "--reply-token", peer.token,
        ) as process:  # fmt: skip
            await read_until(process, "bot ready")
            await emu.send(token, data={"question": "ping"})
            reply = await peer.next_message(timeout=20)
            _, errors = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, errors.decode()
    finally:
        await peer.aclose()
        await runner.cleanup()
    assert hooks[0]["data"] == {"question": "ping"}
    assert reply.data["reply_to"]


@pytest.mark.parametrize("example", ["test_backend_push.py", "test_harness.py"])
async def test_pytest_examples_pass_under_pytest(example: str, tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
        str(EXAMPLES / example),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, output.decode()
    assert "1 passed" in output.decode()


def test_the_readmes_harness_example_is_examples_test_harness() -> None:
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    example = (EXAMPLES / "test_harness.py").read_text(encoding="utf-8")
    body = example.split('"""\n\nfrom __future__ import annotations\n\n', 1)[1]
    assert f"```python\n{body}```" in readme


@pytest.mark.parametrize(("script", "ready"), [("listen.py", "listening"), ("bot.py", "bot ready")])
async def test_an_example_stops_on_ctrl_c_without_a_traceback(
    emu: Emulator, tmp_path: Path, script: str, ready: str
) -> None:
    creds, config, _ = await registered(emu, tmp_path)
    async with running(script, "--credentials", str(creds), "--emulator", str(config)) as process:
        await read_until(process, ready)
        process.send_signal(signal.SIGINT)
        _, errors = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, errors.decode()
    assert b"Traceback" not in errors


async def test_bot_reply_token_without_a_service_account_is_a_usage_error(
    tmp_path: Path,
) -> None:
    async with running(
        "bot.py", "--credentials", str(tmp_path / "c.json"), "--reply-token", "T"
    ) as process:
        _, errors = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert b"--reply-token needs --service-account" in errors
    assert b"Traceback" not in errors
