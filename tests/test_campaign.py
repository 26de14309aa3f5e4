"""The delivery guarantee under a seeded fault campaign (tests/_campaign.py): a receiver
process SIGKILLed at planned points — before, inside and right after a handler, around
a group commit, while the link is down and just after it is back — while the emulator
drops, duplicates and refuses connections.  Nothing may be lost, and each duplicate
must be one the README's guarantee allows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _campaign import ok, run_campaign

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_a_killed_receiver_loses_nothing_and_repeats_only_what_was_not_durable(
    tmp_path: Path,
) -> None:
    result = await run_campaign(seed=12, messages=300, kills=8, workdir=tmp_path)
    summary = {k: v for k, v in result.items() if k not in ("duplicate_details", "lifetimes")}
    assert result["sent"] == 300
    assert result["kills"] == 8
    assert result["lost"] == 0, json.dumps(summary)
    assert result["violations"] == [], json.dumps(result["violations"])
    assert result["lifetimes_not_ended_by_a_kill"] == [], json.dumps(summary)
    assert result["graceful_stop_exit_code"] == 0
    assert result["handled_but_not_durable_after_stop"] == 0
    assert ok(result)
