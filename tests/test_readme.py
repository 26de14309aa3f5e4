"""The README's promises: its two commands, and code blocks that at least compile."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


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


@pytest.mark.parametrize(
    "block", re.findall(r"```python\n(.+?)\n```", README, re.DOTALL), ids=lambda b: b[:30]
)
def test_python_blocks_compile(block: str) -> None:
    compile(block, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


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
