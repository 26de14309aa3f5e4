"""`pullkin fleet` keygen, add and status against a real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _services import POSTGRES_DSN, need_postgres, unique

from pullkin.models import AppCredentials, AppCredentialsFcm, AppCredentialsGcm
from pullkin.store import CredentialStore


def _pullkin(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULLKIN_FLEET")}
    if key is not None:
        env["PULLKIN_FLEET_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "pullkin", "fleet", *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
def creds(tmp_path: Path) -> Path:
    path = tmp_path / "creds.json"
    gcm = AppCredentialsGcm(5123, 77, token="gcm-token", app_id="wp:x#1")
    CredentialStore.open(path).put(
        "424242424242", AppCredentials(gcm=gcm, fcm=AppCredentialsFcm(token="secret-fcm-token"))
    )
    return path


def test_fleet_add_then_status_shows_the_device_waiting_for_a_worker(creds: Path) -> None:
    need_postgres()
    store = f"{POSTGRES_DSN}?schema={unique('cli')}"
    refused = _pullkin("add", "--store", store, str(creds))
    assert refused.returncode == 2
    assert "PULLKIN_FLEET_KEY is not set" in refused.stderr
    key = _pullkin("keygen").stdout.strip()
    try:
        added = _pullkin("add", "--store", store, str(creds), key=key)
        assert added.returncode == 0, added.stderr
        assert "added 424242424242/5123" in added.stdout
        assert "secret-fcm-token" not in added.stdout + added.stderr
        status = _pullkin("status", "--store", store, "--json", "--devices")
        assert status.returncode == 0, status.stderr
        document = json.loads(status.stdout)
        assert (document["apps"], document["devices"], document["leased"]) == (1, 1, 0)
        assert document["device_leases"][0]["owner"] is None
        table = _pullkin("status", "--store", store).stdout
        assert "1 app(s) on 1 device(s); 0 leased, 1 waiting" in table
    finally:
        import asyncio

        from pullkin.fleet import PgStore

        async def drop() -> None:
            pg = await PgStore.open(store)
            await pg.pool.execute(f"DROP SCHEMA {pg.schema} CASCADE")
            await pg.aclose()

        asyncio.run(drop())


def test_fleet_without_a_store_says_how_to_name_one() -> None:
    result = _pullkin("status")
    assert result.returncode == 2
    assert "--store postgresql://" in result.stderr
