"""A real Chromium whose push service is the emulator: Web Push end to end, offline.

Chromium's GCM client takes its three Google addresses from switches
(google_apis/gcm/engine/gservices_switches.cc): ``--gcm-checkin-url``,
``--gcm-registration-url`` and ``--gcm-mcs-endpoint``; the Firebase JS SDK's calls to
``firebaseinstallations``/``fcmregistrations``/``fcm.googleapis.com`` are sent to the
emulator by ``--host-resolver-rules``.  ``emu.chromium_args()`` gives them all for a
running emulator.  Chromium must also trust the emulator's CA: ``Chromium``
makes a throw-away profile whose ``$HOME/.pki/nssdb`` (where Chromium on Linux reads
trusted roots) holds only that CA — the user's own profile and trust store are never
touched.  Then ``PushManager.subscribe()`` checks in, registers and logs in on the
emulator, and a Web Push or FCM send to the emulator wakes the page's service worker.

Chromium hands out an endpoint on Google's origin (``https://fcm.googleapis.com/…``,
or ``https://jmt17.google.com/fcm/send/…`` on builds that are not the Stable channel);
:func:`rewrite_subscription` points it at the emulator for the backend under test.

Chromium itself does one surprising thing: right after the first subscription of a
profile it closes its new MCS connection and logs in again at once.  Its push service
counts subscriptions and lets go of the GCM driver when the count reaches zero; on the
first subscribe the pending count drops to zero (``DidSubscribe``) a moment before the
subscription is counted (``DidSubscribeWithEncryptionInfo``), so the GCM client is
stopped (socket closed, no ``Close`` frame) and started again.  Messages sent meanwhile
wait in the emulator's mailbox, as they would at Google.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pullkin._closing import AsyncClosing
from pullkin.emulator._tls import GOOGLE_HOSTS
from pullkin.emulator.devtools import DevTools, Page
from pullkin.errors import ConfigError

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = [
    "HEADLESS_ARGS",
    "Chromium",
    "emulator_args",
    "find_chromium",
    "make_nss_db",
    "rewrite_subscription",
    "trust_args",
]

#: Headless and quiet: the machine may have no network but loopback, and background
#: networking would otherwise flood refused connections.
HEADLESS_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
_EXECUTABLES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_DEVTOOLS_LINE = re.compile(r"DevTools listening on (ws://\S+)")
_PUSH_PATH = re.compile(r"/(?:fcm/send|wp|preprod/wp)/[^/]+")
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_WINDOWS_EPOCH = 11_644_473_600  # seconds from 1601-01-01 (Chrome's base::Time) to 1970
_ALLOW = 1  # CONTENT_SETTING_ALLOW


def emulator_args(emu: Emulator) -> list[str]:
    """The switches that make Chromium treat *emu* as Google: its GCM client's check-in,
    register3 and MCS addresses, and a resolver rule sending the Firebase hosts
    (Installations, FCM registrations, FCM) to the emulator's HTTPS port — requests keep
    their ``Host``, and the emulator's certificate names those hosts."""
    endpoints = emu.endpoints
    host = f"[{endpoints.mcs_host}]" if ":" in endpoints.mcs_host else endpoints.mcs_host
    http = urlsplit(emu.url).netloc
    rules = ", ".join(f"MAP {name} {http}" for name in GOOGLE_HOSTS)
    return [
        f"--gcm-checkin-url={endpoints.checkin}",
        f"--gcm-registration-url={endpoints.register}",
        f"--gcm-mcs-endpoint=https://{host}:{endpoints.mcs_port}",
        f"--host-resolver-rules={rules}",
    ]


