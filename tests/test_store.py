"""CredentialStore: schema, atomic writes, permissions, locking, merging, corrupt files."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from pullkin.errors import ConfigError
from pullkin.models import (
    AppCredentials,
    AppCredentialsFcm,
    AppCredentialsGcm,
    AppCredentialsKeys,
    FirebaseConfig,
    FirebaseInstallation,
)
from pullkin.store import STORE_VERSION, CredentialStore

NOW = dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc)


def credentials(n: int = 1) -> AppCredentials:
    return AppCredentials(
        gcm=AppCredentialsGcm(
            android_id=1000 + n,
            security_token=2000 + n,
            token=f"gcm-{n}:APA91bSECRET",
            app_id="wp:x#1",
        ),
        fcm=AppCredentialsFcm(token=f"fcm-{n}:APA91bSECRET", created_at=NOW),
        keys=AppCredentialsKeys.generate(),
        installation=FirebaseInstallation(
            fid="fAAAAAAAAAAAAAAAAAAAAA",
            refresh_token="1_REFRESHSECRET",
            auth_token="AUTHSECRET",
            expires_at=NOW,
        ),
        config=FirebaseConfig(
            api_key="AIzaSECRET", project_id="p", app_id="1:42:web:a", sender_id="42"
        ),
    )


def test_put_get_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    store = CredentialStore.open(path)
    assert store.path == path
    assert store.get("42") is None
    store.put("42", credentials())
    again = CredentialStore.open(path)
    assert again.get("42") == credentials().replace(keys=again.get("42").keys)  # type: ignore[union-attr]
    assert again.get("42") == store.get("42")
    assert again.sender_ids() == ["42"]


def test_file_schema_is_versioned(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    store = CredentialStore.open(path)
    store.put("42", credentials())
    store.add_persistent_ids("42", ["0:1", "0:2"])
    store.save()
    document = json.loads(path.read_text())
    assert document["version"] == STORE_VERSION == 1
    assert set(document["apps"]) == {"42"}
    assert document["apps"]["42"]["persistent_ids"] == ["0:1", "0:2"]
    assert document["apps"]["42"]["unconfirmed_ids"] == []
    assert AppCredentials.from_dict(document["apps"]["42"]["credentials"]) == store.get("42")


def test_file_is_0600_and_directory_0700(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "creds.json"
    store = CredentialStore.open(path)
    store.put("42", credentials())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_world_readable_file_is_reported_and_fixed_on_save(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "creds.json"
    CredentialStore.open(path).put("42", credentials())
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="pullkin.store"):
        store = CredentialStore.open(path)
    assert "accessible by other users" in caplog.text
    store.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_persistent_ids_are_a_bounded_window_oldest_first(tmp_path: Path) -> None:
    store = CredentialStore.open(tmp_path / "c.json", window=3)
    store.put("42", credentials())
    store.add_persistent_ids("42", ["a", "b"])
    store.add_persistent_ids("42", ["c", "d"])
    assert store.persistent_ids("42") == ["b", "c", "d"]
    store.add_persistent_ids("42", ["b"])  # seen again: now the newest
    assert store.persistent_ids("42") == ["c", "d", "b"]
    store.remove_persistent_ids("42", ["d", "zzz"])
    assert store.persistent_ids("42") == ["c", "b"]


def test_persistent_ids_stay_in_memory_until_save(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    store = CredentialStore.open(path)
    store.put("42", credentials())
    store.add_persistent_ids("42", ["0:1"])
    assert CredentialStore.open(path).persistent_ids("42") == []
    store.save()
    assert CredentialStore.open(path).persistent_ids("42") == ["0:1"]


def test_put_keeps_persistent_ids_and_remove_drops_everything(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    store = CredentialStore.open(path)
    store.put("42", credentials(1))
    store.add_persistent_ids("42", ["0:1"])
    store.put("42", credentials(2))
    assert CredentialStore.open(path).persistent_ids("42") == ["0:1"]
    store.remove("42")
    assert store.get("42") is None
    assert store.persistent_ids("42") == []
    assert CredentialStore.open(path).sender_ids() == []


def test_persistent_ids_need_stored_credentials(tmp_path: Path) -> None:
    store = CredentialStore.open(tmp_path / "c.json")
    with pytest.raises(ConfigError, match="no credentials stored for sender id '7'"):
        store.add_persistent_ids("7", ["x"])


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "no integer 'version'"),
        ('{"version": 1}', "no 'apps' object"),
        ('{"version": 1, "apps": {"42": 5}}', "is not an app entry"),
        (
            '{"version": 1, "apps": {"42": {"credentials": {}, "persistent_ids": []}}}',
            "credentials",
        ),
        (
            '{"version": 1, "apps": {"42": {"credentials": {"version": 1}, "persistent_ids": [1]}}}',
            "persistent_ids must be a list of strings",
        ),
        (
            '{"version": 1, "apps": {"42": {"credentials": {"version": 1}, "unconfirmed_ids": 5}}}',
            "unconfirmed_ids must be a list of strings",
        ),
    ],
)
def test_corrupt_file_raises_config_error_naming_the_file_and_is_left_alone(
    tmp_path: Path, content: str, why: str
) -> None:
    path = tmp_path / "creds.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=why) as info:
        CredentialStore.open(path)
    assert str(path) in str(info.value)
    assert "register again" in str(info.value)
    assert path.read_text() == content


def test_newer_version_asks_to_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    path.write_text('{"version": 2, "apps": {}}')
    with pytest.raises(ConfigError, match=r"newer pullkin.*upgrade pullkin") as info:
        CredentialStore.open(path)
    assert str(path) in str(info.value)


def test_save_refuses_to_overwrite_a_file_corrupted_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    store = CredentialStore.open(path)
    store.put("42", credentials())
    path.write_text("garbage")
    with pytest.raises(ConfigError, match="unreadable"):
        store.put("43", credentials(3))
    assert path.read_text() == "garbage"


def test_secrets_are_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        store = CredentialStore.open(tmp_path / "c.json")
        store.put("42", credentials())
        store.add_persistent_ids("42", ["0:1"])
        store.save()
        CredentialStore.open(tmp_path / "c.json")
    assert caplog.records  # the store does log what it does
    assert "SECRET" not in caplog.text
    assert "SECRET" not in repr(store)


def test_save_merges_apps_written_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    first = CredentialStore.open(path)
    second = CredentialStore.open(path)
    first.put("1", credentials(1))
    second.put("2", credentials(2))  # second never saw "1" but must not drop it
    assert sorted(CredentialStore.open(path).sender_ids()) == ["1", "2"]
    assert first.get("2") is None
    first.put("3", credentials(3))
    assert sorted(first.sender_ids()) == ["1", "2", "3"]
    # An untouched app follows the file: second's later change is not undone by first.
    second.put("1", credentials(11))
    first.save()
    assert CredentialStore.open(path).get("1") == second.get("1")
    second.remove("2")
    first.save()
    assert sorted(CredentialStore.open(path).sender_ids()) == ["1", "3"]


def test_save_waits_for_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    store = CredentialStore.open(path)
    lock_fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    done = threading.Event()

    def put() -> None:
        store.put("42", credentials())
        done.set()

    worker = threading.Thread(target=put)
    worker.start()
    try:
        assert not done.wait(0.3)
        assert not path.exists()
    finally:
        os.close(lock_fd)
    worker.join(5)
    assert done.is_set()
    assert path.exists()


_CHILD = textwrap.dedent(
    """
    import json, sys
    from pullkin.models import AppCredentials
    from pullkin.store import CredentialStore
    path, prefix, count, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    creds = AppCredentials.from_dict(json.loads(data))
    for i in range(count):
        store = CredentialStore.open(path)
        store.put(f"{prefix}{i}", creds)
        store.add_persistent_ids(f"{prefix}{i}", [f"{prefix}:{i}"])
        store.save()
    """
)


def test_concurrent_writer_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    data = json.dumps(credentials().to_dict())
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(path), prefix, "15", data])
        for prefix in ("1", "2", "3")
    ]
    assert [child.wait(60) for child in children] == [0, 0, 0]
    store = CredentialStore.open(path)
    expected = {f"{p}{i}" for p in ("1", "2", "3") for i in range(15)}
    assert set(store.sender_ids()) == expected
    assert all(store.persistent_ids(s) == [f"{s[0]}:{s[1:]}"] for s in expected)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


_CRASH = textwrap.dedent(
    """
    import json, os, sys
    from pullkin.models import AppCredentials
    from pullkin.store import CredentialStore
    store = CredentialStore.open(sys.argv[1])
    creds = AppCredentials.from_dict(json.loads(sys.argv[2]))
    def crash(src, dst):
        os._exit(9)  # the process dies after the temp file is written, before the rename
    os.replace = crash
    store.put("new", creds)
    """
)


def test_a_crash_between_temp_file_and_rename_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    CredentialStore.open(path).put("old", credentials(1))
    before = path.read_bytes()
    child = subprocess.run(
        [sys.executable, "-c", _CRASH, str(path), json.dumps(credentials(2).to_dict())], timeout=60
    )
    assert child.returncode == 9
    assert path.read_bytes() == before
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1  # the orphan is a complete new document, never read
    assert "new" in json.loads(leftovers[0].read_text())["apps"]
    store = CredentialStore.open(path)
    assert store.sender_ids() == ["old"]
    store.put("again", credentials(3))
    assert sorted(CredentialStore.open(path).sender_ids()) == ["again", "old"]


def test_window_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="window"):
        CredentialStore.open(tmp_path / "c.json", window=0)


def test_loading_trims_to_the_window(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    store = CredentialStore.open(path)
    store.put("42", credentials())
    store.add_persistent_ids("42", [str(i) for i in range(10)])
    store.save()
    assert CredentialStore.open(path, window=4).persistent_ids("42") == ["6", "7", "8", "9"]


def test_persistent_state_round_trips_handled_and_unconfirmed(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    store = CredentialStore.open(path, window=3)
    assert store.persistent_state("42") == ([], [])
    store.put("42", credentials())
    store.set_persistent_state("42", ["a", "b", "c", "d"], ["c", "d"])
    assert store.persistent_state("42") == (["b", "c", "d"], ["c", "d"])
    assert store.persistent_ids("42") == ["b", "c", "d"]
    store.save()
    document = json.loads(path.read_text())["apps"]["42"]
    assert (document["persistent_ids"], document["unconfirmed_ids"]) == (
        ["b", "c", "d"],
        ["c", "d"],
    )
    assert CredentialStore.open(path).persistent_state("42") == (["b", "c", "d"], ["c", "d"])
    store.remove_persistent_ids("42", ["d"])
    assert store.persistent_state("42") == (["b", "c"], ["c"])


def test_a_file_without_unconfirmed_ids_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    entry = {"credentials": credentials().to_dict(), "persistent_ids": ["0:1"]}
    path.write_text(json.dumps({"version": 1, "apps": {"42": entry}}))
    assert CredentialStore.open(path).persistent_state("42") == (["0:1"], [])


def test_set_persistent_state_needs_stored_credentials(tmp_path: Path) -> None:
    store = CredentialStore.open(tmp_path / "c.json")
    with pytest.raises(ConfigError, match="no credentials stored"):
        store.set_persistent_state("7", [], [])
