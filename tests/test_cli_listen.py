"""`pullkin listen` as a subprocess against an in-process emulator."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from _receiver_support import register_direct, send, web_stanza

from pullkin.emulator import Emulator
from pullkin.local_store import LocalStore
from pullkin.store import CredentialStore

pytestmark = pytest.mark.anyio


async def listen(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pullkin", "listen", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


async def test_listen_prints_json_lines_and_exits_cleanly_on_sigterm(
    emu: Emulator, tmp_path: Path
) -> None:
    credentials = register_direct(emu)
    path = tmp_path / "creds.json"
    CredentialStore.open(path).put("424242424242", credentials)
    config = tmp_path / "emu.json"
    config.write_text(json.dumps(emu.config()))
    process = await listen("--credentials", str(path), "--emulator", str(config), "-v")
    assert process.stdout is not None
    pid = send(emu, credentials, web_stanza(credentials, notification={"title": "Hi"},
                                            data={"k": "v"}))  # fmt: skip
    line = await asyncio.wait_for(process.stdout.readline(), 20)
    document = json.loads(line)
    assert document["persistent_id"] == pid
    assert document["notification"]["title"] == "Hi"
    assert document["data"] == {"k": "v"}
    assert document["sender_id"] == "424242424242"
    assert document["from"]  # the stanza's sender, under the key JSON readers expect
    assert "from_" not in document
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 20) == 0
    stored = LocalStore.open(path)
    assert pid in stored.journal.load("424242424242").handled
    stored.close()


async def test_listen_on_a_missing_credentials_file_says_it_does_not_exist(
    tmp_path: Path,
) -> None:
    process = await listen("--credentials", str(tmp_path / "none.json"))
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert stderr.count(b"\n") == 1
    assert b"none.json does not exist" in stderr
    assert b"pullkin register --credentials" in stderr
    assert not (tmp_path / "none.json").exists()


async def test_listen_on_a_file_without_apps_says_to_register_first(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text('{"version": 1, "apps": {}}')
    path.chmod(0o600)
    process = await listen("--credentials", str(path))
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert stderr.count(b"\n") == 1
    assert b"holds no credentials for any app: run `pullkin register` first" in stderr


def test_sinks_write_the_json_listen_prints() -> None:
    from pullkin.models import Message
    from pullkin.sinks._base import SinkRecord

    message = Message(data={"k": "v"}, from_="1234", persistent_id="0:1", sender_id="42")
    document = json.loads(SinkRecord.of(message).body)
    assert document == message.to_json()
    assert document["from"] == "1234"
    assert "from_" not in document
