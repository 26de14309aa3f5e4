"""The first hour of a new user, through the real ``pullkin`` command in subprocesses:
``emulator`` → ``register`` → ``listen`` → ``send``, and every user error on the way is
one line on stderr with exit code 2 (1 where the outside world failed), never a
traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from _cli_support import (
    ENV,
    PULLKIN,
    one_line_error,
    pullkin,
    read_line,
    running_emulator,
    start,
    stop,
)

from pullkin.commands._common import EMULATOR_API_KEY
from pullkin.emulator import Emulator


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One ``pullkin emulator`` for the tests of this module."""
    with running_emulator(tmp_path_factory.mktemp("emulator")) as path:
        yield path


# --- 1. user errors are one line -------------------------------------------------------


def test_emulator_port_out_of_range_is_a_usage_error() -> None:
    error = one_line_error(pullkin("emulator", "--port", "99999"), 2)
    assert "99999 is not a TCP port" in error


def test_emulator_port_in_use_names_the_port_and_exits_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        error = one_line_error(pullkin("emulator", "--port", port), 1)
    assert f"--port {port}" in error
    assert "in use" in error


def test_emulator_on_a_public_host_names_the_flag() -> None:
    error = one_line_error(pullkin("emulator", "--host", "192.0.2.1"), 2)
    assert "--allow-remote" in error
    assert "allow_remote" not in error


def test_demo_that_times_out_says_so_and_exits_1() -> None:
    result = pullkin("demo", "--timeout", "0.001")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "timed out after 0.001 s (--timeout)" in result.stdout


def test_demo_refuses_a_timeout_that_is_not_positive() -> None:
    assert "more than 0 seconds" in one_line_error(pullkin("demo", "--timeout", "0"), 2)


