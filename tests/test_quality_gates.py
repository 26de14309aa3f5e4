"""The README's one test command is the whole gate: lint, format and types run here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert path, f"{name} is not installed: pip install -e '.[dev]'"
    return path


def test_ruff_check_is_clean() -> None:
    result = _run(_tool("ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _run(_tool("ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run(sys.executable, "-m", "mypy", "--strict", "pullkin")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_pullkin_is_lazy_and_every_public_name_resolves() -> None:
    code = (
        "import sys, pullkin\n"
        "heavy = {'aiohttp', 'cryptography', 'google.protobuf'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "missing = [n for n in pullkin.__all__ if getattr(pullkin, n, None) is None]\n"
        "assert not missing, missing\n"
        "assert 'Pullkin' in dir(pullkin)\n"
        "try:\n"
        "    pullkin.NoSuchName\n"
        "except AttributeError as exc:\n"
        "    assert 'NoSuchName' in str(exc)\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