def trust_args(emu: Emulator) -> list[str]:
    """A switch that makes Chromium accept the emulator's certificates without an NSS
    database: ``--ignore-certificate-errors-spki-list`` with the hash of the emulator
    CA's key (in the chain the emulator presents).  Chromium honours it only together
    with ``--user-data-dir`` (Playwright always passes one).  :class:`Chromium` uses the
    NSS database instead, the way a trusted CA is really installed."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    ca = x509.load_pem_x509_certificate(emu.ca_path.read_bytes())
    spki = ca.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    digest = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    return [f"--ignore-certificate-errors-spki-list={digest}"]


def find_chromium() -> str | None:
    """The first Chromium or Chrome on ``PATH`` (Debian: ``apt-get install chromium``)."""
    for name in _EXECUTABLES:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def make_nss_db(home: Path, ca_path: Path) -> Path:
    """Create ``home/.pki/nssdb`` trusting only *ca_path*; needs NSS's ``certutil``
    (Debian: ``apt-get install libnss3-tools``).  Returns the database directory."""
    certutil = shutil.which("certutil")
    if certutil is None:
        raise ConfigError(
            "certutil is not installed: it puts the emulator's CA into the browser "
            "profile's NSS database (Debian/Ubuntu: apt-get install libnss3-tools)"
        )
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True, exist_ok=True)
    database = f"sql:{nssdb}"
    commands = (
        [certutil, "-d", database, "-N", "--empty-password"],
        [certutil, "-d", database, "-A", "-t", "C,,", "-n", "pullkin emulator CA",
         "-i", str(ca_path)],
    )  # fmt: skip
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ConfigError(f"{shlex.join(command)} failed: {result.stderr.strip()}")
    return nssdb


def rewrite_subscription(subscription: Mapping[str, Any], emu: Emulator) -> dict[str, Any]:
    """A browser ``PushSubscription`` (its ``toJSON()``) with the endpoint's origin
    replaced by the emulator's: what a backend under test must send to."""
    endpoint = subscription.get("endpoint")
    if not isinstance(endpoint, str) or not _PUSH_PATH.fullmatch(urlsplit(endpoint).path):
        raise ConfigError(
            f"not a push endpoint Chromium hands out: {endpoint!r} "
            "(expected …/fcm/send/<token>, …/wp/<token> or …/preprod/wp/<token>)"
        )
    return {**subscription, "endpoint": emu.url + urlsplit(endpoint).path}


