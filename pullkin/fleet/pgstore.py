"""``PgStore``: the ``store.Store`` interface with PostgreSQL as its home (asyncpg).

Every method is one round trip or one transaction on a small connection pool.
``record_ids`` — the group commit — is one transaction whatever the number of apps:
one ``INSERT … SELECT FROM unnest(…)`` for the handled ids of every app (an id seen
again takes a new ``seq`` and becomes unconfirmed), one ``UPDATE`` for the confirmed
ones, and a ``DELETE`` of the oldest rows of each app that went past the window
(counted in memory, so no app is scanned to trim it).  PostgreSQL's commit is durable
when it returns (``synchronous_commit`` on, its default).

App keys: every row is keyed by the app's key (``Pullkin.add_app(key=...)``).  A fleet
receives for many devices of one sender id, so ``add_app`` keys each app
``<sender id>/<android id>`` (``app_key()``) and keeps its sender id in
``apps.sender_id``; ``apps_of`` hands both back, so messages carry the sender id.  The
key is only a name: nothing parses it.  Credentials are sealed with the fleet key when
one is given (``fleet._secrets``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

from pullkin.errors import ConfigError, StoreError
from pullkin.fleet._secrets import FleetKey, seal, unseal
from pullkin.fleet.schema import check_schema_name, migrate
from pullkin.models import AppCredentials
from pullkin.store import IdChanges, StoredIds

__all__ = ["PgStore", "StoredApp", "app_key", "asyncpg_module"]

log = logging.getLogger(__name__)


def asyncpg_module() -> Any:
    try:
        import asyncpg
    except ImportError:
        raise ConfigError(
            "the PostgreSQL store needs asyncpg: pip install 'pullkin[fleet]'"
        ) from None
    return asyncpg


def app_key(sender_id: str, android_id: int) -> str:
    """The fleet's key of the app of *sender_id* on device *android_id*."""
    return f"{sender_id}/{android_id}"


class StoredApp(NamedTuple):
    """One app as ``PgStore.apps_of`` returns it."""

    key: str
    sender_id: str
    credentials: AppCredentials


def _sender_of(key: str, credentials: AppCredentials, sender_id: str | None) -> str:
    """The sender id a new app row gets (see ``PgStore.put_credentials``)."""
    config = credentials.config
    return sender_id or (config.sender_id if config is not None else key)