def test_a_closed_stdout_is_one_line_not_a_traceback(emulator: Path, tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`| head`) is gone before anything is written
    try:
        process = subprocess.run(
            [PULLKIN, "register", "--emulator", str(emulator), "--credentials",
             str(tmp_path / "c.json"), "--json"],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60, env=ENV,
            check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert process.returncode == 1
    assert "Traceback" not in process.stderr
    assert "Exception ignored" not in process.stderr
    assert process.stderr.count("\n") == 1, process.stderr


# --- 2. Web Push to a CLI-registered receiver -------------------------------------------


def test_web_push_reaches_a_receiver_registered_and_listening_from_the_cli(
    emulator: Path, tmp_path: Path
) -> None:
    creds = str(tmp_path / "creds.json")
    registered = pullkin("register", "--emulator", str(emulator), "--credentials", creds)
    assert registered.returncode == 0, registered.stderr
    token = registered.stdout.strip()
    again = pullkin("register", "--emulator", str(emulator), "--credentials", creds)
    assert (again.returncode, again.stdout.strip(), again.stderr) == (0, token, "")
    printed = pullkin(
        "register", "--emulator", str(emulator), "--credentials", creds, "--subscription"
    )
    subscription = json.loads(printed.stdout)
    assert set(subscription) == {"endpoint", "keys"}
    assert set(subscription["keys"]) == {"p256dh", "auth"}
    (tmp_path / "sub.json").write_text(printed.stdout)

    listen = start("listen", "--emulator", str(emulator), "--credentials", creds)
    try:
        sent = pullkin("send", "webpush", "--emulator", str(emulator),
                       "--subscription", creds, "--data", "hello")  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        first = json.loads(read_line(listen.stdout))
        sent = pullkin("send", "webpush", "--emulator", str(emulator),
                       "--subscription", str(tmp_path / "sub.json"), "--json", '{"k": "v"}')  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        second = json.loads(read_line(listen.stdout))
    finally:
        code, _, err = stop(listen)
    assert first["payload"] == "aGVsbG8"  # base64url of b"hello"
    assert second["data"] == {"k": "v"}
    assert "from" in second
    assert "from_" not in second
    assert code == 0, err
    assert "listening for" in err  # where it connects, at the default level
    assert "connected to 127.0.0.1:" in err


def test_register_with_another_project_names_the_flag(emulator: Path, tmp_path: Path) -> None:
    creds = str(tmp_path / "creds.json")
    assert pullkin("register", "--emulator", str(emulator), "--credentials", creds).returncode == 0
    result = pullkin(
        "register", "--emulator", str(emulator), "--credentials", creds, "--project-id", "other"
    )
    error = one_line_error(result, 2)
    assert "registered with another --project-id" in error
    assert "use another --credentials file" in error


def test_an_android_registration_has_no_subscription_to_print(
    emulator: Path, tmp_path: Path
) -> None:
    config = json.loads(emulator.read_text())
    result = pullkin(
        "register", "--emulator", str(emulator), "--credentials", str(tmp_path / "a.json"),
        "--android-package", config["android_config"]["android_package"], "--subscription",
    )  # fmt: skip
    assert "no Web Push subscription" in one_line_error(result, 2)


# --- 3. send --help; JSON options take a file name ------------------------------------


def test_send_help_describes_vendors_not_internals() -> None:
    result = pullkin("send", "--help")
    assert result.returncode == 0
    for internal in ("pullkin.commands", "SENDERS", "send_<vendor>"):
        assert internal not in result.stdout
    for vendor in ("Huawei HMS", "Baidu", "Umeng", "Azure", "Web Push", "FCM HTTP v1"):
        assert vendor in result.stdout


def test_a_subscription_option_names_a_file_or_says_what_is_wrong(tmp_path: Path) -> None:
    result = pullkin("send", "webpush", "--subscription", str(tmp_path / "missing.json"),
                     "--vapid-key", str(tmp_path / "k"), "--subject", "mailto:a@b.c")  # fmt: skip
    assert "cannot read the VAPID key file" in one_line_error(result, 2)
    (tmp_path / "k").write_text("not a key")
    result = pullkin("send", "webpush", "--subscription", str(tmp_path / "missing.json"),
                     "--vapid-key", str(tmp_path / "k"), "--subject", "mailto:a@b.c")  # fmt: skip
    assert "neither valid JSON nor an existing file" in one_line_error(result, 2)


# --- 4. -v after every command name ------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "send", "hms"],
        ["send", "-v", "hms"],
        *(
            ["send", vendor, "-v"]
            for vendor in ("fcm", "webpush", "azure", "hms", "baidu", "umeng")
        ),
        ["register", "-v"],
        ["listen", "-vv"],
    ],
    ids=" ".join,
)
def test_verbose_is_accepted_after_every_command_name(argv: list[str], tmp_path: Path) -> None:
    result = pullkin(*argv, cwd=tmp_path)
    assert result.returncode == 2  # what is missing is a credential or a target, not -v
    assert "unrecognized arguments" not in result.stderr
    assert "Traceback" not in result.stderr


# --- 5. listen says where it connects and why it cannot -------------------------------


def test_listen_refuses_emulator_credentials_without_the_emulator(
    emulator: Path, tmp_path: Path
) -> None:
    creds = str(tmp_path / "creds.json")
    assert pullkin("register", "--emulator", str(emulator), "--credentials", creds).returncode == 0
    error = one_line_error(pullkin("listen", "--credentials", creds), 2)
    assert "registered on a pullkin emulator" in error
    assert "--emulator CONFIG.json" in error


def test_emulator_api_key_constant_is_the_emulators() -> None:
    assert Emulator().firebase_config.api_key == EMULATOR_API_KEY


