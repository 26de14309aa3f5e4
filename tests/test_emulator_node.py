"""A Node backend on the real npm ``firebase-admin`` (13.x): its default ``sendEach()``,
which speaks HTTP/2 only, delivers through the emulator.

The SDK runs unchanged.  Trust: ``NODE_EXTRA_CA_CERTS`` = the emulator's CA.  Host:
firebase-admin has no FCM endpoint setting — ``FCM_SEND_HOST`` is a constant, the OAuth
token URL is google-auth-library's, and sendEach's HTTP/2 session ignores the
``httpAgent`` app option — so ``tests/node/redirect_google.js`` (``node --require``)
sends TLS connections for ``fcm.googleapis.com`` and ``oauth2.googleapis.com`` to the
emulator's address and port, where an /etc/hosts entry would act.

firebase-admin comes from ``$PULLKIN_CI_TMP/node/firebase-admin`` (``.ci/provide/
30-node-firebase-admin.sh``), else from a cache under the temp directory, installed
there with npm on first use.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from _require import REQUIRED, need

from pullkin.emulator import Emulator
from pullkin.emulator.harness import ReceiverHarness

pytestmark = pytest.mark.anyio

NODE_DIR = Path(__file__).resolve().parent / "node"
GOOGLE_HOSTS = ["fcm.googleapis.com", "oauth2.googleapis.com"]


def _installed(directory: Path) -> bool:
    return (directory / "node_modules" / "firebase-admin" / "package.json").exists()


@pytest.fixture(scope="session")
def firebase_admin_node() -> Path:
    """The directory whose node_modules holds firebase-admin."""
    ci = os.environ.get("PULLKIN_CI_TMP")
    provided = Path(ci) / "node" / "firebase-admin" if ci else None
    cache = Path(tempfile.gettempdir()) / "pullkin-node-cache" / "firebase-admin"
    for directory in (provided, cache):
        if directory is not None and _installed(directory):
            break
    else:
        directory = cache
        if shutil.which("npm") and not REQUIRED:  # CI installs it in .ci/provide
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "package.json").write_text('{"name": "pullkin-cache", "private": true}')
            subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
                 "firebase-admin@13"],
                cwd=directory, check=False, capture_output=True, timeout=600,
            )  # fmt: skip
    need(
        shutil.which("node") is not None and _installed(directory),
        "node with npm firebase-admin (.ci/provide/30-node-firebase-admin.sh)",
    )
    return directory


async def test_node_firebase_admin_send_each_delivers_over_http2(
    emu: Emulator, firebase_admin_node: Path, tmp_path: Path
) -> None:
    device = await ReceiverHarness.start(emu)
    try:
        account = tmp_path / "service-account.json"
        account.write_text(json.dumps(emu.service_account_info))
        host, port = emu.url.removeprefix("https://").rsplit(":", 1)
        target = {"host": host, "port": int(port), "hosts": GOOGLE_HOSTS}
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(emu.ca_path),
               "NODE_PATH": str(firebase_admin_node / "node_modules"),
               "PULLKIN_EMULATOR": json.dumps(target)}  # fmt: skip
        dead = device.token[:-4] + "dead"
        process = await asyncio.create_subprocess_exec(
            "node", "--require", str(NODE_DIR / "redirect_google.js"),
            str(NODE_DIR / "firebase_admin_send_each.js"), str(account),
            device.token, device.token, dead,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        output, errors = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, errors.decode()
        batch = json.loads(output)
        assert emu.http2_connections >= 1  # sendEach spoke HTTP/2 (there is no fallback)
        assert (batch["successCount"], batch["failureCount"]) == (2, 1)
        assert batch["responses"][2]["code"] == "messaging/registration-token-not-registered"
        for answer in batch["responses"][:2]:
            await emu.wait_delivered(answer["messageId"])
        received = [await device.next_message(), await device.next_message()]
    finally:
        await device.aclose()
    assert sorted(m.data["n"] for m in received) == ["0", "1"]
    assert {m.notification.title for m in received if m.notification} == {"Hi from Node"}