def split_dsn(url: str) -> tuple[str, str]:
    """``(dsn, schema)`` from a store URL: ``?schema=NAME`` is ours, not libpq's."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"a fleet store URL starts with postgresql://, got {parts.scheme}://")
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), "pullkin")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return parts._replace(query=rest).geturl(), check_schema_name(schema)


class PgStore:
    """A ``Store`` in PostgreSQL; see the module docstring.  Use :meth:`open`."""

    def __init__(
        self,
        pool: Any,
        schema: str,
        *,
        window: int = 10_000,
        key: FleetKey | None = None,
        dsn: str | None = None,
    ) -> None:
        if window < 1:
            raise ConfigError("the handled-id window must hold at least one id")
        self.pool = pool
        self.schema = check_schema_name(schema)
        self.key = key
        self.dsn = dsn
        self._window = window
        self._counts: dict[str, int] = {}  # rows of handled_ids per app, where known
        self._cache: dict[str, AppCredentials] = {}
        self._prefetched: dict[str, StoredIds] = {}  # windows for the next load_ids

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        window: int = 10_000,
        key: FleetKey | None = None,
        min_size: int = 1,
        max_size: int = 4,
    ) -> PgStore:
        """Connect to *url* (``postgresql://…[?schema=NAME]``), create or migrate the
        schema, and return the store."""
        asyncpg = asyncpg_module()
        dsn, schema = split_dsn(url)
        try:
            pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from None
        try:
            async with pool.acquire() as conn:
                await migrate(conn, schema)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, schema, window=window, key=key, dsn=dsn)

    @property
    def window(self) -> int:
        return self._window

    async def aclose(self) -> None:
        await self.pool.close()

    async def connect(self) -> Any:
        """A connection of its own (not from the pool), e.g. to LISTEN on."""
        return await asyncpg_module().connect(self.dsn)

    def __repr__(self) -> str:
        return f"<PgStore schema={self.schema} window={self._window}>"

    # --- credentials ---------------------------------------------------------------------

    async def get_credentials(self, key: str) -> AppCredentials | None:
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        row = await self.pool.fetchrow(
            f"SELECT key_id, nonce, data FROM {self.schema}.credentials WHERE app_key = $1",
            key,
        )
        return None if row is None else self._open_row(key, row)

    async def add_app(self, sender_id: str, credentials: AppCredentials) -> str:
        """Store an app for the fleet under its own key (``app_key``); returns the key."""
        [key] = await self.add_apps(sender_id, [credentials])
        return key

    async def add_apps(self, sender_id: str, credentials: Sequence[AppCredentials]) -> list[str]:
        """``add_app`` for many apps of *sender_id* in one transaction (an import of
        thousands of accounts is a few round trips, not thousands)."""
        rows = [(app_key(sender_id, c.gcm.android_id), c, sender_id) for c in credentials]
        async with self.pool.acquire() as conn, conn.transaction():
            await self._put(conn, rows)
        return [key for key, _, _ in rows]

    async def put_credentials(
        self, key: str, credentials: AppCredentials, *, sender_id: str | None = None
    ) -> None:
        """Store *credentials* under *key*.  The app's sender id is *sender_id*, else
        the one already stored, else its Firebase config's, else *key* itself (as
        ``Pullkin`` keys an app by default)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self._put(conn, [(key, credentials, sender_id)])

    async def _put(self, conn: Any, rows: Sequence[tuple[str, AppCredentials, str | None]]) -> None:
        """Store each ``(key, credentials, sender id or None)``; a device no app is on
        any more loses its lease row."""
        s = self.schema
        keys = [key for key, _, _ in rows]
        before = await conn.fetch(
            f"SELECT app_key, android_id FROM {s}.apps WHERE app_key = ANY($1::text[])", keys
        )
        await conn.executemany(
            f"""INSERT INTO {s}.apps (app_key, android_id, sender_id) VALUES ($1, $2, $3)
                ON CONFLICT (app_key) DO UPDATE
                SET android_id = $2, sender_id = coalesce($4, apps.sender_id)""",
            [(key, c.gcm.android_id, _sender_of(key, c, sender), sender)
             for key, c, sender in rows],
        )  # fmt: skip
        await conn.executemany(
            f"""INSERT INTO {s}.credentials (app_key, key_id, nonce, data)
                VALUES ($1, $2, $3, $4) ON CONFLICT (app_key) DO UPDATE
                SET key_id = $2, nonce = $3, data = $4, updated_at = now()""",
            [(key, *seal(self.key, key, json.dumps(c.to_dict()).encode()))
             for key, c, _ in rows],
        )  # fmt: skip
        devices = sorted({c.gcm.android_id for _, c, _ in rows})
        await conn.execute(
            f"""INSERT INTO {s}.leases (android_id) SELECT unnest($1::bigint[])
                ON CONFLICT DO NOTHING""",
            devices,
        )
        for old in {row["android_id"] for row in before} - set(devices):
            await self._drop_lease_if_unused(conn, old)
        self._cache.update((key, c) for key, c, _ in rows)

    async def remove_app(self, key: str) -> None:
        s = self.schema
        async with self.pool.acquire() as conn, conn.transaction():
            android_id = await conn.fetchval(
                f"DELETE FROM {s}.apps WHERE app_key = $1 RETURNING android_id", key
            )
            if android_id is not None:
                await self._drop_lease_if_unused(conn, android_id)
        self._cache.pop(key, None)
        self._counts.pop(key, None)

    async def _drop_lease_if_unused(self, conn: Any, android_id: int) -> None:
        s = self.schema
        await conn.execute(
            f"""DELETE FROM {s}.leases WHERE android_id = $1
                AND NOT EXISTS (SELECT 1 FROM {s}.apps WHERE android_id = $1)""",
            android_id,
        )

    async def sender_ids(self) -> list[str]:
        """Every app's key (``Store`` calls them sender ids: they are, unless an app
        was stored under a key of its own)."""
        rows = await self.pool.fetch(f"SELECT app_key FROM {self.schema}.apps ORDER BY app_key")
        return [row[0] for row in rows]

    async def apps_of(self, android_ids: Sequence[int]) -> dict[int, list[StoredApp]]:
        """The apps of each device in *android_ids*, in one query."""
        rows = await self.pool.fetch(
            f"""SELECT a.android_id, a.app_key, a.sender_id, c.key_id, c.nonce, c.data
                FROM {self.schema}.apps a JOIN {self.schema}.credentials c USING (app_key)
                WHERE a.android_id = ANY($1::bigint[]) ORDER BY a.android_id, a.app_key""",
            list(android_ids),
        )
        found: dict[int, list[StoredApp]] = {}
        for row in rows:
            credentials = self._open_row(row["app_key"], row)
            app = StoredApp(row["app_key"], row["sender_id"], credentials)
            found.setdefault(row["android_id"], []).append(app)
        return found

    def _open_row(self, key: str, row: Any) -> AppCredentials:
        plaintext = unseal(self.key, key, row["key_id"], row["nonce"], row["data"])
        try:
            credentials = AppCredentials.from_dict(json.loads(plaintext))
        except (ValueError, ConfigError) as exc:
            raise ConfigError(
                f"the stored credentials of app {key!r} are unreadable: {exc}"
            ) from None
        self._cache[key] = credentials
        return credentials

    def forget_cached(self, keys: Iterable[str]) -> None:
        """Drop what this process remembers of *keys* (another worker owns them now)."""
        for key in keys:
            self._cache.pop(key, None)
            self._counts.pop(key, None)
            self._prefetched.pop(key, None)

    # --- the handled-id window ------------------------------------------------------------

    async def prefetch_ids(self, keys: Sequence[str]) -> None:
        """Read the windows of *keys* in one query, for the next ``load_ids`` of each
        (a worker taking over thousands of apps makes one round trip, not thousands).
        Only the last call's windows are kept."""
        rows = await self.pool.fetch(
            f"""SELECT app_key, persistent_id, unconfirmed FROM (
                    SELECT app_key, persistent_id, unconfirmed, seq, row_number()
                        OVER (PARTITION BY app_key ORDER BY seq DESC) AS newest
                    FROM {self.schema}.handled_ids WHERE app_key = ANY($1::text[])) AS w
                WHERE newest <= $2 ORDER BY app_key, seq""",
            list(keys), self._window,
        )  # fmt: skip
        found: dict[str, StoredIds] = {key: StoredIds([], []) for key in keys}
        for key, pid, unconfirmed in rows:
            found[key].handled.append(pid)
            if unconfirmed:
                found[key].unconfirmed.append(pid)
        self._prefetched = found

    async def load_ids(self, key: str) -> StoredIds:
        prefetched = self._prefetched.pop(key, None)
        if prefetched is not None:
            self._counts[key] = len(prefetched.handled)
            return prefetched
        rows = await self.pool.fetch(
            f"""SELECT persistent_id, unconfirmed FROM {self.schema}.handled_ids
                WHERE app_key = $1 ORDER BY seq DESC LIMIT $2""",
            key, self._window,
        )  # fmt: skip
        rows.reverse()
        self._counts[key] = len(rows)
        handled = [row[0] for row in rows]
        return StoredIds(handled, [row[0] for row in rows if row[1]])

    async def record_ids(self, changes: Sequence[IdChanges]) -> None:
        keys, pids = _flatten(changes)
        confirmed = [(c.sender_id, pid) for c in changes for pid in c.confirmed]
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                counts = await self._known_counts(conn, {c.sender_id for c in changes if c.handled})
                if pids:
                    await self._append(conn, keys, pids, counts)
                if confirmed:
                    await self._confirm(conn, confirmed)
                await self._trim(conn, counts)
        except asyncpg_module().PostgresError as exc:
            raise StoreError(f"PostgreSQL refused the handled ids: {exc}") from exc
        self._counts.update(counts)

    async def _known_counts(self, conn: Any, keys: set[str]) -> dict[str, int]:
        counts = {key: self._counts[key] for key in keys if key in self._counts}
        unknown = [key for key in keys if key not in counts]
        if unknown:
            rows = await conn.fetch(
                f"""SELECT k, (SELECT count(*) FROM {self.schema}.handled_ids WHERE app_key = k)
                    FROM unnest($1::text[]) AS k""",
                unknown,
            )
            counts.update({row[0]: row[1] for row in rows})
        return counts

    async def _append(
        self, conn: Any, keys: list[str], pids: list[str], counts: dict[str, int]
    ) -> None:
        s = self.schema
        # An app removed meanwhile (its ids were still on their way) is skipped, not an
        # error that would hold every other app's marks back.
        rows = await conn.fetch(
            f"""INSERT INTO {s}.handled_ids AS h (app_key, persistent_id)
                SELECT k, p FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(k, p, n)
                WHERE EXISTS (SELECT 1 FROM {s}.apps a WHERE a.app_key = t.k)
                ORDER BY n
                ON CONFLICT (app_key, persistent_id)
                DO UPDATE SET seq = nextval('{s}.handled_seq'), unconfirmed = true
                RETURNING h.app_key, (xmax = 0) AS fresh""",
            keys, pids,
        )  # fmt: skip
        for row in rows:
            if row["fresh"]:
                counts[row["app_key"]] = counts.get(row["app_key"], 0) + 1

    async def _confirm(self, conn: Any, confirmed: list[tuple[str, str]]) -> None:
        await conn.execute(
            f"""UPDATE {self.schema}.handled_ids AS h SET unconfirmed = false
                FROM unnest($1::text[], $2::text[]) AS t(k, p)
                WHERE h.app_key = t.k AND h.persistent_id = t.p AND h.unconfirmed""",
            [k for k, _ in confirmed], [p for _, p in confirmed],
        )  # fmt: skip

    async def _trim(self, conn: Any, counts: dict[str, int]) -> None:
        s = self.schema
        for key, count in counts.items():
            if count > self._window:
                await conn.execute(
                    f"""DELETE FROM {s}.handled_ids WHERE ctid IN (
                        SELECT ctid FROM {s}.handled_ids WHERE app_key = $1
                        ORDER BY seq LIMIT $2)""",
                    key, count - self._window,
                )  # fmt: skip
                counts[key] = self._window


def _flatten(changes: Sequence[IdChanges]) -> tuple[list[str], list[str]]:
    """Handled ids of every app as two parallel lists, each id once (its last
    occurrence wins, as a repeated id counts as the newest)."""
    order: dict[tuple[str, str], None] = {}
    for change in changes:
        for pid in change.handled:
            order.pop((change.sender_id, pid), None)
            order[(change.sender_id, pid)] = None
    return [k for k, _ in order], [p for _, p in order]
