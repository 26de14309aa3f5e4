"""One emulator process of ``bench/fleet.py`` (a "shard"): the Google side for the
devices of a devices file, in a process of its own so the logins of thousands of
workers' connections do not queue behind the benchmark's own work.

Run: ``python bench/_fleet_shard.py DEVICES.tsv CONFIG_OUT.json``.  Every line of the
devices file is ``android_id<TAB>security_token<TAB>fcm_token``: each device is
checked in and holds one Android-app registration of the bench's sender.  Once
serving it writes its config (what ``pullkin fleet run --emulator`` reads) and prints
``ready``; then it answers one line per command on stdin:

* ``count`` — how many devices are logged in now;
* ``rss`` — this process's resident memory, KiB;
* ``send N`` — N FCM v1 sends (data ``{"n": i}``) round-robin to the registrations,
  then ``sent N``;
* ``quit`` (or end of input) — stop.

It reads TLS with a 32 KiB buffer per connection instead of asyncio's 256 KiB (see
``main``): the harness, not the workers measured, would otherwise fill the memory.

Every shard of one run loads the same devices, so a device can log in at whichever
shard its worker is pointed at.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import json
import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pullkin.emulator import Emulator
from pullkin.emulator.state import Device, GcmRegistration

SENDER = "424242424242"


def load(emu: Emulator, path: Path) -> list[str]:
    """Put every device of *path* into *emu*'s state; returns the FCM tokens."""
    package = emu.android_config.android_package or "com.example.pullkin"
    tokens = []
    with path.open() as lines:
        for line in lines:
            android, security, token = line.split()
            android_id = int(android)
            emu.state.devices[android_id] = Device(android_id, int(security))
            emu.state.gcm[token] = GcmRegistration(
                token, android_id, package, SENDER, SENDER, kind="android"
            )
            tokens.append(token)
    return tokens


def widen_backlog(emu: Emulator) -> None:
    """A listen backlog for thousands of workers' connects at once (asyncio's default
    of 100 drops SYNs, and each dropped one costs a second or more of retransmit)."""
    for listening in emu.mcs._server.sockets:
        with socket.socket(fileno=os.dup(listening.fileno())) as raw:
            raw.listen(4096)


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def send(emu: Emulator, tokens: list[str], count: int) -> None:
    for n in range(count):
        await emu.send(tokens[n % len(tokens)], data={"n": str(n)})
        if n % 100 == 99:
            await asyncio.sleep(0)  # let the MCS server write to its sockets meanwhile


async def main(devices: Path, config_out: Path) -> None:
    # asyncio gives every TLS connection a 256 KiB read buffer, zero-filled: 4 GiB for
    # 16,000 connections of the harness alone.  A TLS record is at most 16 KiB.
    asyncio.sslproto.SSLProtocol.max_size = 32 * 1024
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with Emulator() as emu:
        tokens = load(emu, devices)
        widen_backlog(emu)
        config_out.write_text(json.dumps(emu.config()))  # noqa: ASYNC240 - once, tiny
        print("ready", flush=True)
        while line := (await reader.readline()).decode().split():
            command, args = line[0], line[1:]
            if command == "count":
                print(len(emu.mcs.sessions), flush=True)
            elif command == "rss":
                print(rss_kib(), flush=True)
            elif command == "send":
                await send(emu, tokens, int(args[0]))
                print(f"sent {args[0]}", flush=True)
            else:
                break


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