class Chromium(AsyncClosing):
    """A headless Chromium on *emu*, driven over DevTools (``self.devtools``).

    ``async with Chromium(emu) as browser:`` starts it in a fresh profile (kept across
    :meth:`restart`, deleted by :meth:`aclose`).  *executable*: default
    :func:`find_chromium`; *args*: extra switches.  ``devtools_url`` is the browser's
    DevTools WebSocket, for any other client (Playwright's ``connect_over_cdp``, …).
    """

    def __init__(
        self,
        emu: Emulator,
        *,
        executable: str | None = None,
        args: Sequence[str] = (),
        directory: str | Path | None = None,
    ) -> None:
        self.emulator = emu
        found = executable or find_chromium()
        if found is None:
            raise ConfigError(
                "no Chromium found on PATH (Debian/Ubuntu: apt-get install chromium); "
                "or pass executable="
            )
        self.executable = found
        self.extra_args = list(args)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="pullkin-chromium-")
            directory = self._tmp.name
        self.directory = Path(directory)
        self.home = self.directory / "home"
        self.user_data_dir = self.directory / "profile"
        self.log_path = self.directory / "chromium.log"
        self.devtools_url = ""
        self._devtools: DevTools | None = None
        self._granted: set[str] = set()
        self._process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Chromium:
        await self.start()
        return self

    @property
    def command(self) -> list[str]:
        return [
            self.executable,
            *HEADLESS_ARGS,
            f"--user-data-dir={self.user_data_dir}",
            "--remote-debugging-port=0",
            *self.emulator.chromium_args(),
            *self.extra_args,
            "about:blank",
        ]

    @property
    def env(self) -> dict[str, str]:
        """The environment: ``HOME`` (so the NSS database) and XDG dirs in the profile."""
        home = str(self.home)
        return {**os.environ, "HOME": home, "XDG_CONFIG_HOME": f"{home}/.config",
                "XDG_CACHE_HOME": f"{home}/.cache"}  # fmt: skip

    @property
    def devtools(self) -> DevTools:
        if self._devtools is None:
            raise ConfigError("Chromium is not running: use 'async with Chromium(emu)'")
        return self._devtools

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Launch (the NSS database is made on the first start) and connect DevTools."""
        if self.running:
            return
        if not (self.home / ".pki" / "nssdb").exists():
            await asyncio.to_thread(make_nss_db, self.home, self.emulator.ca_path)
        await asyncio.to_thread(self._persist_grants)
        log = self.log_path.open("ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.command, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.PIPE, start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()
        try:
            self.devtools_url = await asyncio.wait_for(self._devtools_line(), _START_TIMEOUT)
            self._devtools = await DevTools.connect(self.devtools_url)
        except BaseException:
            await self._kill(wait=0)
            raise

    async def _devtools_line(self) -> str:
        """Read stderr (into the log) until Chromium names its DevTools endpoint; keep
        draining it afterwards so Chromium never blocks on a full pipe."""
        process = self._process
        assert process is not None
        assert process.stderr is not None
        stderr = process.stderr
        with self.log_path.open("ab") as log:
            while True:
                line = await stderr.readline()
                if not line:
                    tail = self.log_path.read_text(errors="replace")[-2000:]
                    raise ConfigError(f"Chromium exited before DevTools was up:\n{tail}")
                log.write(line)
                match = _DEVTOOLS_LINE.search(line.decode(errors="replace"))
                if match:
                    break
        self._drain = asyncio.create_task(self._drain_stderr(stderr))
        return match.group(1)

    async def _drain_stderr(self, stderr: asyncio.StreamReader) -> None:
        with self.log_path.open("ab") as log:
            while line := await stderr.readline():
                log.write(line)

    async def new_page(self, url: str = "about:blank") -> Page:
        """Open a tab at *url* (waiting for its load event) and attach to it."""
        page = await self.devtools.new_page("about:blank")
        if url != "about:blank":
            await page.goto(url)
        return page

    async def grant_notifications(self, origin: str) -> None:
        """Allow *origin* to show notifications, which ``PushManager.subscribe`` needs.

        DevTools grants last as long as the browser; a restarted Chromium that gets a
        push for an origin without the permission drops the subscription.  So the
        grant is also written into the profile's preferences before each start."""
        await self.devtools.grant_permissions(origin, ["notifications"])
        self._granted.add(origin)

    def _persist_grants(self) -> None:
        """Write the granted origins as notification exceptions into the profile's
        ``Default/Preferences`` (only while the browser is not running)."""
        path = self.user_data_dir / "Default" / "Preferences"
        if not self._granted or not path.exists():
            return
        prefs = json.loads(path.read_text(encoding="utf-8"))
        settings = prefs.setdefault("profile", {}).setdefault("content_settings", {})
        exceptions = settings.setdefault("exceptions", {}).setdefault("notifications", {})
        modified = str(int((time.time() + _WINDOWS_EPOCH) * 1_000_000))
        for origin in self._granted:
            exceptions[f"{origin},*"] = {"last_modified": modified, "setting": _ALLOW}
        temp = path.with_name(path.name + ".pullkin")
        temp.write_text(json.dumps(prefs), encoding="utf-8")
        os.replace(temp, path)

    async def stop(self) -> None:
        """Close the browser the way a user would (profile and push state are saved),
        then make sure none of its processes is left."""
        if self._devtools is not None:
            if self.running:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._devtools.call("Browser.close"), _STOP_TIMEOUT)
            await self._devtools.aclose()
            self._devtools = None
        await self._kill(wait=_STOP_TIMEOUT)

    async def restart(self) -> None:
        """Stop and start again with the same profile (its push subscriptions survive)."""
        await self.stop()
        await self.start()

    async def _kill(self, wait: float) -> None:
        """Give the browser *wait* seconds to exit, then end its whole process group."""
        process = self._process
        if process is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(process.wait(), wait)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            # The browser leads its own process group (start_new_session): this ends
            # its zygote, renderers and utility processes too.
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain, _STOP_TIMEOUT)
            self._drain = None
        self._process = None

    async def aclose(self) -> None:
        await self.stop()
        if self._tmp is not None:
            await asyncio.to_thread(self._tmp.cleanup)
            self._tmp = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Chromium {state} {self.executable} profile={self.directory}>"
