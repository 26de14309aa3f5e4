"""The README's promises: its two commands, and every Python block runs.

Every ```python block in README.md is run by ``test_readme_block`` in its own process
(tests/_readme_runner.py) and a fresh working directory, against an emulator that plays
Google — so the README shows code for the real service and is still tested offline:

* ``Endpoints()`` defaults are the emulator's and its CA is the trusted store, so
  ``Pullkin(...)`` and ``FcmSender("service-account.json")`` reach it unchanged;
* the emulator serves the README's example Firebase project (``README_PROJECT`` below:
  write ``FirebaseConfig(...)`` blocks with those values), and ``service-account.json``
  in the working directory is a service account of that project;
* the names a snippet leaves to the reader are bound (``PLACEHOLDERS``): ``token`` is
  the FCM token of a device registered and listening on the emulator,
  ``subscription_from_the_browser`` its Web Push subscription, ``vapid_private_key_pem``
  the key that subscription was made with; ``save_to_database`` accepts anything.
  Nothing else is pre-imported: a block imports what it uses;
* a block must exit 0 within ``BLOCK_TIMEOUT`` seconds, unless the line before it is

  ``<!-- run-until: TEXT -->`` — a program that runs until stopped (a receiver): every
  app that registers on the emulator while it runs gets one push (notification title
  ``Hi``, data ``{"order": "42"}``), and once TEXT is on its stdout it gets Ctrl-C and
  must end; or

  ``<!-- not-run: REASON -->`` — the block is only compiled, and the test is skipped
  with REASON.  Keep these rare: a block that is not run drifts; or

  ``<!-- needs: chromium -->`` — the block runs a real browser: it runs where Chromium
  and certutil are installed, and is skipped (a failure under
  ``PULLKIN_REQUIRE_SERVICES=1``, as in CI) elsewhere.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from _browser_support import need_chromium
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

from pullkin.emulator import Emulator
from pullkin.emulator.harness import ReceiverHarness

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
RUNNER = Path(__file__).resolve().parent / "_readme_runner.py"
BLOCK_TIMEOUT = 90.0

#: The example Firebase web app the README's receiving code registers.
README_PROJECT = {
    "api_key": "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",
    "project_id": "my-project",
    "app_id": "1:1234567890:web:abc123",
    "sender_id": "1234567890",
}
#: The push every app registering during a ``run-until`` block receives.
BACKEND_PUSH: dict[str, Any] = {"notification": {"title": "Hi"}, "data": {"order": "42"}}
PLACEHOLDERS = ("token", "subscription_from_the_browser", "vapid_private_key_pem")

_MARKER = re.compile(r"<!--\s*(not-run|run-until|needs):\s*(.*?)\s*-->")
#: What a ``needs`` marker may name, and how to check for it.
NEEDS = {"chromium": need_chromium}


@dataclasses.dataclass(frozen=True)
class Block:
    """One ```python block: its first code line (1-based), code, and marker if any."""

    line: int
    source: str
    marker: tuple[str, str] | None

    def __str__(self) -> str:
        return f"README.md:{self.line}"


def python_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```python":
            index += 1
            continue
        end = lines.index("```", index + 1)
        before = [line for line in lines[:index] if line.strip()]
        match = _MARKER.fullmatch(before[-1].strip()) if before else None
        marker = (match.group(1), match.group(2)) if match else None
        blocks.append(Block(index + 2, "\n".join(lines[index + 1 : end]) + "\n", marker))
        index = end + 1
    return blocks


BLOCKS = python_blocks(README)


