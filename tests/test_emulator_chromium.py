"""``pullkin.emulator.chromium`` without a browser: the switches, the subscription
rewrite, the NSS database, and clear errors when Chromium or certutil is missing."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from _require import need

from pullkin.emulator import Emulator
from pullkin.emulator.chromium import (
    HEADLESS_ARGS,
    Chromium,
    make_nss_db,
    rewrite_subscription,
)
from pullkin.errors import ConfigError

pytestmark = pytest.mark.anyio

KEYS = {"p256dh": "BKqPLBumbMC7fHpZN3szwPoY3L1Y4qw1LWSvJRJecb0lU0BVBM7c5WZxDPmv1xThsarukI6Ub5c8IRVddAVn5rc",
        "auth": "NoUCzYQ42TctqKj0wTPj8g"}  # fmt: skip


async def test_chromium_args_point_gcm_and_the_firebase_hosts_at_the_emulator(
    emu: Emulator,
) -> None:
    endpoints = emu.endpoints
    http = emu.url.removeprefix("https://")
    assert emu.chromium_args() == [
        f"--gcm-checkin-url={emu.url}/checkin",
        f"--gcm-registration-url={emu.url}/c2dm/register3",
        f"--gcm-mcs-endpoint=https://127.0.0.1:{endpoints.mcs_port}",
        # No ":443" on the left: a rule for a bare host maps every port of it.
        f"--host-resolver-rules=MAP firebaseinstallations.googleapis.com {http}, "
        f"MAP fcmregistrations.googleapis.com {http}, MAP fcm.googleapis.com {http}",
    ]


@pytest.mark.parametrize(
    "origin_and_path",
    [
        "https://fcm.googleapis.com/fcm/send/",  # Chrome Stable
        "https://jmt17.google.com/fcm/send/",  # every other channel (Debian's build)
        "https://fcm.googleapis.com/wp/",  # feature PushMessagingGcmEndpointWebpushPath
        "https://fcm.googleapis.com/preprod/wp/",  # the same, not Stable
    ],
)
async def test_rewrite_subscription_points_every_chromium_endpoint_at_the_emulator(
    emu: Emulator, origin_and_path: str
) -> None:
    token = "cIo:APA91bXyz_-1"
    subscription = {"endpoint": origin_and_path + token, "expirationTime": None, "keys": KEYS}
    rewritten = rewrite_subscription(subscription, emu)
    path = origin_and_path.split("googleapis.com", 1)[-1].split("google.com", 1)[-1]
    assert rewritten == {**subscription, "endpoint": f"{emu.url}{path}{token}"}
    assert subscription["endpoint"] == origin_and_path + token  # the input is left alone


@pytest.mark.parametrize(
    "endpoint",
    [None, "", "https://updates.push.services.mozilla.com/wpush/v2/abc",
     "https://fcm.googleapis.com/fcm/send/", "https://fcm.googleapis.com/fcm/send/a/b"],
)  # fmt: skip
async def test_rewrite_subscription_refuses_what_is_not_a_chromium_endpoint(
    emu: Emulator, endpoint: str | None
) -> None:
    with pytest.raises(ConfigError, match="not a push endpoint"):
        rewrite_subscription({"endpoint": endpoint, "keys": KEYS}, emu)


async def test_without_a_chromium_the_error_says_what_to_install(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="apt-get install chromium"):
        Chromium(emu)


def test_without_certutil_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="libnss3-tools"):
        make_nss_db(tmp_path, tmp_path / "ca.pem")


async def test_the_nss_database_trusts_exactly_the_emulator_ca(
    emu: Emulator, tmp_path: Path
) -> None:
    need(shutil.which("certutil") is not None, "certutil (apt-get install libnss3-tools)")
    nssdb = make_nss_db(tmp_path, emu.ca_path)
    assert nssdb == tmp_path / ".pki" / "nssdb"
    command = ["certutil", "-d", f"sql:{nssdb}", "-L"]
    listing = (
        await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    ).stdout
    [entry] = [line for line in listing.splitlines()[4:] if line.strip()]
    assert entry.startswith("pullkin emulator CA")
    assert entry.split()[-1] == "C,,"


async def test_a_browser_is_started_headless_in_its_own_profile(emu: Emulator) -> None:
    browser = Chromium(emu, executable="/usr/bin/true", args=["--lang=en"])
    try:
        command = browser.command
        assert command[0] == "/usr/bin/true"
        assert list(HEADLESS_ARGS) == command[1 : 1 + len(HEADLESS_ARGS)]
        assert f"--user-data-dir={browser.user_data_dir}" in command
        assert command[-3:] == [emu.chromium_args()[-1], "--lang=en", "about:blank"]
        assert browser.env["HOME"] == str(browser.home)
        assert browser.home.parent == browser.user_data_dir.parent == browser.directory
    finally:
        await browser.aclose()
    assert not browser.directory.exists()
