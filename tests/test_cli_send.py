"""``pullkin send fcm|webpush|azure`` against an emulator running in another thread.

The command runs in the test's thread exactly as a user runs it (``cli.main``);
what the device got is read from the emulator's MCS mailbox and decrypted.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _receiver_support import register_direct, wait_for
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pullkin import crypto
from pullkin.cli import main
from pullkin.emulator import Emulator
from pullkin.emulator.vendors.azure import fake
from pullkin.models import AppCredentials
from pullkin.senders.azure_records import Installation

CREDENTIAL_VARIABLES = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "PULLKIN_VAPID_PRIVATE_KEY",
    "PULLKIN_VAPID_SUBJECT",
    "AZURE_NH_CONNECTION_STRING",
    "AZURE_NH_HUB_NAME",
)


class Running:
    """An emulator on its own event loop thread, plus its saved config file."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.emu = Emulator()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.call(self.emu.start())
        self.call(self._until_vendor_urls())
        account = tmp / "service-account.json"
        account.write_text(json.dumps(self.emu.service_account_info))
        config = {
            **self.emu.config(),
            "service_account_path": str(account),
        }
        self.config_path = tmp / "emulator.json"
        self.config_path.write_text(json.dumps(config))

    async def _until_vendor_urls(self) -> None:
        # The fakes learn the emulator's URL a few loop iterations after start().
        await wait_for(lambda: bool(self.emu.vendor("azure")["base_url"]))

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def close(self) -> None:
        self.call(self.emu.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def received(self, credentials: AppCredentials) -> list[bytes]:
        """Decrypted payloads queued for the device (what the receiver would get)."""

        async def pending() -> list[Any]:
            return [p.stanza for p in self.emu.mailboxes.pending(credentials.gcm.android_id)]

        assert credentials.keys is not None
        return [
            crypto.decrypt(
                stanza.raw_data, {i.key: i.value for i in stanza.app_data}, credentials.keys
            )
            for stanza in self.call(pending())
        ]


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    emulator = Running(tmp_path)
    yield emulator
    emulator.close()


def send(*argv: str) -> int:
    return main(["send", *argv])


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def vapid_registration(running: Running) -> tuple[AppCredentials, dict[str, Any]]:
    """A web registration whose register3 sender is the emulator's VAPID key."""

    async def make() -> AppCredentials:
        credentials = register_direct(running.emu)
        gcm = running.emu.state.gcm[credentials.gcm.token]
        gcm.sender = running.emu.vapid_keys.public_key
        return credentials

    credentials = running.call(make())
    assert credentials.keys is not None
    subscription = {
        "endpoint": running.emu.endpoints.webpush_url(credentials.gcm.token),
        "keys": {"p256dh": credentials.keys.public_key, "auth": credentials.keys.auth_secret},
    }
    return credentials, subscription


# --- fcm ----------------------------------------------------------------------------------


def test_send_fcm_prints_the_name_and_the_device_gets_it(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials = running.call(_register(running))
    assert credentials.fcm is not None
    code = send("fcm", "--emulator", str(running.config_path), "--token", credentials.fcm.token,
                "--title", "Hi", "--body", "there", "--data", "k=v",
                "--message", '{"android": {"priority": "high", "ttl": "60s"}}')  # fmt: skip
    assert code == 0
    name = json.loads(capsys.readouterr().out)["name"]
    assert name.startswith("projects/pullkin-emulator/messages/")
    [payload] = running.received(credentials)
    document = json.loads(payload)
    assert document["notification"] == {"title": "Hi", "body": "there"}
    assert document["data"] == {"k": "v"}


async def _register(running: Running) -> AppCredentials:
    return register_direct(running.emu)


def test_send_fcm_without_credentials_is_a_one_line_usage_error(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    assert send("fcm", "--topic", "news") == 2
    assert "GOOGLE_APPLICATION_CREDENTIALS" in one_line_error(capsys)


def test_send_fcm_with_an_unreadable_key_file_is_a_usage_error(
    running: Running,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(bad))
    assert send("fcm", "--topic", "news") == 2
    assert "not valid JSON" in one_line_error(capsys)
    assert send("fcm", "--topic", "news", "--service-account", str(tmp_path / "missing.json")) == 2
    assert "cannot read" in one_line_error(capsys)


def test_send_fcm_with_a_key_the_server_rejects_exits_2(
    running: Running, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = dict(running.emu.service_account_info)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(info))
    assert (
        send(
            "fcm",
            "--emulator",
            str(running.config_path),
            "--service-account",
            str(wrong),
            "--topic",
            "news",
        )
        == 2
    )
    assert "rejected the credentials" in one_line_error(capsys)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--topic", "bad topic!"], "topic"),
        (["--token", "t", "--message", '{"data": {"n": 1}}'], "must be a str"),
        (["--token", "t", "--data", "novalue"], "KEY=VALUE"),
        (["--token", "t", "--message", '{"colour": 1}'], "unknown field"),
        (["--token", "t", "--message", "@/nonexistent.json"], "cannot read"),
    ],
)
def test_send_fcm_bad_input_is_refused_before_sending(
    running: Running, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    assert send("fcm", "--emulator", str(running.config_path), *argv) == 2
    assert fragment in one_line_error(capsys)
    assert "http:fcm_send" not in running.emu.faults.fired


# --- webpush -----------------------------------------------------------------------------


def test_send_webpush_delivers_the_encrypted_payload(
    running: Running, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    credentials, subscription = vapid_registration(running)
    sub_file = tmp_path / "sub.json"
    sub_file.write_text(json.dumps(subscription))
    code = send("webpush", "--emulator", str(running.config_path), "--subscription", f"@{sub_file}",
                "--json", '{"hello": "world"}', "--urgency", "high")  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == 201
    assert running.received(credentials) == [b'{"hello":"world"}']


def test_send_webpush_without_a_vapid_key_is_a_usage_error(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    _, subscription = vapid_registration(running)
    assert send("webpush", "--subscription", json.dumps(subscription), "--data", "x") == 2
    assert "PULLKIN_VAPID_PRIVATE_KEY" in one_line_error(capsys)


def test_send_webpush_with_a_malformed_key_in_the_environment(
    running: Running, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULLKIN_VAPID_PRIVATE_KEY", "not a key!")
    monkeypatch.setenv("PULLKIN_VAPID_SUBJECT", "mailto:a@b.c")
    assert send("webpush", "--subscription", '{"endpoint": "https://x/y", "keys": {}}') == 2
    assert "VAPID private key" in one_line_error(capsys)


# --- azure ---------------------------------------------------------------------------------


def test_send_azure_test_send_prints_the_outcome_and_forwards_to_fcm(
    running: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials = running.call(_register(running))
    assert credentials.fcm is not None
    hub = fake(running.emu)
    hub.installations["i1"] = Installation("i1", "fcmv1", credentials.fcm.token, ("sports",))
    payload = '{"message": {"notification": {"title": "Goal"}, "data": {"score": "1-0"}}}'
    code = send("azure", "--emulator", str(running.config_path), "--format", "fcmv1",
                "--payload", payload, "--tags", "sports && !muted", "--test")  # fmt: skip
    assert code == 0
    outcome = json.loads(capsys.readouterr().out)
    assert (outcome["state"], outcome["success"], outcome["failure"]) == (
        "DetailedStateAvailable",
        1,
        0,
    )
    assert outcome["results"][0]["pns_handle"] == credentials.fcm.token
    [payload_bytes] = running.received(credentials)
    assert json.loads(payload_bytes)["data"] == {"score": "1-0"}


def test_send_azure_credentials_missing_malformed_or_wrong(
    running: Running,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    args = ["azure", "--format", "template", "--payload", '{"a": "b"}']
    assert send(*args, "--hub", "h") == 2
    assert "AZURE_NH_CONNECTION_STRING" in one_line_error(capsys)
    monkeypatch.setenv("AZURE_NH_CONNECTION_STRING", "Endpoint=nonsense")
    assert send(*args, "--hub", "h") == 2
    assert "Endpoint=sb://" in one_line_error(capsys)
    real = running.emu.vendor("azure")["connection_string"]
    wrong = tmp_path / "cs.txt"
    wrong.write_text(
        real.rsplit("SharedAccessKey=", 1)[0] + f"SharedAccessKey={secrets.token_urlsafe(32)}="
    )
    assert (
        send(*args, "--emulator", str(running.config_path), "--connection-string-file", str(wrong))
        == 2
    )
    assert "signature" in one_line_error(capsys)
    assert running.emu.inbox("azure") == []


def test_send_without_a_vendor_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["send"])
    assert info.value.code == 2
