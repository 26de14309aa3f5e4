"""Shared helpers for the benchmarks: timing loops and one-line JSON output."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any


def rate(func: Callable[[], object], *, seconds: float = 1.0, batch: int = 100) -> float:
    """Calls per second of *func*, measured for about *seconds* after a warm-up."""
    for _ in range(batch):
        func()
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            func()
        calls += batch
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def emit(name: str, figures: dict[str, Any]) -> None:
    """Print one JSON object: the benchmark name, the machine, and the figures."""
    record = {
        "benchmark": name,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        **figures,
        "load_average": {"at_start": _LOAD_AT_START, "at_end": _load()},
    }
    json.dump(record, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def _load() -> list[float] | None:
    """The 1/5/15-minute load averages (``uptime``): how busy the machine was."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


_LOAD_AT_START = _load()


def pin_one_core() -> None:
    """Run on one core so figures are per-core (no-op where unsupported)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def split_cores() -> tuple[set[int], int | None]:
    """(this process's cores, the child's core): the last core goes to the child.

    Call before pinning anything and hand the child's core to it explicitly (see
    ``pin``): a child started after its parent pinned itself inherits the parent's
    single core, and both would then share it.  ``(set(), None)`` where unsupported
    or on one core.
    """
    if not hasattr(os, "sched_getaffinity"):
        return set(), None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return set(cores), None
    return set(cores[:-1]), cores[-1]


def pin(cores: set[int] | int | None) -> bool:
    """Pin this process to *cores*; False when there is nothing to pin to."""
    if cores is None or not hasattr(os, "sched_setaffinity"):
        return False
    wanted = {cores} if isinstance(cores, int) else cores
    if not wanted:
        return False
    os.sched_setaffinity(0, wanted)
    return True