def command_after(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\s*```sh\n(.+?)\n```", README, re.DOTALL)
    assert match, f"README has no ```sh block after <!-- {marker} -->"
    return match.group(1).strip()


def test_the_two_quick_start_commands() -> None:
    demo = command_after("demo-command")
    assert demo.endswith("pullkin demo")
    assert "pip install -e ." in demo
    test = command_after("test-command")
    assert test.endswith("&& pytest")
    assert "pip install -e '.[dev]'" in test
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci, ".ci/run must run the README's test command"


def test_blocks_are_found_with_their_markers() -> None:
    text = (
        "x\n```python\na = 1\n```\n<!-- not-run: needs a phone -->\n\n```python\nb = 2\n```\n"
        "<!-- run-until: Hi -->\n```python\nc = 3\nd = 4\n```\n```py\nnot python\n```\n"
    )
    assert [(b.line, b.source, b.marker) for b in python_blocks(text)] == [
        (3, "a = 1\n", None),
        (8, "b = 2\n", ("not-run", "needs a phone")),
        (12, "c = 3\nd = 4\n", ("run-until", "Hi")),
    ]
    assert len(BLOCKS) == README.count("```python\n")


@pytest.fixture
async def readme_emulator() -> AsyncIterator[Emulator]:
    """An emulator serving the README's example Firebase project."""
    emu = Emulator(
        project_id=README_PROJECT["project_id"],
        sender_id=README_PROJECT["sender_id"],
        api_key=README_PROJECT["api_key"],
    )
    emu.firebase_config = dataclasses.replace(emu.firebase_config, app_id=README_PROJECT["app_id"])
    async with emu:
        yield emu


@pytest.mark.anyio
@pytest.mark.parametrize("block", BLOCKS, ids=str)
async def test_readme_block(block: Block, readme_emulator: Emulator, tmp_path: Path) -> None:
    compile(block.source, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    kind, argument = block.marker or ("run", "")
    if kind == "not-run":
        assert argument, f"{block}: say why the block cannot run: <!-- not-run: REASON -->"
        pytest.skip(f"{block} is not run: {argument}")
    if kind == "needs":
        assert argument in NEEDS, f"{block}: unknown need {argument!r} (known: {sorted(NEEDS)})"
        NEEDS[argument]()
    emu = readme_emulator
    receiver = await ReceiverHarness.start(emu)
    try:
        (tmp_path / "block.py").write_text(block.source)
        (tmp_path / "service-account.json").write_text(json.dumps(emu.service_account_info))
        fixture = {
            "first_line": block.line,
            "endpoints": emu.endpoints.to_dict(),
            "placeholders": {
                "token": receiver.token,
                "subscription_from_the_browser": receiver.subscription,
                "vapid_private_key_pem": emu.vapid_keys.private_pem,
            },
        }
        (tmp_path / "readme-fixture.json").write_text(json.dumps(fixture))
        child = _Child(block)
        await child.run(tmp_path, emu, until=argument if kind == "run-until" else None)
    finally:
        await receiver.aclose()


class _Child:
    """The block's process: its output so far, and what the test waits for."""

    def __init__(self, block: Block) -> None:
        self.block = block
        self.output = {"stdout": "", "stderr": ""}
        self._changed = anyio.Event()

    async def run(self, cwd: Path, emu: Emulator, until: str | None) -> None:
        env = {**os.environ, "SSL_CERT_FILE": str(emu.ca_path), "PYTHONUNBUFFERED": "1"}
        argv = [sys.executable, "-W", "error::ResourceWarning", str(RUNNER)]
        argv += ["readme-fixture.json", "block.py"]
        process = await anyio.open_process(argv, cwd=cwd, env=env)
        try:
            with anyio.fail_after(BLOCK_TIMEOUT):
                await self._supervise(process, emu, until)
        except TimeoutError:
            raise AssertionError(self.report(f"{self.block} did not finish")) from None
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        expected = (0, -signal.SIGINT) if until is not None else (0,)
        assert process.returncode in expected, self.report(
            f"{self.block} exited with {process.returncode}"
        )
        for leak in ("ResourceWarning", "Unclosed", "Task was destroyed"):
            assert leak not in self.output["stderr"], self.report(f"{self.block} leaks")

    async def _supervise(self, process: Process, emu: Emulator, until: str | None) -> None:
        assert process.stdout is not None
        assert process.stderr is not None
        async with anyio.create_task_group() as group:
            group.start_soon(self._collect, process.stdout, "stdout")
            group.start_soon(self._collect, process.stderr, "stderr")
            if until is not None:
                backend = anyio.CancelScope()
                group.start_soon(_backend, emu, backend)
                while until not in self.output["stdout"] and process.returncode is None:
                    await self._changed.wait()
                backend.cancel()
                assert until in self.output["stdout"], self.report(
                    f"{self.block} ended before printing {until!r}"
                )
                process.send_signal(signal.SIGINT)
            await process.wait()

    async def _collect(self, stream: Any, name: str) -> None:
        async for text in TextReceiveStream(stream):
            self.output[name] += text
            self._changed.set()
            self._changed = anyio.Event()
        self._changed.set()

    def report(self, what: str) -> str:
        return f"{what}\n--- stdout\n{self.output['stdout']}--- stderr\n{self.output['stderr']}"


async def _backend(emu: Emulator, scope: anyio.CancelScope) -> None:
    """Push once to every app that registers from now on (what a backend would do)."""
    seen = set(emu.state.fcm)
    with scope:
        while True:
            for token in [t for t in emu.state.fcm if t not in seen]:
                seen.add(token)
                await emu.send(token, **BACKEND_PUSH)
            await anyio.sleep(0.05)


def test_pullkin_demo_runs_the_whole_path_and_exits_zero() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pullkin", "demo"], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 of 3 pushes received" in result.stdout
    assert result.stdout.count("← received") == 3


def test_version_flags() -> None:
    from pullkin import __version__

    script = shutil.which("pullkin", path=str(Path(sys.executable).parent)) or "pullkin"
    for argv in ([script, "--version"], [sys.executable, "-m", "pullkin", "--version"]):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0
        assert result.stdout.strip() == f"pullkin {__version__}"
