"""What ``pullkin fleet status`` shows: devices, their owners and lease ages, the
workers with their heartbeat and lag — read in one transaction, formatted as text or
returned as JSON-ready data."""

from __future__ import annotations

from typing import Any

from pullkin.fleet.pgstore import PgStore

__all__ = ["format_status", "read_status"]


async def read_status(store: PgStore, *, devices: bool = False) -> dict[str, Any]:
    """The fleet's state as a JSON-ready dict (``devices=True`` lists every device)."""
    s = store.schema
    async with store.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        totals = await conn.fetchrow(
            f"""SELECT (SELECT count(*) FROM {s}.apps) AS apps,
                       count(*) AS devices,
                       count(*) FILTER (WHERE owner IS NOT NULL AND expires_at > now()) AS leased,
                       count(*) FILTER (WHERE owner IS NOT NULL AND expires_at <= now())
                           AS expired
                FROM {s}.leases"""
        )
        workers = await conn.fetch(
            f"""SELECT w.worker_id, w.host, w.pid, w.figures::text AS figures,
                       extract(epoch FROM now() - w.heartbeat_at) AS heartbeat_age,
                       extract(epoch FROM now() - w.started_at) AS uptime,
                       w.expires_at > now() AS live,
                       (SELECT count(*) FROM {s}.leases l
                        WHERE l.owner = w.worker_id AND l.expires_at > now()) AS leases
                FROM {s}.workers w ORDER BY w.started_at"""
        )
        rows = await conn.fetch(
            f"""SELECT l.android_id, l.owner, l.epoch,
                       extract(epoch FROM now() - l.acquired_at) AS lease_age,
                       CASE WHEN isfinite(l.expires_at)
                       THEN extract(epoch FROM l.expires_at - now()) END AS expires_in,
                       (SELECT count(*) FROM {s}.apps a WHERE a.android_id = l.android_id)
                           AS apps
                FROM {s}.leases l ORDER BY l.owner NULLS FIRST, l.android_id"""
        ) if devices else []  # fmt: skip
    return {
        "schema": s,
        **{key: int(totals[key]) for key in ("apps", "devices", "leased", "expired")},
        "workers": [_worker(row) for row in workers],
        **({"device_leases": [_device(row) for row in rows]} if devices else {}),
    }


def _worker(row: Any) -> dict[str, Any]:
    import json

    return {
        "worker_id": row["worker_id"],
        "host": row["host"],
        "pid": row["pid"],
        "live": bool(row["live"]),
        "leases": int(row["leases"]),
        "heartbeat_age_s": round(float(row["heartbeat_age"]), 1),
        "uptime_s": round(float(row["uptime"]), 1),
        **json.loads(row["figures"]),
    }


def _device(row: Any) -> dict[str, Any]:
    expires_in = row["expires_in"]
    live = row["owner"] is not None and expires_in is not None and float(expires_in) > 0
    return {
        "android_id": row["android_id"],
        "owner": row["owner"] if live else None,
        "apps": int(row["apps"]),
        "lease_age_s": round(float(row["lease_age"]), 1) if live else None,
        "handovers": int(row["epoch"]),
    }


def format_status(status: dict[str, Any]) -> str:
    """*status* as a few aligned lines for a terminal."""
    free = status["devices"] - status["leased"]
    lines = [
        f"schema {status['schema']}: {status['apps']} app(s) on {status['devices']} device(s); "
        f"{status['leased']} leased, {free} waiting for a worker",
        "",
        f"{'WORKER':<36} {'STATE':<5} {'DEVICES':>7} {'CONNECTED':>9} {'HEARTBEAT':>9} "
        f"{'HANDLED':>8} {'PENDING':>7} {'LAG':>7}",
    ]
    for worker in status["workers"]:
        lines.append(
            f"{worker['worker_id'][:36]:<36} {'live' if worker['live'] else 'dead':<5} "
            f"{worker['leases']:>7} {worker.get('connected', 0):>9} "
            f"{worker['heartbeat_age_s']:>8.1f}s {worker.get('handled', 0):>8} "
            f"{worker.get('sink_pending', 0):>7} {worker.get('lag_s', 0.0):>6.1f}s"
        )
    if not status["workers"]:
        lines.append("(no worker: start one with `pullkin fleet run`)")
    for device in status.get("device_leases", []):
        if device is status["device_leases"][0]:
            lines += ["", f"{'DEVICE':<20} {'APPS':>4} {'OWNER':<36} {'LEASE AGE':>9}"]
        age = "-" if device["lease_age_s"] is None else f"{device['lease_age_s']:.1f}s"
        owner = device["owner"] or "(free)"
        lines.append(f"{device['android_id']:<20} {device['apps']:>4} {owner[:36]:<36} {age:>9}")
    return "\n".join(lines)
