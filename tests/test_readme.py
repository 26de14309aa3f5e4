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
import time
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


def test_the_cli_walkthrough_delivers_pushes_to_a_cli_registered_listen(tmp_path: Path) -> None:
    """The Quick start's shell steps, run verbatim by bash in a fresh directory."""
    script = command_after("cli-walkthrough")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    # Files, not pipes: what the script leaves running keeps its output open.
    out_path, err_path = tmp_path / "stdout", tmp_path / "stderr"
    with out_path.open("w") as out_file, err_path.open("w") as err_file:
        shell = subprocess.Popen(
            ["bash", "-e", "-c", script], cwd=tmp_path, env=env, start_new_session=True,
            stdout=out_file, stderr=err_file,
        )  # fmt: skip
    pushes = tmp_path / "pushes.jsonl"
    try:
        shell.wait(timeout=120)
        out, err = out_path.read_text(), err_path.read_text()
        assert shell.returncode == 0, out + err
        deadline = time.monotonic() + 60
        while len(_lines(pushes)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        _stop_group(shell.pid)
    first, second = (json.loads(line) for line in _lines(pushes))
    assert first["data"] == {"text": "hello"}
    assert (second["notification"]["title"], second["notification"]["body"]) == ("Hi", "there")
    token = out.splitlines()[0]  # register printed the FCM token
    config = json.loads((tmp_path / "emu.json").read_text())
    assert second["sender_id"] == config["firebase_config"]["sender_id"]
    assert token.count(":") == 1  # an FCM token, nothing else on the line


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _stop_group(pgid: int) -> None:
    """Ctrl-C for what the script left running (listen, the emulator), then KILL."""
    for signum in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(pgid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


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


# --- the seed tables name real signatures ------------------------------------------------

SEED_SECTIONS = {
    "### Seed 003": ("pullkin", "pullkin.core", "pullkin.client"),
    "### Seed 004": ("pullkin.senders.azure", "pullkin.senders.azure_models"),
    "### Seed 000": ("pullkin.senders.hms", "pullkin.senders.hms_models"),
    "### Seed 001": ("pullkin.senders.baidu", "pullkin.senders.baidu_results"),
    "### Seed 002": ("pullkin.senders.umeng", "pullkin.senders.umeng_results"),
}
#: How the tables name a sender instance.
SENDER_NAMES = {
    "hms": "pullkin.senders.hms.HmsSender",
    "baidu": "pullkin.senders.baidu.BaiduSender",
    "umeng": "pullkin.senders.umeng.UmengSender",
    "nh": "pullkin.senders.azure.AzureNotificationHub",
    "PullkinCore": "pullkin.PullkinCore",
    "Pullkin": "pullkin.Pullkin",
}


def _seed_calls() -> list[tuple[str, str, str]]:
    """(section, callee, arguments) of every call in the pullkin column of a seed table."""
    calls = []
    for heading, _ in SEED_SECTIONS.items():
        section = README.split(heading, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
        for row in section.splitlines():
            cells = row.split(" | ")
            if not row.startswith("| `") or len(cells) < 2:
                continue
            for span in re.findall(r"`([^`]+)`", cells[1]):
                calls += [(heading, *call) for call in _calls(span)]
    return calls


def _calls(text: str) -> list[tuple[str, str]]:
    found = []
    for match in re.finditer(r"([A-Za-z_][\w.]*)\(", text):
        depth, end = 1, match.end()
        while end < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        found.append((match.group(1), text[match.end() : end - 1]))
    return found


def _top_level_args(arguments: str) -> list[str]:
    args, depth, current = [], 0, ""
    for char in arguments:
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(char, 0)
        if char == "," and depth == 0:
            args.append(current.strip())
            current = ""
        else:
            current += char
    return [*args, current.strip()] if current.strip() else args


def _resolve(heading: str, callee: str) -> Any:
    import importlib

    owner, _, name = callee.rpartition(".")
    if owner in SENDER_NAMES:
        module, _, cls = SENDER_NAMES[owner].rpartition(".")
        return getattr(getattr(importlib.import_module(module), cls), name, None)
    if owner:
        return None
    for module in SEED_SECTIONS[heading]:
        found = getattr(importlib.import_module(module), name, None)
        if isinstance(found, type):
            return found
    return None


def test_the_seed_tables_show_calls_their_signatures_accept() -> None:
    import inspect

    checked, wrong = 0, []
    for heading, callee, arguments in _seed_calls():
        target = _resolve(heading, callee)
        if target is None:
            continue
        params = inspect.signature(target).parameters.values()
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        names = {p.name for p in params}
        varargs = any(p.kind is p.VAR_POSITIONAL for p in params)
        varkw = any(p.kind is p.VAR_KEYWORD for p in params)
        args = [a for a in _top_level_args(arguments) if "…" not in a or "=" in a]
        shown_positional = [a for a in args if "=" not in a and not a.startswith("*")]
        keywords = {k for a in args for k in re.findall(r"(?:^|\| )(\w+)=", a)}
        offset = 0 if isinstance(target, type) else 1  # a method taken from its class: self
        if len(shown_positional) > len(positional) - offset and not varargs:
            wrong.append(f"{heading} {callee}({arguments}): too many positional arguments")
        if not varkw and keywords - names:
            wrong.append(f"{heading} {callee}({arguments}): no parameter {keywords - names}")
        checked += 1
    assert not wrong, "\n".join(wrong)
    assert checked > 40
