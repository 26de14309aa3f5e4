"""The receiver end to end on the emulator: delivery, handlers, faults, exactly once."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest
from _receiver_support import (
    FAST,
    android_stanza,
    register_direct,
    send,
    wait_for,
    web_stanza,
)

from pullkin import AppCredentials, Message
from pullkin.client import Pullkin
from pullkin.emulator import Emulator
from pullkin.endpoints import CHROME_VERSION
from pullkin.errors import DecryptionError
from pullkin.proto.mcs_pb2 import DataMessageStanza
from pullkin.receiver import SessionState

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.stanzas: list[DataMessageStanza] = []
        self.threads: list[str] = []

    async def __call__(self, message: Message, stanza: DataMessageStanza) -> None:
        self.messages.append(message)
        self.stanzas.append(stanza)

    def payload_ids(self) -> Counter[str]:
        return Counter(m.data["n"] for m in self.messages)


async def started(emu: Emulator, *apps: object, **kwargs: object) -> tuple[Pullkin, Recorder]:
    client = Pullkin(emu.endpoints, session_config=FAST, **kwargs)  # type: ignore[arg-type]
    recorder = Recorder()
    client.on_notification()(recorder)
    for n, credentials in enumerate(apps):
        await client.add_app(str(1000 + n), credentials)  # type: ignore[arg-type]
    client._start(None)
    await wait_for(lambda: client.state is SessionState.CONNECTED)
    return client, recorder


async def test_web_message_reaches_the_handler_decrypted(emu: Emulator) -> None:
    credentials = register_direct(emu)
    client, recorder = await started(emu, credentials)
    pid = send(
        emu, credentials, web_stanza(credentials, notification={"title": "Hi", "body": "there"},
                                     data={"k": "v"}),
    )  # fmt: skip
    await wait_for(lambda: recorder.messages)
    [message] = recorder.messages
    assert message.notification is not None
    assert message.notification.title == "Hi"
    assert message.notification.body == "there"
    assert message.data == {"k": "v"}
    assert message.persistent_id == pid
    assert message.fcm_message_id
    assert recorder.stanzas[0].persistent_id == pid
    await wait_for(lambda: emu.mailboxes.pending(credentials.gcm.android_id) == [])
    await client.stop()
    await client.aclose()


async def test_login_request_is_what_chromium_156_sends(emu: Emulator) -> None:
    # Chromium 156.0.8078.114 logs in with id chrome-<version>, device_id android-<hex>,
    # the one setting new_vc=1 and no heartbeat_stat (recorded against the emulator).
    credentials = register_direct(emu)
    client, _ = await started(emu, credentials)
    login = emu.mcs.login_requests[credentials.gcm.android_id]
    await client.stop()
    await client.aclose()
    assert login.client_id == f"chrome-{CHROME_VERSION}" == "chrome-156.0.8078.114"
    assert login.device_id == f"android-{credentials.gcm.android_id:x}"
    assert (login.heartbeat_stat_ms, login.heartbeat_interval_ms, login.settings) == (
        None,
        None,
        (),
    )


async def test_credentials_stored_by_older_versions_still_receive(emu: Emulator) -> None:
    stored = register_direct(emu).to_dict()
    gcm = stored["gcm"]
    del gcm["instance_id"]  # written before InstanceID registrations
    gcm["chrome_version"] = "63.0.3234.0"
    credentials = AppCredentials.from_dict(stored)
    client, recorder = await started(emu, credentials)
    send(emu, credentials, web_stanza(credentials, data={"k": "old"}))
    await wait_for(lambda: recorder.messages)
    login = emu.mcs.login_requests[credentials.gcm.android_id]
    await client.stop()
    await client.aclose()
    assert recorder.messages[0].data == {"k": "old"}
    assert login.client_id == "chrome-63.0.3234.0"  # a stored device keeps its version


async def test_aes128gcm_web_push_body_is_decrypted(emu: Emulator) -> None:
    credentials = register_direct(emu)
    client, recorder = await started(emu, credentials)
    send(emu, credentials, web_stanza(credentials, encoding="aes128gcm", raw_body=b"plain text"))
    await wait_for(lambda: recorder.messages)
    assert recorder.messages[0].payload == b"plain text"
    assert recorder.messages[0].data == {}
    await client.stop()
    await client.aclose()


async def test_android_app_message_is_plain_app_data(emu: Emulator) -> None:
    credentials = register_direct(emu, android=True)
    client, recorder = await started(emu, credentials)
    send(emu, credentials, android_stanza(
        credentials, **{"gcm.n.title": "T", "gcm.notification.body": "B", "score": "7",
                        "google.delivered_priority": "high", "gcm.n.e": "1"},
    ))  # fmt: skip
    await wait_for(lambda: recorder.messages)
    [message] = recorder.messages
    assert message.notification is not None
    assert (message.notification.title, message.notification.body) == ("T", "B")
    assert message.data == {"score": "7"}
    assert message.priority == "high"
    assert message.collapse_key == "collapse-1"
    await client.stop()
    await client.aclose()


async def test_sync_handler_runs_in_a_worker_thread_in_order(emu: Emulator) -> None:
    credentials = register_direct(emu)
    client = Pullkin(emu.endpoints, session_config=FAST)
    seen: list[tuple[str, str]] = []

    @client.on_notification(lambda m, s: m.data.get("kind") == "sync")
    def handler(message: Message, stanza: DataMessageStanza) -> None:
        seen.append((message.data["n"], threading.current_thread().name))

    await client.add_app("1", credentials)
    client._start(None)
    for n in range(20):
        send(emu, credentials, web_stanza(credentials, data={"n": str(n), "kind": "sync"}))
    send(emu, credentials, web_stanza(credentials, data={"n": "x", "kind": "other"}))
    await wait_for(lambda: len(seen) == 20)
    assert [n for n, _ in seen] == [str(n) for n in range(20)]
    assert all(name != threading.main_thread().name for _, name in seen)
    await client.stop()
    await client.aclose()


async def test_failing_handler_is_logged_and_receiving_goes_on(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    credentials = register_direct(emu)
    client, recorder = await started(emu, credentials)

    @client.on_notification(lambda m, s: m.data["n"] == "0")
    async def broken(message: Message, stanza: DataMessageStanza) -> None:
        raise ValueError("boom")

    first = send(emu, credentials, web_stanza(credentials, data={"n": "0"}))
    send(emu, credentials, web_stanza(credentials, data={"n": "1"}))
    await wait_for(lambda: len(recorder.messages) == 2)
    assert client.stats.handler_errors == 1
    assert any(first in r.getMessage() and "broken" in r.getMessage() for r in caplog.records)
    await client.stop()
    await client.aclose()


async def test_undecryptable_message_goes_to_on_error_and_is_acknowledged(
    emu: Emulator,
) -> None:
    credentials = register_direct(emu)
    client, recorder = await started(emu, credentials)
    errors: list[tuple[Exception, DataMessageStanza | None]] = []
    client.on_error(lambda error, stanza: errors.append((error, stanza)))
    bad = web_stanza(credentials, data={"n": "0"})
    bad.raw_data = bad.raw_data[:-1] + bytes([bad.raw_data[-1] ^ 1])
    pid = send(emu, credentials, bad)
    send(emu, credentials, web_stanza(credentials, data={"n": "1"}))
    await wait_for(lambda: recorder.messages)
    [(error, stanza)] = errors
    assert isinstance(error, DecryptionError)
    assert stanza is not None
    assert stanza.persistent_id == pid
    assert client.stats.undecryptable == 1
    await wait_for(lambda: emu.mailboxes.pending(credentials.gcm.android_id) == [])
    await client.stop()
    await client.aclose()


async def test_a_backlog_burst_is_handled_in_order_with_its_bad_messages_reported(
    emu: Emulator,
) -> None:
    # Queued before the login, 40 messages arrive in one or two reads and are
    # decrypted in batches (_handling._BUILD_BATCH): order, exactly-once and the
    # undecryptable ones must come out as they would one at a time.
    credentials = register_direct(emu)
    bad = {5, 20}
    for n in range(40):
        stanza = web_stanza(credentials, data={"n": str(n)})
        if n in bad:
            stanza.raw_data = stanza.raw_data[:-1] + bytes([stanza.raw_data[-1] ^ 1])
        send(emu, credentials, stanza)
    client, recorder = await started(emu, credentials)
    await wait_for(lambda: len(recorder.messages) == 38)
    assert [m.data["n"] for m in recorder.messages] == [str(n) for n in range(40) if n not in bad]
    await wait_for(lambda: emu.mailboxes.pending(credentials.gcm.android_id) == [])
    assert client.stats.undecryptable == 2
    assert client.stats.dispatched == 38
    await client.stop()
    await client.aclose()


async def test_deliveries_keep_their_order_across_the_direct_and_the_queued_path(
    emu: Emulator,
) -> None:
    # The emulator writes a new message straight to an idle connection, but hands it
    # to its write loop while a fault plan or a backlog is in the way: the two paths
    # must never overtake each other nor write a message twice.
    credentials = register_direct(emu)
    client, recorder = await started(emu, credentials)
    emu.faults.delay_delivery(0.1)
    send(emu, credentials, web_stanza(credentials, data={"n": "0"}))  # the write loop
    await wait_for(lambda: "mcs:delay" in emu.faults.fired)  # now holding message 0
    for n in range(1, 5):  # arrive while the write loop holds message 0
        send(emu, credentials, web_stanza(credentials, data={"n": str(n)}))
    await wait_for(lambda: len(recorder.messages) == 5)
    for n in range(5, 10):  # the direct path again
        send(emu, credentials, web_stanza(credentials, data={"n": str(n)}))
    # A last message: once it is handled, any duplicate written before it has been too.
    send(emu, credentials, web_stanza(credentials, data={"n": "last"}))
    await wait_for(lambda: len(recorder.messages) >= 11)
    assert [m.data["n"] for m in recorder.messages] == [*map(str, range(10)), "last"]
    assert len(emu.deliveries()) == 11
    await client.stop()
    await client.aclose()


async def test_two_apps_of_one_device_share_one_connection(emu: Emulator) -> None:
    first = register_direct(emu)
    second = register_direct(emu, (first.gcm.android_id, first.gcm.security_token))
    client, recorder = await started(emu, first, second)
    send(emu, first, web_stanza(first, data={"n": "a"}))
    send(emu, second, web_stanza(second, data={"n": "b"}))
    await wait_for(lambda: len(recorder.messages) == 2)
    assert sorted(recorder.payload_ids()) == ["a", "b"]
    assert emu.mcs.logins == 1
    assert len(client.sessions) == 1
    await client.stop()
    await client.aclose()


async def test_listen_coroutine_yields_messages(emu: Emulator) -> None:
    credentials = register_direct(emu)
    client = Pullkin(emu.endpoints, session_config=FAST)
    await client.add_app("7", credentials)
    stream = client.listen_coroutine("7")
    receive = asyncio.ensure_future(stream.__anext__())
    await wait_for(lambda: client.state is SessionState.CONNECTED)
    send(emu, credentials, web_stanza(credentials, data={"n": "1"}))
    message = await asyncio.wait_for(receive, 5)
    assert message is not None
    assert message.data == {"n": "1"}
    await stream.aclose()
    await client.stop()
    await client.aclose()


async def test_idle_notification_is_answered_not_delivered(emu: Emulator) -> None:
    credentials = register_direct(emu)
    client, recorder = await started(emu, credentials)
    idle = DataMessageStanza(category="com.google.android.gsf.gtalkservice")
    setattr(idle, "from", "google.com")
    idle.app_data.add(key="IdleNotification", value="true")
    send(emu, credentials, idle)
    send(emu, credentials, web_stanza(credentials, data={"n": "after"}))
    await wait_for(lambda: recorder.messages)
    assert [m.data["n"] for m in recorder.messages] == ["after"]
    await client.stop()
    await client.aclose()


async def test_stop_leaves_no_task_or_socket_behind(emu: Emulator) -> None:
    before = {t for t in asyncio.all_tasks() if not t.done()}
    credentials = register_direct(emu)
    client, _ = await started(emu, credentials)
    await client.stop()
    await client.aclose()
    # Cancelled workers end at their next turn of the loop; a leak never ends.
    await wait_for(lambda: {t for t in asyncio.all_tasks() if not t.done()} <= before)
    assert client.state is SessionState.STOPPED
    await wait_for(lambda: not emu.mcs.sessions)
