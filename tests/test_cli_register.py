"""`pullkin register`: arguments, output, reuse of the credentials file, exit codes.

The command runs its own event loop (asyncio.run), so it is called in a worker thread
while the test's loop serves the local fake Google (test_core_fakes) described by an
emulator-style config file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import anyio
import pytest
from test_core_fakes import FakeGoogle, Fault, fake_google

from pullkin.cli import main
from pullkin.models import AppCredentials

pytestmark = pytest.mark.anyio

WEB = {
    "api_key": "AIzaSyCliKey",
    "project_id": "proj-cli",
    "app_id": "1:777:web:abc",
    "sender_id": "777",
}
ANDROID = {
    **WEB,
    "app_id": "1:777:android:def",
    "android_package": "com.ex",
    "android_cert": "ab" * 20,
}


def emulator_file(tmp_path: Path, fake: FakeGoogle) -> Path:
    assert fake.endpoints is not None
    path = tmp_path / "emu.json"
    document = {
        "endpoints": fake.endpoints.to_dict(),
        "ca_path": None,
        "firebase_config": WEB,
        "android_config": ANDROID,
    }
    path.write_text(json.dumps(document))
    return path


async def pullkin(*argv: str) -> int:
    return await anyio.to_thread.run_sync(main, list(argv))


async def test_register_prints_the_token_and_reuses_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    creds_path = tmp_path / "state" / "creds.json"
    async with fake_google() as fake:
        emu = emulator_file(tmp_path, fake)
        assert (
            await pullkin("register", "--emulator", str(emu), "--credentials", str(creds_path)) == 0
        )
        first = capsys.readouterr()
        assert fake.routes == ["checkin", "register3", "installations", "registrations"]
        assert (
            await pullkin("register", "--emulator", str(emu), "--credentials", str(creds_path)) == 0
        )
        second = capsys.readouterr()
        assert len(fake.requests) == 4  # nothing was due: no request at all
    token = first.out.strip()
    assert token.startswith("fcm")
    assert "\n" not in token
    assert second.out.strip() == token
    assert first.err == ""
    assert stat.S_IMODE(creds_path.stat().st_mode) == 0o600
    stored = json.loads(creds_path.read_text())["apps"]["777"]["credentials"]
    assert AppCredentials.from_dict(stored).fcm.token == token


async def test_json_output_is_the_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with fake_google() as fake:
        emu = emulator_file(tmp_path, fake)
        code = await pullkin(
            "register", "--emulator", str(emu), "--credentials", str(tmp_path / "c.json"), "--json"
        )
    assert code == 0
    credentials = AppCredentials.from_dict(json.loads(capsys.readouterr().out))
    assert credentials.fcm.is_success
    assert credentials.keys is not None
    assert credentials.config is not None
    assert credentials.config.project_id == "proj-cli"


async def test_explicit_arguments_override_the_emulator_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with fake_google() as fake:
        emu = emulator_file(tmp_path, fake)
        code = await pullkin(
            "register", "--emulator", str(emu), "--credentials", str(tmp_path / "c.json"),
            "--project-id", "other-proj", "--sender-id", "888", "--app-id", "1:888:web:ff",
        )  # fmt: skip
    assert code == 0
    assert fake.of("installations")[0].path == "/v1/projects/other-proj/installations"
    assert fake.of("installations")[0].headers["x-goog-api-key"] == "AIzaSyCliKey"


async def test_android_flow_takes_the_emulators_android_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with fake_google() as fake:
        emu = emulator_file(tmp_path, fake)
        code = await pullkin(
            "register", "--emulator", str(emu), "--credentials", str(tmp_path / "c.json"),
            "--android-package", "com.ex",
        )  # fmt: skip
    assert code == 0
    assert fake.routes == ["checkin", "installations", "register3"]
    form = fake.of("register3")[0].form()
    assert (form["app"], form["cert"], form["X-gmp_app_id"]) == (
        "com.ex",
        "ab" * 20,
        "1:777:android:def",
    )
    assert capsys.readouterr().out.strip().startswith("gcm")  # register3's token is the FCM token


async def test_a_file_for_another_app_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    creds_path = tmp_path / "c.json"
    async with fake_google() as fake:
        emu = emulator_file(tmp_path, fake)
        assert (
            await pullkin("register", "--emulator", str(emu), "--credentials", str(creds_path)) == 0
        )
        before = creds_path.read_bytes()
        code = await pullkin(
            "register",
            "--emulator",
            str(emu),
            "--credentials",
            str(creds_path),
            "--project-id",
            "p2",
        )
    assert code == 2
    err = capsys.readouterr().err
    assert "registered with another --project-id" in err
    assert "use another --credentials file" in err
    assert len(err.strip().splitlines()) == 1
    assert creds_path.read_bytes() == before


async def test_a_rotated_api_key_keeps_the_registration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    creds_path = tmp_path / "c.json"
    async with fake_google() as fake:
        emu = emulator_file(tmp_path, fake)
        assert (
            await pullkin("register", "--emulator", str(emu), "--credentials", str(creds_path)) == 0
        )
        code = await pullkin(
            "register",
            "--emulator",
            str(emu),
            "--credentials",
            str(creds_path),
            "--api-key",
            "AIzaNew",
        )
        assert len(fake.requests) == 4
    assert code == 0
    first, second = capsys.readouterr().out.split()
    assert first == second
    stored = AppCredentials.from_dict(
        json.loads(creds_path.read_text())["apps"]["777"]["credentials"]
    )
    assert stored.config is not None
    assert stored.config.api_key == "AIzaNew"


async def test_a_permanent_failure_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    denied = (
        '{"error": {"code": 403, "message": "API key not valid.", "status": "PERMISSION_DENIED"}}'
    )
    async with fake_google() as fake:
        fake.fail("installations", Fault(403, denied))
        emu = emulator_file(tmp_path, fake)
        code = await pullkin(
            "register", "--emulator", str(emu), "--credentials", str(tmp_path / "c.json")
        )
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "InstallationError" in captured.err
    assert "PERMISSION_DENIED" in captured.err
    assert "AIzaSyCliKey" not in captured.err
    assert not (tmp_path / "c.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["register"], "--credentials FILE is required"),
        (
            ["register", "--credentials", "{tmp}/c.json"],
            "missing --sender-id, --app-id, --api-key, --project-id",
        ),
        (
            [
                "register",
                "--credentials",
                "{tmp}/c.json",
                "--sender-id",
                "12",
                "--app-id",
                "a",
                "--project-id",
                "p",
            ],
            "missing --api-key",
        ),
        (
            [
                "register",
                "--credentials",
                "{tmp}/c.json",
                "--sender-id",
                "x",
                "--app-id",
                "a",
                "--api-key",
                "k",
                "--project-id",
                "p",
            ],
            "sender_id must be the numeric project number",
        ),
        (
            ["register", "--credentials", "{tmp}/c.json", "--emulator", "{tmp}/none.json"],
            "cannot read emulator config",
        ),
        (
            ["register", "--credentials", "{tmp}/c.json", "--emulator", "{tmp}/bad.json"],
            "is not what `pullkin emulator` prints",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (tmp_path / "bad.json").write_text('{"nope": 1}')
    code = main([arg.replace("{tmp}", str(tmp_path)) for arg in argv])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "c.json").exists()


def test_a_corrupt_credentials_file_exits_2_and_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    creds_path = tmp_path / "c.json"
    creds_path.write_text("{oops")
    argv = ["register", "--credentials", str(creds_path), "--sender-id", "12", "--app-id", "a"]
    code = main([*argv, "--api-key", "k", "--project-id", "p"])
    assert code == 2
    assert str(creds_path) in capsys.readouterr().err
    assert creds_path.read_text() == "{oops"
