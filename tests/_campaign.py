"""A fault campaign against the delivery guarantee (README, "The delivery guarantee").

A receiver runs in a child process (``python tests/_campaign.py --child SPEC``) from
one credentials file; its handler appends each message's number to an fsynced log.
The parent — this module's ``run_campaign`` — runs the emulator, sends numbered pushes
through FCM HTTP v1 (and ``emu.send``) while its fault plan closes connections after
N frames and mid-frame, duplicates deliveries, refuses logins, drops at random and
restarts the MCS server, and has the child SIGKILLed, one planned point per
lifetime: before, inside or right after a handler, before, during or right after a
group commit, while the link is down or just after it is back, or at a random moment.  After each kill it reads
the journal (the child is dead: what is there is what survived) and starts the child
again.  A last lifetime runs until every push was handled and the mailbox is empty,
and stops with SIGTERM (a graceful ``stop()``).

Everything random comes from ``random.Random(seed)``: the plan replays identically
(where a kill lands still depends on timing — the checks do not).  The verdict:

* ``lost``: pushes sent and never handled — must be 0;
* each duplicate (a push handled more than once) is allowed only if its handler calls
  were in different lifetimes and, at every kill in between, its id was not in the
  journal (the process died inside its handler or before its mark was durable);
* when the graceful stop returns, every handled id is in the journal.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

SENDER = "campaign"
KILL_POINTS = (
    "handler_before",
    "handler_inside",
    "handler_after",
    "commit_before",
    "commit_during",
    "commit_after",
    "reconnect_down",
    "reconnect_up",
    "timer",
)


# --- the child: one receiver lifetime --------------------------------------------------


def _append(path: str, line: str, *, sync: bool = True) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


class _Killer:
    """Kills this process at the planned point (one per lifetime)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.point: str = spec["kill"]
        self.at: int = spec["at"]
        self.counts: collections.Counter[str] = collections.Counter()
        self.kills_log: str = spec["kills_log"]
        self.lifetime: int = spec["lifetime"]

    def due(self, point: str) -> bool:
        """Count one *point*; True at the planned occurrence of the planned point."""
        if not self.point.startswith(point):
            return False
        self.counts[point] += 1
        return self.counts[point] == self.at

    def maybe(self, point: str, detail: str = "") -> None:
        if point == self.point and self.due(point):
            self.kill(detail)

    def kill(self, detail: str = "") -> None:
        _append(self.kills_log, f"{self.lifetime} {self.point} {detail}\n")
        os.kill(os.getpid(), signal.SIGKILL)


def _store(spec: dict[str, Any], killer: _Killer) -> Any:
    from pullkin.local_store import LocalStore

    class KillingStore(LocalStore):
        async def record_ids(self, changes: Any) -> None:
            due = any(change.handled for change in changes) and killer.due("commit")
            if due and killer.point == "commit_before":
                killer.kill()
            if due and killer.point == "commit_during":
                writing = asyncio.ensure_future(super().record_ids(changes))
                await asyncio.sleep(random.Random(killer.lifetime).uniform(0, 0.0006))
                killer.kill("written" if writing.done() else "writing")
            await super().record_ids(changes)
            if due and killer.point == "commit_after":
                killer.kill()

    base = LocalStore.open(spec["credentials"])
    return KillingStore(base.credentials, base.journal)


