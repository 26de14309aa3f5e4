"""Latency from ``emu.send`` to the handler, one message at a time, on loopback.

Run: ``python bench/latency.py [--messages N]``.  One process: the emulator and a
registered, connected ``Pullkin`` receiver (web registration, so every message is
encrypted by the emulator and decrypted by the receiver).  Each message is sent only
after the previous one reached its handler, so the figures are pure latency.  Prints
one JSON object with p50/p90/p99/max in milliseconds.  Target: p50 < 2 ms,
p99 < 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _util import emit, pin_one_core

from pullkin.emulator import Emulator
from pullkin.emulator.harness import ReceiverHarness


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _measure(count: int, warmup: int) -> list[float]:
    async with Emulator() as emu:
        receiver = await ReceiverHarness.start(emu)
        try:
            latencies = []
            for n in range(warmup + count):
                start = time.perf_counter()
                await emu.send(receiver.token, data={"n": str(n)})
                message = await receiver.next_message(timeout=10)
                elapsed = time.perf_counter() - start
                assert message.data == {"n": str(n)}
                if n >= warmup:
                    latencies.append(elapsed * 1000)
            return latencies
        finally:
            await receiver.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    pin_one_core()
    latencies = asyncio.run(_measure(args.messages, args.warmup))
    emit(
        "latency",
        {
            "messages": args.messages,
            "path": "emu.send -> MCS (TLS) -> decrypt -> handler",
            "p50_ms": round(statistics.median(latencies), 3),
            "p90_ms": round(_percentile(latencies, 0.90), 3),
            "p99_ms": round(_percentile(latencies, 0.99), 3),
            "max_ms": round(max(latencies), 3),
            "target_p50_ms": 2,
            "target_p99_ms": 10,
        },
    )


if __name__ == "__main__":
    main()
