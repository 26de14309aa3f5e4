"""examples/firebase-web built and served for a test: the npm packages its package.json
pins (``firebase``, ``esbuild``) from ``$PULLKIN_CI_TMP/node/firebase-web`` (put there
by .ci/provide/30-firebase-web.sh) or, on a developer's machine with npm, installed
once into a cache directory under the system temp dir; app.js and the service worker
bundled by esbuild into a temp dir; and a web server for the app on
http://localhost:<port> that collects what the app reports."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from _browser_support import ReportingSite, need_chromium
from _require import need
from aiohttp import web

from pullkin.emulator import Emulator

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "firebase-web"
_SOURCES = ("app.js", "firebase-messaging-sw.js")


def _pins() -> str:
    package = json.loads((EXAMPLE / "package.json").read_text())
    pins = {**package["dependencies"], **package["devDependencies"]}
    return "-".join(f"{name}{version}" for name, version in sorted(pins.items()))


def _installed(prefix: Path) -> bool:
    return (prefix / "node_modules" / ".bin" / "esbuild").exists() and (
        prefix / "node_modules" / "firebase" / "package.json"
    ).exists()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def node_prefix() -> Path | None:
    """Where ``node_modules`` with firebase and esbuild is, installing it if npm can."""
    ci = os.environ.get("PULLKIN_CI_TMP")
    if ci and _installed(Path(ci) / "node" / "firebase-web"):
        return Path(ci) / "node" / "firebase-web"
    cache = Path(tempfile.gettempdir()) / f"pullkin-firebase-web-{_pins()}"
    npm = shutil.which("npm")
    if _installed(cache) or npm is None:
        return cache if _installed(cache) else None
    with _locked(cache.with_suffix(".lock")):
        if not _installed(cache):
            cache.mkdir(parents=True, exist_ok=True)
            shutil.copy(EXAMPLE / "package.json", cache / "package.json")
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(cache)],
                check=True, timeout=600, capture_output=True,
            )  # fmt: skip
    return cache


def build(prefix: Path, out: Path) -> None:
    """Bundle app.js and firebase-messaging-sw.js (what ``npm run build`` does)."""
    esbuild = prefix / "node_modules" / ".bin" / "esbuild"
    env = {**os.environ, "NODE_PATH": str(prefix / "node_modules")}
    for source in _SOURCES:
        subprocess.run(
            [str(esbuild), str(EXAMPLE / source), "--bundle", f"--outdir={out}",
             "--log-level=warning"],
            check=True, env=env, timeout=120, capture_output=True,
        )  # fmt: skip


@pytest.fixture(scope="session")
def firebase_web_bundle() -> Iterator[Path]:
    need_chromium()
    prefix = node_prefix()
    need(prefix is not None, "npm packages firebase and esbuild (npm, or .ci/provide)")
    assert prefix is not None
    with tempfile.TemporaryDirectory(prefix="pullkin-firebase-web-dist-") as out:
        build(prefix, Path(out))
        yield Path(out)


class FirebaseSite(ReportingSite):
    """The app; each report is ``{"kind": "foreground" | "background", "payload":
    MessagePayload}``."""

    report_timeout = 30.0

    def __init__(self, bundle: Path, emu: Emulator) -> None:
        super().__init__()
        self.bundle = bundle
        self.emulator = emu

    def _config(self) -> str:
        config = self.emulator.firebase_config
        firebase = {"apiKey": config.api_key, "projectId": config.project_id,
                    "appId": config.app_id, "messagingSenderId": config.sender_id}  # fmt: skip
        return (
            f"self.firebaseConfig = {json.dumps(firebase)};\n"
            f"self.vapidKey = {json.dumps(self.emulator.vapid_keys.public_key)};\n"
        )

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"] or "index.html"
        if name == "firebase-config.js":
            return web.Response(text=self._config(), content_type="text/javascript")
        if name in _SOURCES:
            return web.FileResponse(self.bundle / name)
        if name == "index.html":
            return web.FileResponse(EXAMPLE / name)
        raise web.HTTPNotFound()

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/{name:[^/]*}", self._serve)


@pytest.fixture
async def firebase_site(firebase_web_bundle: Path, emu: Emulator) -> AsyncIterator[FirebaseSite]:
    site = FirebaseSite(firebase_web_bundle, emu)
    await site.start()
    try:
        yield site
    finally:
        await site.aclose()