async def _child(spec: dict[str, Any]) -> None:
    from pullkin.client import Pullkin
    from pullkin.endpoints import Endpoints
    from pullkin.receiver import SessionConfig, SessionState

    killer = _Killer(spec)
    endpoints = Endpoints.from_dict(spec["endpoints"], ca_path=spec["ca"])
    config = SessionConfig(
        heartbeat_interval=5.0, heartbeat_timeout=2.0, login_timeout=5.0, connect_timeout=2.0,
        reconnect_initial=0.02, reconnect_max=0.2, stop_timeout=5.0,
    )  # fmt: skip
    store = _store(spec, killer)
    client = Pullkin(endpoints, store=store, session_config=config, concurrency=spec["concurrency"])
    log_path, lifetime = spec["log"], spec["lifetime"]

    work = random.Random(lifetime)  # handlers take 0-6 ms: backlogs build up

    def record(message: Any, stanza: Any) -> None:
        killer.maybe("handler_before", message.data["n"])
        _append(log_path, f"{message.data['n']} {stanza.persistent_id} {lifetime}\n")
        time.sleep(work.uniform(0, 0.006))
        killer.maybe("handler_inside", message.data["n"])

    async def record_async(message: Any, stanza: Any) -> None:
        killer.maybe("handler_before", message.data["n"])
        _append(log_path, f"{message.data['n']} {stanza.persistent_id} {lifetime}\n")
        await asyncio.sleep(work.uniform(0, 0.006))
        killer.maybe("handler_inside", message.data["n"])

    def after(message: Any, stanza: Any) -> None:  # runs once the first handler returned
        # (a process kill keeps the page cache: no fsync needed to tell why afterwards)
        _append(spec["returned_log"], f"{message.data['n']} {lifetime}\n", sync=False)
        killer.maybe("handler_after", message.data["n"])

    client.on_notification()(record if spec["plain_handler"] else record_async)
    client.on_notification()(after)
    credentials = await store.get_credentials(SENDER)
    await client.add_app(SENDER, credentials)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    runner = asyncio.create_task(client.run())
    await client.wait_connected()
    print("ready", flush=True)
    while killer.point.startswith("reconnect") and not stop.is_set():  # watch the link
        await asyncio.sleep(0.001)
        if client.state is SessionState.CONNECTED:
            continue
        killer.maybe("reconnect_down", client.state.value)  # while it is down
        await client.sessions[0].wait_connected()
        if killer.point == "reconnect_up" and killer.due("reconnect_up"):
            await asyncio.sleep(work.uniform(0, 0.03))  # just after the next login
            killer.kill()
    await stop.wait()
    await client.stop()
    await runner
    await client.aclose()
    await store.aclose()


# --- the parent ---------------------------------------------------------------------------


@dataclass
class Campaign:
    seed: int
    messages: int
    kills: int
    workdir: Path
    rng: random.Random = field(init=False)
    sent: dict[int, str] = field(default_factory=dict)  # n -> how it was sent
    faults_injected: collections.Counter[str] = field(default_factory=collections.Counter)
    killed: collections.Counter[str] = field(default_factory=collections.Counter)
    durable_after: list[set[str]] = field(default_factory=list)  # per lifetime
    lifetimes: list[dict[str, Any]] = field(default_factory=list)
    returned: set[str] = field(default_factory=set)  # "n lifetime" of handlers that returned

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.log = self.workdir / "handled.log"
        self.kills_log = self.workdir / "kills.log"
        self.returned_log = self.workdir / "returned.log"
        self.credentials = self.workdir / "creds.json"


async def run_campaign(seed: int, messages: int, kills: int, workdir: Path) -> dict[str, Any]:
    """Run one campaign in *workdir*; the figures and the verdict as a dict."""
    from _receiver_support import register_direct

    from pullkin.emulator import Emulator
    from pullkin.emulator.faults import FaultPlan
    from pullkin.store import CredentialStore

    campaign = Campaign(seed, messages, kills, workdir)
    started = time.perf_counter()
    async with Emulator() as emu:
        emu.faults = FaultPlan(seed)
        credentials = register_direct(emu)
        CredentialStore.open(campaign.credentials).put(SENDER, credentials)
        sending = asyncio.create_task(_send_all(campaign, emu, credentials.fcm.token))
        faulting = asyncio.create_task(_inject_faults(campaign, emu))
        points = _kill_plan(campaign)
        for lifetime, point in enumerate(points):
            await _lifetime(campaign, emu, lifetime, point)
        await sending
        faulting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await faulting
        emu.faults.clear()
        final = await _last_lifetime(campaign, emu, len(points), credentials.gcm.android_id)
        fired = collections.Counter(emu.faults.fired)
    return _verdict(campaign, final, fired, time.perf_counter() - started)


def _kill_plan(campaign: Campaign) -> list[str]:
    """Every kill point once (in a seeded order) before any repeats."""
    points: list[str] = []
    while len(points) < campaign.kills:
        batch = list(KILL_POINTS)
        campaign.rng.shuffle(batch)
        points += batch
    return points[: campaign.kills]


