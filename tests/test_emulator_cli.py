"""``pullkin emulator`` as another process would use it: one JSON line, then serve until
SIGTERM; ``--state-dir`` survives a restart."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import selectors
import shlex
import signal
import ssl
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from test_emulator_support import checkin_body

from pullkin.proto.checkin_pb2 import AndroidCheckinResponse


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pullkin", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )


def _config(process: subprocess.Popen[str], timeout: float = 30) -> dict[str, Any]:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            process.kill()
            pytest.fail("pullkin emulator printed nothing")
    line = process.stdout.readline()
    config: dict[str, Any] = json.loads(line)
    return config


def _stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    return process.returncode, stdout, stderr


def _checkin(config: dict[str, Any], body: bytes) -> AndroidCheckinResponse:
    context = ssl.create_default_context(cafile=config["ca_path"])
    request = urllib.request.Request(
        config["endpoints"]["checkin"], data=body,
        headers={"Content-Type": "application/x-protobuf"},
    )  # fmt: skip
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return AndroidCheckinResponse.FromString(response.read())


def test_cli_prints_one_json_config_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    process = _start("--state-dir", str(tmp_path))
    try:
        config = _config(process)
        answer = _checkin(config, checkin_body())
    finally:
        code, rest, stderr = _stop(process)
    assert code == 0, stderr
    assert rest == ""  # nothing after the one JSON line
    assert answer.android_id > 0
    account_path = Path(config["service_account_path"])
    assert account_path.parent == tmp_path
    assert stat.S_IMODE(account_path.stat().st_mode) == 0o600
    account = json.loads(account_path.read_text())
    assert account["token_uri"] == config["endpoints"]["oauth_token"]
    assert account["project_id"] == config["firebase_config"]["project_id"]
    assert {"endpoints", "ca_path", "firebase_config", "vapid_keys"} <= set(config)

    process = _start("--state-dir", str(tmp_path))
    try:
        again = _config(process)
        returning = _checkin(again, checkin_body(answer.android_id, answer.security_token))
    finally:
        code, _, stderr = _stop(process)
    assert code == 0, stderr
    assert again["firebase_config"] == config["firebase_config"]
    assert (returning.android_id, returning.security_token) == (
        answer.android_id, answer.security_token)  # fmt: skip


def test_cli_prints_chromium_flags_that_point_at_it(tmp_path: Path) -> None:
    process = _start("--state-dir", str(tmp_path), "--print-chromium-flags")
    try:
        assert process.stdout is not None
        flags = dict(flag.split("=", 1) for flag in shlex.split(process.stdout.readline()))
        ca = tmp_path / "tls" / "ca.pem"
        answer = _checkin(
            {"ca_path": str(ca), "endpoints": {"checkin": flags["--gcm-checkin-url"]}},
            checkin_body(),
        )
    finally:
        code, rest, stderr = _stop(process)
    assert code == 0, stderr
    assert rest == ""
    assert answer.android_id > 0
    assert set(flags) == {"--gcm-checkin-url", "--gcm-registration-url", "--gcm-mcs-endpoint",
                          "--host-resolver-rules", "--ignore-certificate-errors-spki-list"}  # fmt: skip
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+/c2dm/register3", flags["--gcm-registration-url"])
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+", flags["--gcm-mcs-endpoint"])
    key = x509.load_pem_x509_certificate(ca.read_bytes()).public_key()
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert (
        flags["--ignore-certificate-errors-spki-list"]
        == base64.b64encode(hashlib.sha256(spki).digest()).decode()
    )


def test_cli_in_memory_mode_removes_its_service_account_file() -> None:
    process = _start()
    try:
        config = _config(process)
        account_path = Path(config["service_account_path"])
        assert account_path.exists()
    finally:
        code, _, stderr = _stop(process)
    assert code == 0, stderr
    assert not account_path.exists()


def test_cli_refuses_a_non_loopback_host_without_allow_remote() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pullkin", "emulator", "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "allow_remote" in result.stderr or "allow-remote" in result.stderr
    assert result.stdout == ""
