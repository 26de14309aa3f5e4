"""Fleet sizing: idle devices per worker process and RSS per device, messages/s into
each sink, failover time.  Needs PostgreSQL, Redis and NATS on loopback.

Run: ``python bench/fleet.py --devices 10000 --workers 1`` (``--devices 100000
--workers 6`` for a big one; ``--skip-throughput --skip-failover`` for the idle part
only).  Workers are ``pullkin fleet run`` processes; the Google side runs in emulator
processes of their own (``bench/_fleet_shard.py``), one per worker, each holding every
device and listening on its own port — so no emulator serves more connections than a
process may open files, and no destination needs more than the 28,232 ephemeral ports
one loopback source address has.  Figures:

* ``idle``: every device is added to the store at once (lease TTL ``--ttl``: with
  fewer cores than worker and emulator processes, a starved worker's renewals come
  late, so the spread keeps moving); once all are logged in and
  settled, each worker's RSS minus its RSS with no device, divided by the devices it
  holds (``rss_per_device_kib``), and the emulator's RSS per connection.  A guard
  stops the run if the machine's available memory falls under ``--min-free-gib``
  (what got connected until then is reported, with ``completed: false``);
* ``msgs_per_s``: messages sent through the emulator (FCM v1 path) to 100 devices held
  by one worker, per sink, until the sink holds them all;
* ``failover_s``: two workers share 100 devices; one is SIGKILLed; time until all its
  devices are logged in again (TTL 3 s: the floor is the TTL).

One JSON line, with the load average and memory before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web

from pullkin.fleet import PgStore
from pullkin.models import AppCredentials, AppCredentialsFcm, AppCredentialsGcm

PG = os.environ.get("PULLKIN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SENDER = "424242424242"
PACKAGE = "com.example.pullkin"  # the emulator's Android app
HERE = Path(__file__).resolve().parent
Devices = list[tuple[int, int, str]]


def make_devices(n: int, rng: random.Random) -> Devices:
    """*n* checked-in devices, each with one Android-app registration."""
    return [
        (rng.randrange(1, 1 << 62), rng.randrange(1, 1 << 63),
         f"bench{i}:APA91b{rng.getrandbits(128):032x}")
        for i in range(n)
    ]  # fmt: skip


def credentials(device: tuple[int, int, str]) -> AppCredentials:
    android_id, security_token, token = device
    gcm = AppCredentialsGcm(android_id, security_token, token=token, app_id=SENDER,
                            app_name=PACKAGE, sender=SENDER)  # fmt: skip
    return AppCredentials(gcm=gcm, fcm=AppCredentialsFcm(token=token))


def meminfo(field: str, path: str = "/proc/meminfo") -> int:
    """A /proc meminfo or status field, KiB."""
    for line in Path(path).read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def uptime() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Shard:
    """One emulator process (``bench/_fleet_shard.py``) and its command line."""

    def __init__(self, process: asyncio.subprocess.Process, config: Path) -> None:
        self.process, self.config = process, config
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, devices: Path, tmp: Path, name: str) -> Shard:
        config = tmp / f"{name}.json"
        with (tmp / f"{name}.log").open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, str(HERE / "_fleet_shard.py"), str(devices), str(config),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        shard = cls(process, config)
        assert await shard._line() == "ready"
        return shard

    async def ask(self, command: str) -> str:
        async with self._lock:
            assert self.process.stdin is not None
            self.process.stdin.write(command.encode() + b"\n")
            await self.process.stdin.drain()
            return await self._line()

    async def _line(self) -> str:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"emulator shard ended; see {self.config.with_suffix('.log')}")
        return line.decode().strip()

    async def count(self) -> int:
        return int(await self.ask("count"))

    async def rss(self) -> int:
        return int(await self.ask("rss"))

    async def aclose(self) -> None:
        if self.process.returncode is None:
            with_stdin = self.process.stdin
            if with_stdin is not None:
                with_stdin.write(b"quit\n")
            try:
                await asyncio.wait_for(self.process.wait(), 60)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class Fleet:
    """A schema of its own, its workers, and their teardown."""

    def __init__(self, tmp: Path, sink: str, ttl: float = 15.0) -> None:
        self.tmp, self.sink, self.ttl = tmp, sink, ttl
        self.schema = f"bench_{os.getpid()}_{random.getrandbits(24):06x}"
        self.url = f"{PG}?schema={self.schema}"
        self.workers: list[asyncio.subprocess.Process] = []

    async def add(self, devices: Devices) -> None:
        store = await PgStore.open(self.url)
        try:
            for start in range(0, len(devices), 10_000):
                chunk = devices[start : start + 10_000]
                await store.add_apps(SENDER, [credentials(d) for d in chunk])
        finally:
            await store.aclose()

    async def spawn(self, emulator: Path) -> asyncio.subprocess.Process:
        n = len(self.workers)
        with (self.tmp / f"{self.schema}-worker{n}.log").open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pullkin", "fleet", "run", "--store", self.url,
                "--sink", self.sink, "--ttl", str(self.ttl), "--emulator", str(emulator),
                stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        assert process.stdout is not None
        await process.stdout.readline()  # its worker_id: it runs
        self.workers.append(process)
        return process

    async def owners(self) -> list[int]:
        store = await PgStore.open(self.url)
        try:
            rows = await store.pool.fetch(
                f"SELECT count(*) FROM {self.schema}.leases WHERE owner IS NOT NULL "
                "AND expires_at > now() GROUP BY owner"
            )
        finally:
            await store.aclose()
        return sorted(int(row[0]) for row in rows)

    async def aclose(self) -> float:
        """SIGTERM every worker; returns how long the slowest took to hand back."""
        started = time.monotonic()
        for process in self.workers:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                await asyncio.wait_for(process.wait(), 600)
            except TimeoutError:
                process.kill()
                await process.wait()
        took = time.monotonic() - started
        store = await PgStore.open(self.url)
        await store.pool.execute(f"DROP SCHEMA {self.schema} CASCADE")
        await store.aclose()
        return took


async def until(check: Any, within: float, what: str) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            raise TimeoutError(f"{what} did not happen within {within:g} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def idle(args: argparse.Namespace, tmp: Path, rng: random.Random) -> dict[str, Any]:
    devices = make_devices(args.devices, rng)
    path = tmp / "idle-devices.tsv"
    path.write_text("".join(f"{a}\t{s}\t{t}\n" for a, s, t in devices))
    shards = [await Shard.start(path, tmp, f"shard{i}") for i in range(args.workers)]
    fleet = Fleet(tmp, f"redis://127.0.0.1:6379/bench_idle_{os.getpid()}", ttl=args.ttl)
    figures: dict[str, Any] = {"devices": args.devices, "workers": args.workers, "ttl_s": args.ttl}
    try:
        workers = [await fleet.spawn(shard.config) for shard in shards]
        await asyncio.sleep(3)  # settled: imported, schema checked, first rounds run
        base = [meminfo("VmRSS", f"/proc/{w.pid}/status") for w in workers]
        shard_base = [await shard.rss() for shard in shards]
        started = time.monotonic()
        await fleet.add(devices)
        figures["store_add_s"] = round(time.monotonic() - started, 1)
        counts, lowest = await connect_all(shards, args, started, figures)
        figures["mem_available_min_gib"] = round(lowest / 2**20, 1)
        if figures["completed"]:
            await asyncio.sleep(5)  # settled: logins answered, first heartbeats due later
            counts = [await shard.count() for shard in shards]
        full = [meminfo("VmRSS", f"/proc/{w.pid}/status") for w in workers]
        shard_full = [await shard.rss() for shard in shards]
        figures["per_worker"] = [
            {"devices": n, "rss_mib": round(f / 1024, 1),
             "rss_per_device_kib": round((f - b) / n, 1) if n else None}
            for n, b, f in zip(counts, base, full, strict=True)
        ]  # fmt: skip
        connected = sum(counts)
        grown = sum(full) - sum(base)
        figures["rss_per_device_kib"] = round(grown / connected, 1) if connected else None
        figures["workers_rss_mib"] = round(sum(full) / 1024)
        grown = sum(shard_full) - sum(shard_base)
        figures["emulator_rss_per_connection_kib"] = (
            round(grown / connected, 1) if connected else None
        )
        figures["emulator_rss_mib"] = round(sum(shard_full) / 1024)
    finally:
        figures["sigterm_handback_s"] = round(await fleet.aclose(), 1)
        for shard in shards:
            await shard.aclose()
    return figures


async def connect_all(
    shards: list[Shard], args: argparse.Namespace, started: float, figures: dict[str, Any]
) -> tuple[list[int], int]:
    """Wait until every device is logged in, the time runs out or memory runs low."""
    lowest = meminfo("MemAvailable")
    while True:
        counts = [await shard.count() for shard in shards]
        lowest = min(lowest, meminfo("MemAvailable"))
        elapsed = time.monotonic() - started
        stop = None
        if sum(counts) == args.devices:
            figures["connect_all_s"] = round(elapsed, 1)
        elif lowest < args.min_free_gib * 2**20:
            stop = f"available memory fell under {args.min_free_gib} GiB"
        elif elapsed > args.connect_timeout:
            stop = f"not all connected within {args.connect_timeout:g} s"
        else:
            await asyncio.sleep(1)
            continue
        figures["completed"] = stop is None
        if stop is not None:
            figures.update(stopped_because=stop, connected=sum(counts), after_s=round(elapsed))
        return counts, lowest


async def throughput(tmp: Path, shard: Shard, devices: Devices, sink: str, count: Any,
                     messages: int) -> float:  # fmt: skip
    fleet = Fleet(tmp, sink)
    try:
        await fleet.add(devices)
        await fleet.spawn(shard.config)
        await until(lambda: _is(shard.count(), len(devices)), 120, "100 logins")
        started = time.monotonic()
        await shard.ask(f"send {messages}")

        async def arrived() -> bool:
            return bool(await count() >= messages)

        await until(arrived, 300, "every message in the sink")
        return messages / (time.monotonic() - started)
    finally:
        await fleet.aclose()
        await until(lambda: _is(shard.count(), 0), 60, "the worker's logouts")


async def failover(tmp: Path, shard: Shard, devices: Devices) -> dict[str, Any]:
    fleet = Fleet(tmp, f"redis://127.0.0.1:6379/bench_fo_{os.getpid()}", ttl=3.0)
    try:
        await fleet.add(devices)
        victim, _ = await fleet.spawn(shard.config), await fleet.spawn(shard.config)
        await until(lambda: _is(shard.count(), len(devices)), 120, "100 logins")

        async def spread() -> bool:
            return await fleet.owners() == [len(devices) // 2] * 2

        await until(spread, 60, "an even spread")
        victim.kill()
        killed = time.monotonic()
        await victim.wait()

        async def dropped() -> bool:
            return await shard.count() < len(devices)

        await until(dropped, 10, "the victim's connections closing")
        await until(lambda: _is(shard.count(), len(devices)), 60, "the takeover")
        return {"failover_s": round(time.monotonic() - killed, 2), "failover_ttl_s": fleet.ttl,
                "failover_devices_moved": len(devices) // 2}  # fmt: skip
    finally:
        await fleet.aclose()
        await until(lambda: _is(shard.count(), 0), 60, "the worker's logouts")


async def _is(value: Any, expected: int) -> bool:
    return bool(await value == expected)


async def sinks_and_failover(
    args: argparse.Namespace, tmp: Path, rng: random.Random
) -> dict[str, Any]:
    import nats
    import redis.asyncio as redis_asyncio

    devices = make_devices(100, rng)
    path = tmp / "small-devices.tsv"
    path.write_text("".join(f"{a}\t{s}\t{t}\n" for a, s, t in devices))
    shard = await Shard.start(path, tmp, "small")
    received = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal received
        await request.read()
        received += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    redis = redis_asyncio.from_url("redis://127.0.0.1:6379")
    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream()
    tag = f"{os.getpid()}"
    figures: dict[str, Any] = {}
    try:
        if not args.skip_throughput:

            async def redis_count() -> int:
                return int(await redis.xlen(f"bench_tp_{tag}"))

            async def nats_count() -> int:
                try:
                    return int((await js.stream_info(f"PULLKIN_bench_tp_{tag}")).state.messages)
                except nats.js.errors.NotFoundError:
                    return 0

            async def hook_count() -> int:
                return received

            sinks = {
                "redis": (f"redis://127.0.0.1:6379/bench_tp_{tag}", redis_count),
                "jetstream": (f"nats://127.0.0.1:4222/bench_tp_{tag}", nats_count),
                "webhook": (f"http://127.0.0.1:{port}/hook", hook_count),
            }
            figures["msgs_per_s"] = {
                name: round(await throughput(tmp, shard, devices, url, count, args.messages))
                for name, (url, count) in sinks.items()
            }
        if not args.skip_failover:
            figures.update(await failover(tmp, shard, devices))
    finally:
        await shard.aclose()
        await redis.delete(f"bench_tp_{tag}", f"bench_idle_{tag}", f"bench_fo_{tag}")
        await redis.aclose()
        if not args.skip_throughput:
            await js.delete_stream(f"PULLKIN_bench_tp_{tag}")
        await nc.close()
        await runner.cleanup()
    return figures


async def main(args: argparse.Namespace) -> None:
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit[1], limit[1]))  # children inherit it
    per_worker, most = -(-args.devices // args.workers), limit[1] - 500
    if per_worker > most:
        raise SystemExit(
            f"{per_worker} devices per worker need as many open files; this machine allows "
            f"{limit[1]} per process (ulimit -Hn): use --workers {-(-args.devices // most)}"
        )
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"pullkin-bench-fleet-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    rng = random.Random(args.seed)
    figures: dict[str, Any] = {
        "load_before": uptime(), "mem_total_gib": round(meminfo("MemTotal") / 2**20, 1),
        "mem_available_before_gib": round(meminfo("MemAvailable") / 2**20, 1),
        "open_files_per_process": limit[1], "cpus": os.cpu_count(),
    }  # fmt: skip
    figures["idle"] = await idle(args, tmp, rng)
    if not (args.skip_throughput and args.skip_failover):
        figures.update(await sinks_and_failover(args, tmp, rng))
    figures["load_after"] = uptime()
    record = {"benchmark": "fleet", "python": platform.python_version(), **figures}
    print(json.dumps(record))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (and shards)")
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-free-gib", type=float, default=3.0)
    parser.add_argument(
        "--ttl", type=float, default=15.0,
        help="lease TTL of the idle part (a machine with fewer cores than processes needs more)",
    )  # fmt: skip
    parser.add_argument("--connect-timeout", type=float, default=3600.0)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-failover", action="store_true")
    asyncio.run(main(parser.parse_args()))