async def _send_all(campaign: Campaign, emu: Any, token: str) -> None:
    from pullkin.senders.fcm import FcmSender, Message

    rng = random.Random(campaign.seed + 1)
    # spread over most of the campaign: about 0.9 s per lifetime
    pause = 9 / (campaign.messages / (max(campaign.kills, 1) * 0.9))
    async with FcmSender(emu.service_account_info, endpoints=emu.endpoints) as fcm:
        n = 0
        while n < campaign.messages:
            for _ in range(min(rng.randint(3, 15), campaign.messages - n)):
                data = {"n": str(n)}
                if rng.random() < 0.2:
                    await emu.send(token, data=data)
                    campaign.sent[n] = "emu.send"
                else:
                    await fcm.send(Message(token=token, data=data))
                    campaign.sent[n] = "fcm v1"
                n += 1
            await asyncio.sleep(rng.uniform(0.2, 1.8) * pause)


async def _inject_faults(campaign: Campaign, emu: Any) -> None:
    rng = random.Random(campaign.seed + 2)
    emu.faults.drop_randomly(0.01)
    campaign.faults_injected["drop_randomly(1%)"] += 1
    while True:
        await asyncio.sleep(rng.uniform(0.1, 0.5))
        kind = rng.choice(("close_after_frames", "close_mid_frame", "duplicate", "reject_login",
                           "restart_mcs"))  # fmt: skip
        times = rng.randint(1, 5) if kind == "duplicate" else 1
        campaign.faults_injected[kind] += times
        if kind == "close_after_frames":
            emu.faults.close_after_frames(rng.randint(0, 20))
        elif kind == "close_mid_frame":
            emu.faults.close_mid_frame()
        elif kind == "duplicate":
            emu.faults.duplicate_delivery(times=times)
        elif kind == "reject_login":
            emu.faults.reject_login()
        else:
            await emu.restart_mcs()


def _spec(campaign: Campaign, emu: Any, lifetime: int, point: str) -> dict[str, Any]:
    rng = campaign.rng
    return {
        "lifetime": lifetime,
        "kill": point,
        "at": rng.randint(1, 2) if point.startswith("reconnect") else rng.randint(1, 40),
        "credentials": str(campaign.credentials),
        "log": str(campaign.log),
        "kills_log": str(campaign.kills_log),
        "returned_log": str(campaign.returned_log),
        "endpoints": emu.endpoints.to_dict(),
        "ca": str(emu.ca_path),
        "concurrency": rng.choice((1, 1, 3)),
        "plain_handler": rng.random() < 0.5,
    }


async def _start(spec: dict[str, Any], stderr: Any) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child", json.dumps(spec),
        stdout=asyncio.subprocess.PIPE, stderr=stderr,
    )  # fmt: skip


async def _lifetime(campaign: Campaign, emu: Any, lifetime: int, point: str) -> None:
    spec = _spec(campaign, emu, lifetime, point)
    # The fallback: a kill at a random moment if the planned point does not come.
    timer = campaign.rng.uniform(0.2, 1.5)
    with (campaign.workdir / f"child-{lifetime}.err").open("wb") as stderr:
        child = await _start(spec, stderr)
    assert child.stdout is not None
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(child.stdout.readline(), 20)  # "ready" (or EOF: died)
    try:
        await asyncio.wait_for(child.wait(), timer)
    except asyncio.TimeoutError:
        child.kill()
        await child.wait()
    fired = point if _killed_itself(campaign, lifetime) else "timer"
    campaign.killed[fired] += 1
    campaign.lifetimes.append(
        {**{k: spec[k] for k in ("kill", "concurrency")}, "fired": fired,
         "exit_code": child.returncode,
         "stderr": "" if child.returncode == -signal.SIGKILL else _tail(campaign, lifetime)}
    )  # fmt: skip
    campaign.durable_after.append(_durable(campaign))


def _tail(campaign: Campaign, lifetime: int) -> str:
    """The end of a lifetime's stderr (a child that crashed says why there)."""
    return (campaign.workdir / f"child-{lifetime}.err").read_text(errors="replace")[-2000:]


def _killed_itself(campaign: Campaign, lifetime: int) -> bool:
    if not campaign.kills_log.exists():
        return False
    return any(
        line.split()[0] == str(lifetime) for line in campaign.kills_log.read_text().splitlines()
    )


def _durable(campaign: Campaign) -> set[str]:
    from pullkin.journal import Journal
    from pullkin.local_store import journal_path

    journal = Journal.open(journal_path(campaign.credentials))
    try:
        return set(journal.load(SENDER).handled)
    finally:
        journal.close()


