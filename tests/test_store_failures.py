"""The credentials file when the disk says no: a write that fails half way leaves the
old file and no temp copy of the secrets; a file that cannot be read (not UTF-8, not a
file) is a ConfigError naming it, and stays untouched."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_store import credentials

from pullkin.errors import ConfigError
from pullkin.store import CredentialStore


def temp_copies(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.tmp"))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temp_copy(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.json"
    CredentialStore.open(path).put("42", credentials())
    before = path.read_bytes()
    # A real short write: the child may not grow any file past the current size
    # (EFBIG, as on a full disk or a quota), so its temp file fails half way.
    code = textwrap.dedent(
        f"""
        import resource, signal
        from pullkin.store import CredentialStore
        store = CredentialStore.open({str(path)!r})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before)}, {len(before)}))
        try:
            store.put("43", store.get("42"))
        except OSError as exc:
            print("failed:", exc.strerror)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("failed: File too large"), result.stdout
    assert path.read_bytes() == before
    assert temp_copies(tmp_path) == []
    assert CredentialStore.open(path).sender_ids() == ["42"]


def test_a_file_that_is_not_utf8_is_a_config_error_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    content = b'{"version": 1, "apps": {"\xff\xfe": {}}}'
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="it is not UTF-8 text") as info:
        CredentialStore.open(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == content


def test_a_path_that_cannot_be_read_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.mkdir()  # a directory where the file should be
    with pytest.raises(
        ConfigError, match=r"cannot read credentials file .*c\.json: Is a directory"
    ):
        CredentialStore.open(path)
    assert path.is_dir()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"version": 0, "apps": {}}', "no 'apps' object"),
        ('{"version": 1, "apps": []}', "no 'apps' object"),
        ('{"version": 1, "apps": {"42": []}}', r"apps\['42'\] is not an app entry"),
        ('["version", 1]', "no integer 'version'"),
    ],
)
def test_a_file_of_the_wrong_shape_is_a_config_error(
    tmp_path: Path, content: str, why: str
) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=why):
        CredentialStore.open(path)
    assert path.read_text() == content
