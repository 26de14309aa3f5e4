"""What a user downloads: the sdist runs its own tests, the wheel says what it is."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Directories whose every file the sdist must ship (the tests read all of them).
SHIPPED = ("pullkin", "proto", "tests", "examples", ".ci")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    code = (
        "import sys, hatchling.build as b; "
        "print(b.build_sdist(sys.argv[1])); print(b.build_wheel(sys.argv[1]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=ROOT, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    sdist, wheel = result.stdout.split()
    return {"sdist": out / sdist, "wheel": out / wheel}


def _source_files() -> set[str]:
    """The files of SHIPPED that are part of the source: git's list in a checkout
    (what .gitignore leaves out is not source), else every file on disk."""
    files = {"README.md", "LICENSE", "pyproject.toml"}
    listed = subprocess.run(
        ["git", "ls-files", "--", *SHIPPED], cwd=ROOT, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    if listed.returncode == 0 and listed.stdout.strip():
        return files | set(listed.stdout.split())
    for top in SHIPPED:
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.add(path.relative_to(ROOT).as_posix())
    return files


def test_the_sdist_ships_everything_its_tests_read(built: dict[str, Path]) -> None:
    with tarfile.open(built["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    missing = _source_files() - names
    assert not missing, f"not in the sdist: {sorted(missing)}"
    assert not {n for n in names if n.startswith((".venv/", "bench/")) or "__pycache__" in n}


def test_tests_pass_from_the_unpacked_sdist(built: dict[str, Path], tmp_path: Path) -> None:
    with tarfile.open(built["sdist"]) as sdist:
        sdist.extractall(tmp_path, filter="data")
    [unpacked] = tmp_path.iterdir()
    # One test that reads .ci/, one that runs an example, one that reads README.md.
    selected = [
        "tests/test_readme.py::test_the_two_quick_start_commands",
        "tests/test_readme.py::test_blocks_are_found_with_their_markers",
        "tests/test_examples.py::test_bot_reply_token_without_a_service_account_is_a_usage_error",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selected],
        cwd=unpacked, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_the_wheel_declares_its_license_and_pythons(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = wheel.namelist()
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        fields = Parser().parsestr(wheel.read(metadata).decode())
        [license_file] = [n for n in names if n.endswith("licenses/LICENSE")]
        assert b"MIT License" in wheel.read(license_file)
    assert "MIT" in (fields.get("License-Expression") or fields.get("License") or "")
    assert fields["Requires-Python"] == ">=3.10"
    classifiers = fields.get_all("Classifier") or []
    for minor in range(10, 14):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert "pullkin/py.typed" in names
    assert not [n for n in names if n.startswith("tests/")]
