"""Branch coverage per module: the test suite (or part of it) under ``coverage``.

Run: ``python bench/coverage.py [--module PATH ...] [--all] [--data-file PATH]
[-- PYTEST ARGS]``.  Runs
``pytest`` under ``coverage run`` (branch coverage, source ``pullkin``, as configured in
pyproject.toml) and prints one JSON object: per module its branch and line coverage, and
for the watched modules (the receiver's I/O layer, the codec, registration, the store)
whether they meet the 90 % branch target.  Exit status 1 when one does not.  Pytest
arguments after ``--`` choose the tests (default: the whole suite, lint gates skipped);
pytest's own output goes to stderr.  ``--data-file`` keeps the coverage data, for
``COVERAGE_FILE=PATH coverage report -m --include=pullkin/receiver.py`` (the lines and
branches missed).  Code run in subprocesses (examples, the CLI tests) is not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import emit

ROOT = Path(__file__).resolve().parent.parent
TARGET = 90.0
WATCHED = [
    "pullkin/receiver.py",
    "pullkin/client.py",
    "pullkin/core.py",
    "pullkin/store.py",
    "pullkin/_serde.py",
    "pullkin/mcs/codec.py",
    # what moved out of client.py and receiver.py stays watched
    "pullkin/_handling.py",
    "pullkin/_sessions.py",
    "pullkin/_apps.py",
    "pullkin/_reregister.py",
    "pullkin/_session_types.py",
    "pullkin/_login.py",
]


def measure(pytest_args: list[str], data_file: Path) -> int:
    """Run the tests under coverage; returns pytest's exit status."""
    env = {**os.environ, "COVERAGE_FILE": str(data_file)}
    run = [sys.executable, "-m", "coverage", "run", "-m", "pytest", "-q", "-p", "no:randomly"]
    command = [*run, *pytest_args]
    return subprocess.run(command, cwd=ROOT, env=env, stdout=sys.stderr, check=False).returncode


def report(data_file: Path) -> dict[str, Any]:
    out = data_file.with_suffix(".json")
    env = {**os.environ, "COVERAGE_FILE": str(data_file)}
    subprocess.run(
        [sys.executable, "-m", "coverage", "json", "-q", "-o", str(out)],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    files: dict[str, Any] = json.loads(out.read_text())["files"]
    return files


def percent(covered: int, total: int) -> float:
    return round(100.0 * covered / total, 1) if total else 100.0


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "branches": percent(summary["covered_branches"], summary["num_branches"]),
        "branches_covered": f"{summary['covered_branches']}/{summary['num_branches']}",
        "lines": percent(summary["covered_lines"], summary["num_statements"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", default=[], help="watch this file too")
    parser.add_argument("--all", action="store_true", help="list every module, not only watched")
    parser.add_argument("--data-file", type=Path, help="keep the coverage data here")
    parser.add_argument("pytest_args", nargs="*", help="after --: what pytest runs")
    args = parser.parse_args()
    pytest_args = args.pytest_args or ["tests", "--deselect", "tests/test_quality_gates.py"]
    with tempfile.TemporaryDirectory() as tmp:
        data_file = args.data_file.absolute() if args.data_file else Path(tmp) / ".coverage"
        status = measure(pytest_args, data_file)
        files = report(data_file)
    watched = [*WATCHED, *args.module]
    modules = {name: figures(files[name]["summary"]) for name in watched if name in files}
    short = [name for name, f in modules.items() if f["branches"] < TARGET]
    result: dict[str, Any] = {
        "pytest_exit": status,
        "target_branches": TARGET,
        "watched": modules,
        "below_target": short,
    }
    if args.all:
        result["all"] = {name: figures(files[name]["summary"]) for name in sorted(files)}
    totals = [files[name]["summary"] for name in files]
    covered = sum(s["covered_branches"] for s in totals)
    result["total_branches"] = percent(covered, sum(s["num_branches"] for s in totals))
    emit("coverage", result)
    return 1 if short or status else 0


if __name__ == "__main__":
    sys.exit(main())
