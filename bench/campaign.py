"""Fault campaign against the delivery guarantee: one JSON line.

Run: ``python bench/campaign.py --seed N --messages 1000 [--kills K] [--details]``.
A receiver in a child process, SIGKILLed at a planned point per lifetime (before,
inside and right after a handler; before, during and right after a group commit; while
the link is down and just after it is back; or at a random moment) and restarted from
the same credentials file, while the emulator (its fault plan, seeded) closes
connections after N frames and mid-frame, duplicates deliveries, refuses logins, drops
at random and restarts its MCS server; the pushes go out through FCM HTTP v1 (and
``emu.send``).  Prints sent, handled, lost, duplicates and why, kills by point, and the
faults injected and fired.  Exit status 1 if anything was lost or a duplicate falls
outside the guarantee (README, "The delivery guarantee").  The engine is
``tests/_campaign.py``; the suite runs a smaller campaign (tests/test_campaign.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _campaign import ok, run_campaign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--kills", type=int, help="default: one per 60 messages, at least 8")
    parser.add_argument("--details", action="store_true", help="every duplicate and lifetime")
    args = parser.parse_args()
    kills = args.kills if args.kills is not None else max(8, args.messages // 60)
    with tempfile.TemporaryDirectory(prefix="pullkin-campaign-") as workdir:
        result = asyncio.run(run_campaign(args.seed, args.messages, kills, Path(workdir)))
    if not args.details:
        result.pop("duplicate_details")
        result.pop("lifetimes")
    result["guarantee_held"] = ok(result)
    print(json.dumps(result, separators=(",", ":")))
    sys.exit(0 if result["guarantee_held"] else 1)


if __name__ == "__main__":
    main()