@pytest.mark.slow
def test_listen_that_cannot_connect_says_where_and_keeps_trying(tmp_path: Path) -> None:
    # An emulator that is gone: its config and CA are still on disk, its ports closed.
    emulator = start("emulator", "--state-dir", str(tmp_path / "state"))
    config = tmp_path / "emu.json"
    config.write_text(read_line(emulator.stdout))
    creds = str(tmp_path / "creds.json")
    assert pullkin("register", "--emulator", str(config), "--credentials", creds).returncode == 0
    assert stop(emulator)[0] == 0
    listen = start("listen", "--emulator", str(config), "--credentials", creds)
    try:
        mcs = json.loads(config.read_text())["endpoints"]
        assert f"via MCS 127.0.0.1:{mcs['mcs_port']}" in read_line(listen.stderr)
        lines = [read_line(listen.stderr, 60) for _ in range(2)]
        while "still not connected" not in lines[-1]:
            lines.append(read_line(listen.stderr, 60))
    finally:
        stop(listen)
    assert any("cannot connect to MCS" in line for line in lines), lines
    assert "after 3 attempts" in lines[-1]
    assert "retrying" in lines[-1]


def test_listen_whose_reader_went_away_exits_and_loses_nothing(
    emulator: Path, tmp_path: Path
) -> None:
    creds = str(tmp_path / "creds.json")
    token = pullkin("register", "--emulator", str(emulator), "--credentials", creds).stdout.strip()

    def send(text: str) -> None:
        result = pullkin("send", "fcm", "--emulator", str(emulator), "--token", token,
                         "--data", f"n={text}")  # fmt: skip
        assert result.returncode == 0, result.stderr

    listen = start("listen", "--emulator", str(emulator), "--credentials", creds)
    send("1")
    assert json.loads(read_line(listen.stdout))["data"] == {"n": "1"}
    assert listen.stdout is not None
    listen.stdout.close()  # `| head -n 1` has what it wanted
    send("2")
    assert listen.wait(timeout=30) == 1
    assert listen.stderr is not None
    assert "cannot write to stdout" in listen.stderr.read()
    listen.stderr.close()

    again = start("listen", "--emulator", str(emulator), "--credentials", creds)
    try:
        seen = [json.loads(read_line(again.stdout))["data"]["n"]]
        while seen[-1] != "2":  # "1" may come again (at least once), "2" must
            seen.append(json.loads(read_line(again.stdout))["data"]["n"])
    finally:
        stop(again)
    assert seen.count("2") == 1


# --- 6. errors speak of flags; --call per vendor ------------------------------------------


def test_send_fcm_without_a_target_names_the_flags(emulator: Path) -> None:
    error = one_line_error(pullkin("send", "fcm", "--emulator", str(emulator), "--title", "x"), 2)
    assert "--token, --topic or --condition" in error
    result = pullkin("send", "hms", "--emulator", str(emulator), "--title", "x")
    assert "--token (repeatable), --topic or --condition" in one_line_error(result, 2)


@pytest.mark.parametrize(
    ("vendor", "own", "foreign"),
    [
        ("hms", ["send", "subscribe_topic", "query_subscribe_list"], ["query_tags", "status"]),
        ("baidu", ["query_tags", "push_single_device"], ["subscribe_topic", "status"]),
        ("umeng", ["unicast", "status", "cancel"], ["query_tags", "subscribe_topic"]),
    ],
)
def test_call_help_lists_the_vendors_own_methods(
    vendor: str, own: list[str], foreign: list[str]
) -> None:
    text = pullkin("send", vendor, "--help").stdout
    described = " ".join(text[text.index("--call METHOD  ") :].split("\n  --params")[0].split())
    methods = set(described.split("keyword arguments: ")[1].split(", "))
    assert set(own) <= methods
    assert not set(foreign) & methods


def test_an_emulator_config_not_written_yet_says_to_wait(tmp_path: Path) -> None:
    (tmp_path / "emu.json").write_text("")  # `pullkin emulator > emu.json &` just started
    result = pullkin(
        "register",
        "--emulator",
        str(tmp_path / "emu.json"),
        "--credentials",
        "c.json",
        cwd=tmp_path,
    )
    error = one_line_error(result, 2)
    assert "is empty" in error
    assert "try again" in error
