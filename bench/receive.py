"""Receive throughput of pullkin and its peers, against raw ECDH/s, in one run.

Run: ``python bench/receive.py [--messages N] [--rounds R] [--only NAME ...]``.

One emulator child process (pinned to the last core) holds aesgcm-encrypted JSON
messages, each with a fresh sender key, as FCM sends them to web registrations.  For
every receiver, each round, it queues N of them for a fresh device, and a fresh
receiver process (pinned to the first core, like this one) logs in and takes them all:

- ``pullkin_async``: ``Pullkin`` with an ``async def`` handler (acks, dispatch);
- ``pullkin_plain``: the same with a plain ``def`` handler;
- ``firebase_messaging``: firebase-messaging 0.4.5's ``FcmPushClient`` (selective
  acks, its default);
- ``push_receiver``: push-receiver 0.1.1's ``listen`` loop (no acks).

The peers run in the bench's own venv, ``bench/.peers-venv``, made on first use from
``bench/peers-requirements.txt`` (``bench/_peers.py`` says how they are pointed at the
emulator); they are never pullkin dependencies.  Rounds interleave the receivers.

Each figure is messages/s from login to the last message handled (the median over
the rounds) divided by a limit measured in this process, on the same core, in every
round: ``exchange_only`` is one P-256 ECDH on a pre-loaded key (the issue's reference,
``ratio``), ``decode_and_exchange`` also decodes a new sender's 65-byte point first
(what each message costs at least, ``ratio_to_decode_and_exchange``); and
``data_path_only`` is the same encrypted stanzas parsed and turned into messages by
``payload.build_messages`` in this process, with no socket, TLS, framing, routing,
ledger, acks or handler (``data_path_only_ratio`` to the exchange; each receiver's
``share_of_data_path``): the ceiling of any receiver built on this data path.  Targets:
``pullkin_async`` >= 0.60 of the exchange; ``pullkin_plain`` within 10 % of it.

Every receiver also notes its RSS and timing at each tenth of the run; from 100,000
messages on they are printed as ``long_run``.  ``--messages 1000000 --only
pullkin_async pullkin_plain --rounds 1`` is the long run (the emulator then keeps
5,000 messages queued ahead instead of queueing all of them at once): RSS at the first
tenth and at the end must stay flat, and msg/s over the last tenth must match the
first.  ``--plain`` sends unencrypted (Android-app style)
messages to pullkin only: the framework's cost without crypto.  ``--store`` gives
pullkin's receivers a credentials file: each handled id is made durable in its journal
(group commit) before it is acknowledged, and the time runs to the last mark on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _peers import Progress
from _util import emit, pin, split_cores
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pullkin import crypto
from pullkin._b64 import b64decode_any, b64url_encode
from pullkin.models import AppCredentialsKeys
from pullkin.proto.mcs_pb2 import DataMessageStanza

HERE = Path(__file__).resolve().parent
SUBTYPE = "wp:bench#00000000-0000-0000-0000-000000000000"
SENDER = "424242424242"
RECEIVERS = ("pullkin_async", "pullkin_plain", "firebase_messaging", "push_receiver")
PEERS = frozenset({"firebase_messaging", "push_receiver"})
PEERS_VENV = HERE / ".peers-venv"
POOL = 20_000  # distinct encrypted messages; a longer run reuses them with new ids
AHEAD = 5_000  # a long run keeps this many queued ahead of what was written
LONG_RUN = 100_000  # from this many messages on, the long-run figures are printed
TARGET_ASYNC = 0.60
TARGET_PLAIN_VS_ASYNC = 0.90


# --- the emulator (child process) -----------------------------------------------------


def _plain_stanza(n: int) -> DataMessageStanza:
    stanza = DataMessageStanza(category="org.chromium.linux", ttl=240)
    setattr(stanza, "from", SENDER)
    for key, value in {"gcm.n.title": "bench", "gcm.n.body": f"message {n}", "n": str(n),
                       "subtype": SUBTYPE}.items():  # fmt: skip
        stanza.app_data.add(key=key, value=value)
    return stanza


def _stanza(keys: AppCredentialsKeys, n: int) -> DataMessageStanza:
    document = {
        "notification": {"title": "bench", "body": f"message {n}"},
        "data": {"n": str(n)},
        "from": SENDER,
        "fcmMessageId": f"{n:08x}-0000-4000-8000-000000000000",
        "priority": "normal",
    }
    payload = crypto.encrypt(
        json.dumps(document).encode(), keys.public_key, keys.auth_secret, encoding="aesgcm"
    )
    stanza = DataMessageStanza(category="org.chromium.linux", raw_data=payload.body, ttl=240)
    setattr(stanza, "from", SENDER)
    app_data = {
        "encryption": _padded(payload.encryption or ""),
        "crypto-key": _padded(payload.crypto_key or ""),
        "subtype": SUBTYPE,
    }
    for key, value in app_data.items():
        stanza.app_data.add(key=key, value=value)
    return stanza


def _padded(value: str) -> str:
    """``salt=…``/``dh=…`` with ``=`` padding, as FCM writes them (webpush.md §2: the
    firebase-messaging fixture's salt ends in ``==``); the peers' decoders need it."""
    name, _, data = value.partition("=")
    return f"{name}={data}{'=' * (-len(data) % 4)}"


async def _serve(spec: dict[str, Any]) -> None:
    from pullkin.emulator import Emulator
    from pullkin.emulator.state import Device

    keys = AppCredentialsKeys.from_dict(spec["keys"])
    make = _plain_stanza if spec["plain"] else (lambda n: _stanza(keys, n))
    pool = [make(n) for n in range(min(spec["messages"], POOL))]
    async with Emulator() as emu:
        written: collections.Counter[int] = collections.Counter()
        record = emu.mailboxes.record_delivery

        def count_write(android_id: int, persistent_id: str) -> None:
            written[android_id] += 1
            record(android_id, persistent_id)

        emu.mailboxes.record_delivery = count_write  # type: ignore[method-assign]
        print(json.dumps({"endpoints": emu.endpoints.to_dict(), "ca": str(emu.ca_path)}))
        sys.stdout.flush()
        feeders: set[asyncio.Task[None]] = set()
        while line := await asyncio.to_thread(sys.stdin.readline):
            run = json.loads(line)
            android_id = run["android_id"]
            emu.state.devices[android_id] = Device(android_id, run["security_token"])
            ahead = run["count"] if run["count"] <= len(pool) else AHEAD
            queued = _queue(emu, android_id, pool, 0, min(run["count"], ahead))
            if queued < run["count"]:
                task = asyncio.create_task(
                    _feed(emu, android_id, pool, queued, run["count"], written)
                )
                feeders.add(task)
                task.add_done_callback(feeders.discard)
            print("ready", flush=True)


def _queue(emu: Any, android_id: int, pool: list[DataMessageStanza], start: int, end: int) -> int:
    for n in range(start, end):
        stanza = DataMessageStanza()
        stanza.CopyFrom(pool[n % len(pool)])
        emu.mailboxes.enqueue(android_id, stanza, ttl=None)
    return end


async def _feed(
    emu: Any,
    android_id: int,
    pool: list[DataMessageStanza],
    queued: int,
    count: int,
    written: collections.Counter[int],
) -> None:
    """Keep ``AHEAD`` messages queued beyond what was written, until *count*."""
    while queued < count:
        room = written[android_id] + AHEAD - queued
        if room >= 500:
            queued = _queue(emu, android_id, pool, queued, min(count, queued + room))
        await asyncio.sleep(0.002)


# --- receivers (child processes) ---------------------------------------------------------


async def _pullkin(spec: dict[str, Any]) -> dict[str, Any]:
    from pullkin.endpoints import Endpoints
    from pullkin.models import AppCredentials, AppCredentialsFcm, AppCredentialsGcm

    endpoints = Endpoints.from_dict(spec["endpoints"], ca_path=spec["ca"])
    gcm = AppCredentialsGcm(spec["android_id"], spec["security_token"], token="bench",
                            app_id=SUBTYPE)  # fmt: skip
    credentials = AppCredentials(
        gcm=gcm,
        fcm=AppCredentialsFcm(token="bench"),
        keys=AppCredentialsKeys.from_dict(spec["keys"]),
    )
    progress = Progress(spec["count"])
    with tempfile.TemporaryDirectory(prefix="pullkin-bench-") as workdir:
        store = Path(workdir) / "creds.json" if spec["store"] else None
        return await _pullkin_run(spec, endpoints, credentials, progress, store)


async def _pullkin_run(
    spec: dict[str, Any],
    endpoints: Any,
    credentials: Any,
    progress: Progress,
    store: Path | None,
) -> dict[str, Any]:
    from pullkin.client import Pullkin
    from pullkin.receiver import SessionConfig

    finished = asyncio.Event()
    loop = asyncio.get_running_loop()
    async with Pullkin(endpoints, session_config=SessionConfig(), credentials_path=store) as client:
        if spec["kind"] == "pullkin_async":

            @client.on_notification()
            async def count_async(message: object, stanza: object) -> None:
                if progress.tick():
                    finished.set()

        else:

            @client.on_notification()
            def count_plain(message: object, stanza: object) -> None:
                if progress.tick():
                    loop.call_soon_threadsafe(finished.set)

        await client.add_app(SENDER, credentials)
        progress.start()
        running = asyncio.create_task(client.run())
        await asyncio.wait_for(finished.wait(), timeout=spec["timeout"])
        await client._persist()  # to the last mark made durable (--store: in the journal)
        result = progress.result()
        await client.stop()
        await running
    return result


def _receiver_child(spec: dict[str, Any]) -> None:
    if not spec.get("profile"):
        print(json.dumps(asyncio.run(_pullkin(spec))), flush=True)
        return
    import cProfile

    profiler = cProfile.Profile(time.process_time)  # CPU time: preemption is not counted
    result = profiler.runcall(asyncio.run, _pullkin(spec))
    profiler.dump_stats(spec["profile"])
    print(json.dumps(result), flush=True)


def _receive_in_child(kind: str, spec: dict[str, Any], peers_python: Path | None) -> dict[str, Any]:
    """Run one receiver in a fresh process (it inherits this process's core)."""
    if kind in PEERS:
        assert peers_python is not None
        command = [str(peers_python), str(HERE / "_peers.py")]
        env = {**os.environ, "SSL_CERT_FILE": spec["ca"]}
    else:
        command = [*shlex.split(spec["wrap"] or ""), sys.executable, __file__, "--receiver"]
        env = dict(os.environ)
    done = subprocess.run(
        command, input=json.dumps({**spec, "kind": kind}) + "\n", capture_output=True,
        text=True, env=env, timeout=spec["timeout"] + 60, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _peers_python() -> tuple[Path | None, str | None]:
    """The peers' venv interpreter, made on first use; or why there is none."""
    python = PEERS_VENV / "bin" / "python"
    if python.exists():
        return python, None
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r",
             str(HERE / "peers-requirements.txt")],
            check=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"cannot make {PEERS_VENV}: {exc}"
    return python, None


# --- the reference -------------------------------------------------------------------------


class Reference(NamedTuple):
    """One round's limit: calls per second (wall clock) and CPU µs per call."""

    exchange_per_s: float
    exchange_cpu_us: float
    decode_per_s: float
    decode_cpu_us: float
    data_path_per_s: float = 0.0


def _data_path(pool: list[bytes], keys: AppCredentialsKeys, seconds: float) -> float:
    """Messages/s of the data path alone: the benchmark's encrypted stanzas parsed and
    turned into messages by ``payload.build_messages`` (16 at a time, as a receiver
    does), in this process: no socket, TLS, framing, routing, ledger, acks or handler.
    What a receiver could reach if all of those cost nothing."""
    from pullkin.payload import build_messages

    def batch(start: int) -> None:
        stanzas = [DataMessageStanza.FromString(b) for b in pool[start : start + 16]]
        for message in build_messages(stanzas, keys, sender_id=SENDER):
            assert not isinstance(message, Exception), message

    starts = itertools.cycle(range(0, len(pool) - 15, 16))
    rate, _ = _timed(lambda: batch(next(starts)), seconds)
    return rate * 16


def _timed(func: Callable[[], object], seconds: float) -> tuple[float, float]:
    """(calls per second, CPU µs per call) of *func* over about *seconds*, after a
    warm-up (``_util.rate``, which also reports the CPU time)."""
    for _ in range(100):
        func()
    calls, started, cpu = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(100):
            func()
        calls += 100
    return calls / elapsed, (time.process_time() - cpu) / calls * 1e6


def _raw_ecdh(seconds: float) -> Reference:
    """The exchange on a pre-loaded key, and decoding a 65-byte point + the exchange."""
    private = ec.generate_private_key(ec.SECP256R1())
    curve, algorithm = ec.SECP256R1(), ec.ECDH()
    peers = [ec.generate_private_key(curve).public_key() for _ in range(256)]
    encoded = itertools.cycle(
        [p.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint) for p in peers]
    )
    exchange = _timed(lambda: private.exchange(algorithm, peers[0]), seconds)
    decode = _timed(
        lambda: private.exchange(
            algorithm, ec.EllipticCurvePublicKey.from_encoded_point(curve, next(encoded))
        ),
        seconds,
    )
    return Reference(*exchange, *decode)


# --- the run ----------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far (0 where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _figures(results: list[dict[str, Any]], count: int) -> dict[str, Any]:
    """One receiver's rounds: median msg/s, CPU per message, long-run marks."""
    rates = [count / r["seconds"] for r in results]
    figure: dict[str, Any] = {
        "per_s": round(statistics.median(rates)),
        "rounds_per_s": [round(x) for x in rates],
        "cpu_us_per_message": round(
            statistics.median(r["cpu_seconds"] / count * 1e6 for r in results), 1
        ),
        "rss_kib_at_end": results[-1]["marks"][-1][2],
        "runqueue_wait_share": round(
            statistics.median(r["runqueue_wait_seconds"] / r["seconds"] for r in results), 3
        ),
        "emulator_cpu_us_per_message": round(
            statistics.median(r["emulator_cpu_seconds"] / count * 1e6 for r in results), 1
        ),
    }
    marks = results[-1]["marks"]
    if count >= LONG_RUN and len(marks) >= 3:
        (n1, t1, rss1), (n_prev, t_prev, _), (n_end, t_end, rss_end) = (
            marks[0], marks[-2], marks[-1]
        )  # fmt: skip
        first, last = n1 / t1, (n_end - n_prev) / (t_end - t_prev)
        figure["long_run"] = {
            "rss_kib_before_login": results[-1]["rss_kib_before"],
            "rss_kib_at_first_tenth": rss1,
            "rss_kib_at_end": rss_end,
            "per_s_first_tenth": round(first),
            "per_s_last_tenth": round(last),
            "last_vs_first": round(last / first, 3),
        }
    return figure


def _report(
    names: list[str],
    results: dict[str, list[dict[str, Any]]],
    references: list[Reference],
    args: argparse.Namespace,
    skipped: dict[str, str],
) -> dict[str, Any]:
    exchange = statistics.median(r.exchange_per_s for r in references)
    decode = statistics.median(r.decode_per_s for r in references)
    exchange_cpu = statistics.median(r.exchange_cpu_us for r in references)
    data_path = statistics.median(r.data_path_per_s for r in references)
    receivers: dict[str, Any] = {}
    for name in names:
        figure = _figures(results[name], args.messages)
        figure["ratio"] = round(figure["per_s"] / exchange, 3)
        figure["ratio_to_decode_and_exchange"] = round(figure["per_s"] / decode, 3)
        figure["share_of_data_path"] = round(figure["per_s"] / data_path, 3)
        figure["ratio_by_cpu"] = round(exchange_cpu / figure["cpu_us_per_message"], 3)
        figure["rounds_ratio"] = [
            round(args.messages / r["seconds"] / ref.exchange_per_s, 3)
            for r, ref in zip(results[name], references, strict=True)
        ]
        receivers[name] = figure
    out: dict[str, Any] = {
        "messages": args.messages,
        "rounds": args.rounds,
        "encoding": "none (plain app_data)" if args.plain else "aesgcm, a fresh sender key each",
        "pullkin_durable_marks": "journal (SQLite WAL, fsync per batch)" if args.store else "none",
        "reference_per_s": {
            "exchange_only": round(exchange),
            "decode_and_exchange": round(decode),
            # decrypt + parse in-process, nothing else: the ceiling of any receiver
            "data_path_only": round(data_path),
            "data_path_only_ratio": round(data_path / exchange, 3),
            "rounds_exchange_only": [round(r.exchange_per_s) for r in references],
            "exchange_only_cpu_us": round(exchange_cpu, 1),
            "decode_and_exchange_cpu_us": round(
                statistics.median(r.decode_cpu_us for r in references), 1
            ),
        },
        "receivers": receivers,
    }
    if "pullkin_async" in receivers and "pullkin_plain" in receivers:
        plain, asynchronous = receivers["pullkin_plain"], receivers["pullkin_async"]
        out["plain_vs_async"] = round(plain["per_s"] / asynchronous["per_s"], 3)
        out["plain_vs_async_by_cpu"] = round(
            asynchronous["cpu_us_per_message"] / plain["cpu_us_per_message"], 3
        )
    out["targets"] = {
        "pullkin_async_ratio": TARGET_ASYNC,
        "plain_vs_async": TARGET_PLAIN_VS_ASYNC,
    }
    if skipped:
        out["skipped"] = skipped
    return out


def _run_one(
    emulator: subprocess.Popen[str],
    config: dict[str, Any],
    kind: str,
    run: int,
    args: argparse.Namespace,
    peers_python: Path | None,
) -> dict[str, Any]:
    android_id, token = 5_000_000_000_000_000_000 + run, 1_000_000_000_000_000_000 + run
    assert emulator.stdin is not None
    assert emulator.stdout is not None
    request = {"android_id": android_id, "security_token": token, "count": args.messages}
    emulator.stdin.write(json.dumps(request) + "\n")
    emulator.stdin.flush()
    assert emulator.stdout.readline().strip() == "ready"
    keys = config["keys"]
    scalar = int.from_bytes(b64decode_any(keys["private_key"]), "big")
    der = ec.derive_private_key(scalar, ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    endpoints = config["endpoints"]
    spec = {
        "endpoints": endpoints,
        "ca": config["ca"],
        "keys": keys,
        "android_id": android_id,
        "security_token": token,
        "app_id": SUBTYPE,
        "count": args.messages,
        "timeout": args.timeout,
        "mcs_host": endpoints["mcs_host"],
        "mcs_port": endpoints["mcs_port"],
        "checkin_url": endpoints["checkin"],
        "private_der": b64url_encode(der),
        "auth_secret": keys["auth_secret"],
        "profile": str(Path(args.profile) / f"{kind}-{run}.pstats") if args.profile else None,
        "store": args.store,
        "wrap": args.wrap,
    }
    return _receive_in_child(kind, spec, peers_python)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians")
    parser.add_argument("--only", nargs="*", choices=RECEIVERS, help="receivers to run")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per ECDH figure")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per receiver run")
    parser.add_argument(
        "--plain", action="store_true",
        help="unencrypted (Android-app style) messages, pullkin only: the framework alone",
    )  # fmt: skip
    parser.add_argument(
        "--store", action="store_true",
        help="pullkin receives with a credentials file: handled ids made durable in its "
        "journal (group commit) before they are acknowledged; the time runs to the last mark",
    )  # fmt: skip
    parser.add_argument(
        "--wrap", metavar="COMMAND",
        help="run pullkin's receivers under COMMAND, e.g. 'valgrind --tool=callgrind' "
        "(instruction counts, which a loaded machine does not change)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", metavar="DIR",
        help="write a cProfile of each pullkin run to DIR (the figures then include it)",
    )  # fmt: skip
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--core", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        pin(args.core)
        asyncio.run(_serve(json.loads(sys.stdin.readline())))
        return
    if args.receiver:
        _receiver_child(json.loads(sys.stdin.readline()))
        return
    names = [n for n in RECEIVERS if not args.only or n in args.only]
    skipped: dict[str, str] = {}
    if args.plain:
        skipped.update(dict.fromkeys(PEERS & {*names}, "the peers take only encrypted messages"))
    peers_python = None
    if PEERS & {*names} - {*skipped}:
        peers_python, why = _peers_python()
        if why:
            skipped.update(dict.fromkeys(PEERS & {*names}, why))
    names = [n for n in names if n not in skipped]
    mine, server_core = split_cores()
    keys = AppCredentialsKeys.generate()
    serve = [sys.executable, __file__, "--serve"]
    emulator = subprocess.Popen(
        serve if server_core is None else [*serve, "--core", str(server_core)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    pinned = pin({min(mine)} if mine else None)
    assert emulator.stdin is not None
    assert emulator.stdout is not None
    emulator.stdin.write(
        json.dumps({"keys": keys.to_dict(), "messages": args.messages, "plain": args.plain}) + "\n"
    )
    emulator.stdin.flush()
    config = {**json.loads(emulator.stdout.readline()), "keys": keys.to_dict()}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    pool = [
        (_plain_stanza(n) if args.plain else _stanza(keys, n)).SerializeToString()
        for n in range(2_048)
    ]
    references: list[Reference] = []
    runs = itertools.count()
    try:
        for _ in range(args.rounds):
            references.append(
                _raw_ecdh(args.seconds)._replace(
                    data_path_per_s=_data_path(pool, keys, args.seconds)
                )
            )
            for name in names:
                emulator_cpu = _cpu_seconds(emulator.pid)
                result = _run_one(emulator, config, name, next(runs), args, peers_python)
                result["emulator_cpu_seconds"] = _cpu_seconds(emulator.pid) - emulator_cpu
                results[name].append(result)
                print(name, round(args.messages / result["seconds"]), "msg/s", file=sys.stderr)
    finally:
        emulator.stdin.close()
        emulator.wait(timeout=30)
    report = _report(names, results, references, args, skipped)
    report["processes_pinned_apart"] = pinned and server_core is not None
    emit("receive", report)


if __name__ == "__main__":
    main()
