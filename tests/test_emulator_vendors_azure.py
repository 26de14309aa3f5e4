"""The Azure Notification Hubs fake on its own terms: its SAS check against the fixed
vectors of vendors/README.md (not against the sender's signing), every notification
format the sender has accepted by the fake (tag, direct and direct-batch sends), and
its multipart parser keeping a part's bytes exactly."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullkin.emulator import Emulator
from pullkin.emulator.vendors._azure_checks import check_content, check_sas, parse_multipart
from pullkin.errors import InvalidArgumentError
from pullkin.senders.azure import AzureNotification, AzureNotificationHub

pytest_plugins = ["_vendor_support"]

KEY = "2hV0b1Sf5nL2yQn+0tXwYd4m7P8r9sQ1uK3vW6xZ/aA="
RULE = "DefaultFullSharedAccessSignature"
EXPIRY = 1700000000
HUB_URL = "https://mynamespace.servicebus.windows.net/myhub/messages/"
VECTOR_1 = (
    "SharedAccessSignature sr=https%3A%2F%2Fmynamespace.servicebus.windows.net%2F"
    "&sig=0KU7Wno7tKHUOiCNLawhZ2kp%2FXfV5z6MrUVsTYRTplg%3D&se=1700000000"
    "&skn=DefaultFullSharedAccessSignature"
)
VECTOR_2 = (
    "SharedAccessSignature sig=je66T0Nxvm5s1T/1w9UrEaphBiiTe7rmO9/H3fyUsTg%3D&se=1700000000"
    "&skn=DefaultFullSharedAccessSignature"
    "&sr=https%3a%2f%2fmynamespace.servicebus.windows.net%2fmyhub"
)
VECTOR_3 = (
    "SharedAccessSignature sr=https%3A%2F%2Fmynamespace.servicebus.windows.net%2Fmyhub"
    "&sig=YfiXEirRjh3Xj3dQZCIh2Yq7CmT9Tl2WuyGBSYmPWfI%3D&se=1700000000"
    "&skn=DefaultFullSharedAccessSignature"
)


@pytest.mark.parametrize("token", [VECTOR_1, VECTOR_2, VECTOR_3])
def test_the_fake_accepts_each_fixed_sas_vector(token: str) -> None:
    assert check_sas(token, KEY, RULE, HUB_URL, EXPIRY - 1) is None


@pytest.mark.parametrize(
    ("token", "key", "url", "now", "why"),
    [
        (VECTOR_1, KEY, HUB_URL, EXPIRY, "expired"),
        (VECTOR_1, KEY.replace("2hV0", "2hV1"), HUB_URL, EXPIRY - 1, "signature"),
        (VECTOR_1.replace("1700000000", "1700000001"), KEY, HUB_URL, 0, "signature"),
        (VECTOR_1, KEY, "https://elsewhere.servicebus.windows.net/myhub/", 0, "audience"),
        (VECTOR_3, KEY, "https://mynamespace.servicebus.windows.net/otherhub/x", 0, "audience"),
        (VECTOR_1.replace(RULE, "Listen"), KEY, HUB_URL, 0, "SharedAccessKeyName"),
        (None, KEY, HUB_URL, 0, "missing"),
        ("SharedAccessSignature sr=x", KEY, HUB_URL, 0, "malformed"),
        ("Bearer abc", KEY, HUB_URL, 0, "malformed"),
    ],
)
def test_the_fake_refuses_a_token_that_does_not_verify(
    token: str | None, key: str, url: str, now: float, why: str
) -> None:
    assert why in (check_sas(token, key, RULE, url, now) or "")


# --- every format, through the sender, against the fake -----------------------------------

TOAST = "<toast><visual><binding template='ToastText01'><text id='1'>Hi</text></binding></visual></toast>"
MPNS = '<?xml version="1.0" encoding="utf-8"?><wp:Notification xmlns:wp="WPNotification">{}</wp:Notification>'

NOTIFICATIONS = {
    "fcmv1": AzureNotification("fcmv1", {"message": {"notification": {"title": "T"}}}),
    "gcm": AzureNotification("gcm", {"data": {"k": "v"}}),
    "apple": AzureNotification("apple", {"aps": {"alert": "Hello"}}, {"apns-push-type": "alert"}),
    "windows-toast": AzureNotification("windows", TOAST, {"X-WNS-Type": "wns/toast"}),
    "windows-tile": AzureNotification(
        "windows", "<tile><visual/></tile>", {"X-WNS-Type": "wns/tile"}
    ),
    "windows-badge": AzureNotification(
        "windows", "<badge value='1'/>", {"X-WNS-Type": "wns/badge"}
    ),
    "windows-raw": AzureNotification("windows", b"\x00raw\r\n", {"X-WNS-Type": "wns/raw"}),
    "windowsphone": AzureNotification(
        "windowsphone", MPNS.format("<wp:Toast><wp:Text1>Hi</wp:Text1></wp:Toast>")
    ),
    "baidu": AzureNotification("baidu", {"title": "T", "description": "D"}),
    "xiaomi": AzureNotification("xiaomi", {"data": {"k": "v"}}),
    "browser": AzureNotification("browser", {"title": "T"}),
    "adm": AzureNotification("adm", {"data": {"k": "v"}}),
    "template": AzureNotification("template", {"title": "Hi"}),
}
SUBSCRIPTION = {"endpoint": "https://push.example/x", "p256dh": "P", "auth": "A"}


Send = Callable[[AzureNotificationHub, AzureNotification], Awaitable[Any]]


async def _tag(nh: AzureNotificationHub, note: AzureNotification) -> Any:
    return await nh.send_notification(note, "sports", test=True)


async def _direct(nh: AzureNotificationHub, note: AzureNotification) -> Any:
    handle = SUBSCRIPTION if note.format == "browser" else "pns-handle-1"
    return await nh.send_direct_notification(note, handle)


async def _batch(nh: AzureNotificationHub, note: AzureNotification) -> Any:
    return await nh.send_direct_batch_notification(note, ["pns-handle-1", "pns-handle-2"])


@pytest.mark.anyio
@pytest.mark.parametrize("send", [_tag, _direct, _batch], ids=["tag", "direct", "batch"])
@pytest.mark.parametrize("name", list(NOTIFICATIONS))
async def test_every_format_the_sender_sends_is_accepted_by_the_fake(
    emu_hub: tuple[Emulator, AzureNotificationHub], name: str, send: Send
) -> None:
    emu, nh = emu_hub
    note = NOTIFICATIONS[name]
    await send(nh, note)
    [record] = emu.inbox("azure")
    assert record["format"] == note.format
    body = note.encoded_body()
    expected = json.loads(body) if note.content_type.startswith("application/json") else None
    assert record["body"] == (expected if expected is not None else body.decode("utf-8", "replace"))


@pytest.mark.anyio
async def test_mpns_sends_reach_the_fake_with_their_target_and_class(
    emu_hub: tuple[Emulator, AzureNotificationHub],
) -> None:
    emu, nh = emu_hub
    await nh.send_mpns_notification(MPNS.format("<wp:Toast/>"), "a")
    await nh.send_mpns_notification(MPNS.format("<wp:Tile/>"))
    toast, tile = emu.inbox("azure")
    assert (toast["format"], toast["tags"]) == ("windowsphone", "a")
    assert toast["headers"]["X-WindowsPhone-Target"] == "toast"
    assert (tile["headers"]["X-WindowsPhone-Target"], tile["headers"]["X-NotificationClass"]) == (
        "tile",
        "1",
    )


@pytest.mark.parametrize(
    ("fmt", "content_type", "wns", "body", "why"),
    [
        ("windowsphone", "application/json", None, b"<x/>", "application/xml"),
        ("apple", "application/xml", None, b"{}", "application/json"),
        ("windows", "application/xml", None, b"<x/>", "X-WNS-Type"),
        ("windows", "application/xml", "wns/raw", b"x", "application/octet-stream"),
        ("gcm", "application/json", None, b"{nope", "not valid JSON"),
        ("gcm", "application/json", None, b"", "empty"),
        ("telegram", "application/json", None, b"{}", "ServiceBusNotification-Format"),
    ],
)
def test_the_fake_refuses_a_body_that_does_not_fit_its_format(
    fmt: str, content_type: str, wns: str | None, body: bytes, why: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=why):
        check_content(fmt, content_type, wns, body)


# --- multipart ---------------------------------------------------------------------------


def _multipart(boundary: str, parts: dict[str, bytes]) -> bytes:
    """RFC 2046 multipart/mixed, written here (not the sender's writer)."""
    out = b"preamble"
    for name, body in parts.items():
        out += f"\r\n--{boundary}\r\nContent-Disposition: inline; name={name}\r\n\r\n".encode()
        out += body
    return out + f"\r\n--{boundary}--\r\nepilogue".encode()


@given(notification=st.binary(max_size=200), devices=st.binary(max_size=50))
def test_multipart_parts_keep_every_byte_including_trailing_crlf(
    notification: bytes, devices: bytes
) -> None:
    boundary = "pullkin-b0undary"
    body = _multipart(boundary, {"notification": notification + b"\r\n", "devices": devices})
    parts = parse_multipart(f'multipart/mixed; boundary="{boundary}"', body)
    assert parts["notification"].body == notification + b"\r\n"
    assert parts["devices"].body == devices


def test_multipart_without_a_closing_boundary_is_refused() -> None:
    body = _multipart("b", {"devices": b"[]"}).rpartition(b"\r\n--b--")[0]
    with pytest.raises(InvalidArgumentError, match="closing boundary"):
        parse_multipart("multipart/mixed; boundary=b", body)
