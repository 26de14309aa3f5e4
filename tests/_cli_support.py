"""The real ``pullkin`` command in subprocesses: run it, read it, stop it."""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

BIN = Path(sys.executable).parent
PULLKIN = shutil.which("pullkin", path=str(BIN)) or "pullkin"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
for _name in ("GOOGLE_APPLICATION_CREDENTIALS", "PULLKIN_VAPID_PRIVATE_KEY"):
    ENV.pop(_name, None)


def pullkin(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PULLKIN, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=ENV,
        check=False,
    )  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The single error line of a failed command (after argparse's usage lines, if
    any), asserting there is nothing more."""
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    if lines and lines[0].startswith("usage: "):
        lines = [line for line in lines if not line.startswith(("usage: ", " "))]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pullkin "), result.stderr
    return lines[0]


def start(*args: str, stdout: Any = subprocess.PIPE) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PULLKIN, *args], stdout=stdout, stderr=subprocess.PIPE, text=True, env=ENV
    )


def read_line(stream: IO[str] | None, timeout: float = 30) -> str:
    """One line from a child's pipe, or fail after *timeout* seconds."""
    assert stream is not None
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        assert selector.select(timeout), "the command printed nothing"
    return stream.readline()


def stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Ctrl-C, then what it still wrote."""
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err


@contextlib.contextmanager
def running_emulator(directory: Path, *args: str) -> Iterator[Path]:
    """``pullkin emulator`` running; its JSON line saved to a file, as the README says."""
    process = start("emulator", *args)
    try:
        path = directory / "emu.json"
        path.write_text(read_line(process.stdout))
        yield path
    finally:
        code, _, err = stop(process)
        assert code == 0, err