async def _last_lifetime(
    campaign: Campaign, emu: Any, lifetime: int, android_id: int
) -> dict[str, Any]:
    spec = {**_spec(campaign, emu, lifetime, "none"), "concurrency": 1}
    with (campaign.workdir / f"child-{lifetime}.err").open("wb") as stderr:
        child = await _start(spec, stderr)
    assert child.stdout is not None
    assert await asyncio.wait_for(child.stdout.readline(), 30) == b"ready\n"
    deadline = time.monotonic() + 60 + campaign.messages * 0.05
    while time.monotonic() < deadline:
        if emu.mailboxes.pending(android_id) == [] and _handled_numbers(campaign) >= set(
            campaign.sent
        ):
            break
        await asyncio.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(child.wait(), 30)
    return {"exit_code": code, "durable": _durable(campaign), "stderr": _tail(campaign, lifetime)}


def _entries(campaign: Campaign) -> list[tuple[int, str, int]]:
    if not campaign.log.exists():
        return []
    entries = []
    for line in campaign.log.read_text().splitlines():
        n, pid, lifetime = line.split()
        entries.append((int(n), pid, int(lifetime)))
    return entries


def _handled_numbers(campaign: Campaign) -> set[int]:
    return {n for n, _, _ in _entries(campaign)}


def _verdict(
    campaign: Campaign, final: dict[str, Any], fired: collections.Counter[str], seconds: float
) -> dict[str, Any]:
    if campaign.returned_log.exists():
        campaign.returned = set(campaign.returned_log.read_text().splitlines())
    calls: dict[int, list[tuple[str, int]]] = collections.defaultdict(list)
    for n, pid, lifetime in _entries(campaign):
        calls[n].append((pid, lifetime))
    duplicates, violations = [], []
    for n, seen in sorted(calls.items()):
        for (pid, first), (_, again) in itertools.pairwise(seen):
            why = _why(campaign, n, pid, first, again)
            (violations if why.startswith("NOT ALLOWED") else duplicates).append(
                {"n": n, "lifetimes": [first, again], "why": why}
            )
    handled_pids = {pid for seen in calls.values() for pid, _ in seen}
    not_durable = handled_pids - final["durable"]
    lost = sorted(set(campaign.sent) - set(calls))
    per_kill = collections.Counter(d["lifetimes"][0] for d in duplicates)
    crashed = [life for life in campaign.lifetimes if life["exit_code"] != -signal.SIGKILL]
    return {
        "seed": campaign.seed,
        "sent": len(campaign.sent),
        "sent_by": dict(collections.Counter(campaign.sent.values())),
        "handled": len(calls),
        "handler_calls": sum(len(seen) for seen in calls.values()),
        "lost": len(lost),
        "lost_numbers": lost,
        "duplicates": len(duplicates),
        "duplicates_why": dict(collections.Counter(d["why"] for d in duplicates)),
        "most_duplicates_after_one_kill": max(per_kill.values(), default=0),
        "duplicate_details": duplicates,
        "violations": violations,
        "lifetimes_not_ended_by_a_kill": crashed,
        "kills": sum(campaign.killed.values()),
        "kills_by_point": dict(campaign.killed),
        "lifetimes": campaign.lifetimes,
        "faults_injected": dict(campaign.faults_injected),
        "faults_fired": dict(fired),
        "graceful_stop_exit_code": final["exit_code"],
        "graceful_stop_stderr": final["stderr"] if final["exit_code"] else "",
        "handled_but_not_durable_after_stop": len(not_durable),
        "seconds": round(seconds, 1),
    }


def _why(campaign: Campaign, n: int, pid: str, first: int, again: int) -> str:
    if first == again:
        return "NOT ALLOWED: dispatched twice in one process"
    for lifetime in range(first, again):
        if pid in campaign.durable_after[lifetime]:
            return f"NOT ALLOWED: dispatched again after its mark was durable (kill {lifetime})"
    point = campaign.lifetimes[first]["fired"]
    if f"{n} {first}" in campaign.returned:
        return f"handler returned, killed before its mark was durable (kill: {point})"
    return f"killed while its handler ran (kill: {point})"


def ok(result: dict[str, Any]) -> bool:
    """The guarantee held."""
    return (
        result["lost"] == 0
        and not result["violations"]
        and not result["lifetimes_not_ended_by_a_kill"]
        and result["graceful_stop_exit_code"] == 0
        and result["handled_but_not_durable_after_stop"] == 0
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(_child(json.loads(args.child)))


if __name__ == "__main__":
    main()
