"""The servers fleet and sink tests talk to: PostgreSQL, Redis, NATS with JetStream on
their standard loopback ports (``.ci/provide/10-services.sh`` makes sure they answer in
CI).  ``need_*`` skips a test (or fails it under ``PULLKIN_REQUIRE_SERVICES=1``) when
one is missing; ``RUN`` is unique per test process, so parallel runs never share a
database schema, a stream or a subject."""

from __future__ import annotations

import importlib.util
import os
import secrets
import socket

from _require import need

__all__ = [
    "NATS_URL",
    "POSTGRES_DSN",
    "REDIS_URL",
    "RUN",
    "need_nats",
    "need_postgres",
    "need_redis",
    "unique",
]

POSTGRES_DSN = os.environ.get("PULLKIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PULLKIN_TEST_REDIS", "redis://127.0.0.1:6379")
NATS_URL = os.environ.get("PULLKIN_TEST_NATS", "nats://127.0.0.1:4222")
RUN = f"t{os.getpid()}_{secrets.token_hex(3)}"
_counter = 0


def unique(prefix: str) -> str:
    """A name no other test (of this run or another) uses: ``prefix_<run>_<n>``."""
    global _counter
    _counter += 1
    return f"{prefix}_{RUN}_{_counter}"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


_EXTRA = "(pip install -e '.[dev]' brings the client)"


def need_postgres() -> None:
    need(
        _importable("asyncpg") and _answers(5432),
        f"PostgreSQL on 127.0.0.1:5432 with asyncpg {_EXTRA}",
    )


def need_redis() -> None:
    need(_importable("redis") and _answers(6379), f"Redis on 127.0.0.1:6379 with redis-py {_EXTRA}")


def need_nats() -> None:
    need(
        _importable("nats") and _answers(4222),
        f"NATS with JetStream on 127.0.0.1:4222 with nats-py {_EXTRA}",
    )
