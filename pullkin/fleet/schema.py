"""The fleet's PostgreSQL schema, created and migrated by pullkin itself.

One table per concern, all in one schema (``pullkin`` by default; ``?schema=`` in the
store URL picks another, so several fleets or test runs share a database):

* ``apps`` — one row per registered app: its key, the device (``android_id``) it
  receives on, its sender id;
* ``credentials`` — the app's ``AppCredentials`` as JSON, AES-256-GCM encrypted with
  the fleet key when one is set (``key_id`` names the key; NULL = stored as is);
* ``handled_ids`` — the bounded window of handled persistent ids per app (``seq``
  orders them, ``unconfirmed`` marks those the server has not confirmed yet);
* ``leases`` — one row per device: which worker owns it until when (``epoch`` counts
  hand-overs);
* ``workers`` — the live workers, their heartbeat and figures (for the even spread
  and ``pullkin fleet status``).

``migrate`` runs each step newer than the stored version in one transaction under an
advisory lock, so workers starting together migrate once.  Times are the database's
``now()``, never a worker's clock: leases do not depend on clocks agreeing.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

from pullkin.errors import ConfigError

__all__ = ["SCHEMA_VERSION", "check_schema_name", "migrate"]

_STEPS: tuple[str, ...] = (
    # 1: the five tables
    """
    CREATE TABLE {s}.apps (
        app_key    text PRIMARY KEY,
        android_id bigint NOT NULL,
        sender_id  text NOT NULL,
        added_at   timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX apps_by_device ON {s}.apps (android_id);
    CREATE TABLE {s}.credentials (
        app_key    text PRIMARY KEY REFERENCES {s}.apps ON DELETE CASCADE,
        key_id     text,
        nonce      bytea,
        data       bytea NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE SEQUENCE {s}.handled_seq;
    CREATE TABLE {s}.handled_ids (
        app_key       text NOT NULL REFERENCES {s}.apps ON DELETE CASCADE,
        persistent_id text NOT NULL,
        seq           bigint NOT NULL DEFAULT nextval('{s}.handled_seq'),
        unconfirmed   boolean NOT NULL DEFAULT true,
        PRIMARY KEY (app_key, persistent_id)
    );
    CREATE INDEX handled_ids_by_age ON {s}.handled_ids (app_key, seq);
    CREATE TABLE {s}.leases (
        android_id  bigint PRIMARY KEY,
        owner       text,
        expires_at  timestamptz NOT NULL DEFAULT '-infinity',
        acquired_at timestamptz,
        epoch       bigint NOT NULL DEFAULT 0
    );
    CREATE INDEX leases_by_owner ON {s}.leases (owner);
    CREATE TABLE {s}.workers (
        worker_id    text PRIMARY KEY,
        host         text NOT NULL,
        pid          integer NOT NULL,
        started_at   timestamptz NOT NULL DEFAULT now(),
        heartbeat_at timestamptz NOT NULL DEFAULT now(),
        expires_at   timestamptz NOT NULL,
        figures      jsonb NOT NULL DEFAULT '{{}}'
    );
    """,
)

#: The schema version this pullkin writes.
SCHEMA_VERSION = len(_STEPS)
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema_name(name: str) -> str:
    """*name* if it is a plain lower-case SQL identifier (it is put into SQL text)."""
    if not _NAME.match(name):
        raise ConfigError(
            f"fleet schema name {name!r} must be a lower-case SQL identifier "
            "(letters, digits, underscore; at most 63)"
        )
    return name


async def migrate(conn: Any, schema: str) -> int:
    """Create or upgrade *schema* on the asyncpg connection *conn*; returns the version
    found before (0 = new).  A schema newer than this pullkin is refused."""
    s = check_schema_name(schema)
    lock = zlib.crc32(f"pullkin fleet schema {s}".encode())
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {s}.schema_version (version int NOT NULL)")
        found = await conn.fetchval(f"SELECT max(version) FROM {s}.schema_version") or 0
        if found > SCHEMA_VERSION:
            raise ConfigError(
                f"the fleet schema {s!r} is at version {found}, newer than this pullkin "
                f"({SCHEMA_VERSION}): upgrade pullkin on every worker"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            await conn.execute(_STEPS[version - 1].format(s=s))
            await conn.execute(f"INSERT INTO {s}.schema_version VALUES ($1)", version)
    return int(found)
