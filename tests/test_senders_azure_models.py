"""Azure NH pure pieces: SAS vectors, connection strings, tag expressions, XML records."""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullkin.errors import ConfigError, InvalidArgumentError
from pullkin.senders.azure_models import (
    AzureNotification,
    parse_connection_string,
    parse_sas_token,
    sas_signature,
    sas_token,
    tag_expression,
)
from pullkin.senders.azure_records import (
    Installation,
    InstallationPatch,
    Registration,
    RegistrationResult,
    outcome_xml,
    parse_outcome,
    parse_registration,
    parse_registration_feed,
    registration_entry,
    registration_feed,
)

# vendors/README.md "Azure 1" and azure-nh.md §2, verbatim.
CONNECTION_STRING = "Endpoint=sb://mynamespace.servicebus.windows.net/;SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey=2hV0b1Sf5nL2yQn+0tXwYd4m7P8r9sQ1uK3vW6xZ/aA="
VECTOR_1 = "SharedAccessSignature sr=https%3A%2F%2Fmynamespace.servicebus.windows.net%2F&sig=0KU7Wno7tKHUOiCNLawhZ2kp%2FXfV5z6MrUVsTYRTplg%3D&se=1700000000&skn=DefaultFullSharedAccessSignature"
KEY = "2hV0b1Sf5nL2yQn+0tXwYd4m7P8r9sQ1uK3vW6xZ/aA="


def test_sas_token_matches_vector_1_byte_for_byte() -> None:
    cs = parse_connection_string(CONNECTION_STRING)
    assert cs.namespace_url == "https://mynamespace.servicebus.windows.net/"
    assert sas_token(cs.namespace_url, cs.key_name, cs.key, 1700000000) == VECTOR_1


def test_sas_signatures_of_vectors_2_and_3() -> None:
    lower = quote("https://mynamespace.servicebus.windows.net/MyHub", safe="").lower()
    assert lower == "https%3a%2f%2fmynamespace.servicebus.windows.net%2fmyhub"
    assert (
        sas_signature(f"{lower}\n1700000000", KEY) == "je66T0Nxvm5s1T/1w9UrEaphBiiTe7rmO9/H3fyUsTg="
    )
    upper = "https%3A%2F%2Fmynamespace.servicebus.windows.net%2Fmyhub"
    assert (
        sas_signature(f"{upper}\n1700000000", KEY) == "YfiXEirRjh3Xj3dQZCIh2Yq7CmT9Tl2WuyGBSYmPWfI="
    )


def test_sas_token_parses_back_into_its_fields() -> None:
    fields = parse_sas_token(VECTOR_1)
    assert fields["se"] == "1700000000"
    assert fields["skn"] == "DefaultFullSharedAccessSignature"
    with pytest.raises(ValueError, match="SharedAccessSignature"):
        parse_sas_token("Bearer x")


@pytest.mark.parametrize(
    "text",
    [
        CONNECTION_STRING,
        CONNECTION_STRING + ";",
        CONNECTION_STRING + ";EntityPath=MyHub",
        "SharedAccessKey=2hV0b1Sf5nL2yQn+0tXwYd4m7P8r9sQ1uK3vW6xZ/aA=; SharedAccessKeyName=DefaultFullSharedAccessSignature ;Endpoint=sb://mynamespace.servicebus.windows.net/",
    ],
)
def test_connection_strings_parse_in_any_order_with_padding_kept(text: str) -> None:
    cs = parse_connection_string(text)
    assert cs.key == KEY  # split at the first '=' only
    assert cs.key_name == "DefaultFullSharedAccessSignature"
    assert "2hV0" not in repr(cs)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        (
            "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=a",
            "both SharedAccessKeyName",
        ),
        ("SharedAccessKeyName=a;SharedAccessKey=b", "Endpoint=sb://"),
        ("Endpoint=ftp://x/;SharedAccessKeyName=a;SharedAccessKey=b", "Endpoint=sb://"),
        ("Endpoint=sb://x/;garbage;SharedAccessKey=b", "malformed"),
    ],
)
def test_malformed_connection_strings_are_config_errors(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_connection_string(text)


# --- tag expressions -------------------------------------------------------------------

TAGS = ["a", "b", "c", "d"]


@st.composite
def expressions(draw: Any, depth: int = 3) -> tuple[str, str]:
    """(tag expression, the same as a Python boolean expression over `has`)."""
    if depth == 0 or draw(st.booleans()):
        tag = draw(st.sampled_from(TAGS))
        return tag, f"('{tag}' in has)"
    kind = draw(st.sampled_from(["and", "or", "not"]))
    left = draw(expressions(depth - 1))
    if kind == "not":
        return f"!{left[0]}", f"(not {left[1]})"
    right = draw(expressions(depth - 1))
    op = "&&" if kind == "and" else "||"
    return f"({left[0]} {op} {right[0]})", f"({left[1]} {kind} {right[1]})"


@given(expressions(), st.sets(st.sampled_from(TAGS)))
def test_tag_expressions_evaluate_like_boolean_logic(expr: tuple[str, str], has: set[str]) -> None:
    names = sum(expr[0].count(tag) for tag in TAGS)
    only_or = "&&" not in expr[0] and "!" not in expr[0]
    if names > (20 if only_or else 6):
        with pytest.raises(InvalidArgumentError, match="at most"):
            tag_expression(expr[0])
        return
    assert tag_expression(expr[0]).matches(has) == eval(expr[1], {"has": has})


def test_precedence_is_not_then_and_then_or() -> None:
    expression = tag_expression("a || b && !c")
    assert expression.matches({"a", "c"})
    assert expression.matches({"b"})
    assert not expression.matches({"b", "c"})


def test_a_set_of_tags_is_joined_with_or_and_limits_apply() -> None:
    assert tag_expression(["x", "y"]).text == "x || y"
    tag_expression(" || ".join(f"t{i}" for i in range(20)))
    with pytest.raises(InvalidArgumentError, match="at most 20"):
        tag_expression(" || ".join(f"t{i}" for i in range(21)))
    with pytest.raises(InvalidArgumentError, match="at most 6"):
        tag_expression(" && ".join(f"t{i}" for i in range(7)))


@pytest.mark.parametrize("text", ["", "a &&", "(a", "a b", "a & b", "&& a", "bad tag!", "x" * 121])
def test_malformed_tag_expressions_are_rejected(text: str) -> None:
    with pytest.raises(InvalidArgumentError):
        tag_expression(text)


@given(st.text(max_size=40))
def test_tag_expression_parser_only_accepts_or_raises_invalid_argument(text: str) -> None:
    with contextlib.suppress(InvalidArgumentError):
        tag_expression(text)


# --- notifications ---------------------------------------------------------------------


def test_notification_content_types_follow_the_format() -> None:
    assert AzureNotification("apple", {"aps": {}}).content_type == "application/json;charset=utf-8"
    toast = AzureNotification("windows", "<toast/>", {"X-WNS-Type": "wns/toast"})
    assert toast.content_type == "application/xml"
    raw = AzureNotification("windows", b"\x00raw", {"X-WNS-Type": "wns/raw"})
    assert raw.content_type == "application/octet-stream"
    assert (
        AzureNotification("fcmv1", {"message": {"data": {"é": "1"}}}).encoded_body()
        == '{"message":{"data":{"é":"1"}}}'.encode()
    )


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: AzureNotification("nokiax", {}), "format must be one of"),  # type: ignore[arg-type]
        (lambda: AzureNotification("windows", "<toast/>"), "X-WNS-Type"),
        (lambda: AzureNotification("template", {"n": 1}), "flat dict of str"),
        (lambda: AzureNotification("gcm", "{not json"), "valid JSON"),
        (lambda: AzureNotification("apple", {"aps": "x" * 70000}), "64 KB"),
    ],
)
def test_bad_notifications_are_rejected_before_sending(factory: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        factory()


# --- registrations (Atom XML) ----------------------------------------------------------

CAPTURED_JS_BODY = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><entry xmlns="http://www.w3.org/2005/Atom"><updated>2024-01-01T00:00:00Z</updated><content type="application/xml"><FcmV1RegistrationDescription xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><Tags>a,b</Tags><FcmV1RegistrationId>fcm-token-1</FcmV1RegistrationId></FcmV1RegistrationDescription></content></entry>'


def test_the_official_sdks_registration_body_parses() -> None:
    reg = parse_registration(CAPTURED_JS_BODY)
    assert (reg.platform, reg.pns_handle, reg.tags) == ("fcmv1", "fcm-token-1", ("a", "b"))


def test_our_registration_body_has_the_sdks_shape() -> None:
    body = registration_entry(Registration("fcmv1", "fcm-token-1", ("a", "b"))).decode()
    assert '<content type="application/xml"><FcmV1RegistrationDescription' in body
    assert "<Tags>a,b</Tags><FcmV1RegistrationId>fcm-token-1</FcmV1RegistrationId>" in body


@given(
    st.sampled_from(["apple", "gcm", "fcmv1", "windows", "xiaomi"]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
        str.strip
    ),
    st.lists(st.sampled_from(["a", "b:1", "user@x", "#t"]), unique=True, max_size=3),
    st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)),
)
def test_registrations_round_trip_through_atom_xml(
    platform: str, handle: str, tags: list[str], template: str | None
) -> None:
    reg = Registration(
        platform, handle, tuple(tags), template=template, registration_id="r1", etag="3"
    )
    assert parse_registration(registration_entry(reg)) == reg
    assert parse_registration_feed(registration_feed([reg, reg])) == [reg, reg]


def test_multi_field_handles_and_validation() -> None:
    browser = Registration("browser", {"Endpoint": "https://e/x", "P256DH": "k", "Auth": "a"})
    assert parse_registration(registration_entry(browser)).handles == browser.handles
    with pytest.raises(InvalidArgumentError, match="dict"):
        Registration("baidu", "only-one")
    with pytest.raises(InvalidArgumentError, match="platform"):
        Registration("symbian", "x")
    with pytest.raises(InvalidArgumentError, match="tag"):
        Registration("gcm", "x", ("bad tag",))
    with pytest.raises(ValueError, match="entry"):
        parse_registration(b"<feed xmlns='http://www.w3.org/2005/Atom'/>")
    with pytest.raises(ValueError, match="malformed"):
        parse_registration(b"<entry")


# --- outcomes and installations ---------------------------------------------------------

NO_MATCH = b'<NotificationOutcome xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="https://www.w3.org/2001/XMLSchema-instance"><Success>0</Success><Failure>0</Failure><Results i:nil="true"/></NotificationOutcome>'


def test_outcome_of_the_docs_no_match_example_and_our_round_trip() -> None:
    assert parse_outcome(NO_MATCH) == (0, 0, ())
    results = (
        RegistrationResult(
            "fcmv1",
            "tok",
            "r1",
            "The Notification was successfully sent to the Push Notification System",
        ),
    )
    assert parse_outcome(outcome_xml(1, 0, results)) == (1, 0, results)


def test_installation_json_round_trip_and_validation() -> None:
    inst = Installation(
        "inst-1", "apns", "00fc13ad", ("likes_hockey",), {"t": {"body": "{}"}}, "u1"
    )
    data = inst.to_json()
    assert data == {
        "installationId": "inst-1",
        "platform": "apns",
        "pushChannel": "00fc13ad",
        "tags": ["likes_hockey"],
        "templates": {"t": {"body": "{}"}},
        "userId": "u1",
    }
    assert Installation.from_json(json.loads(json.dumps(data))) == inst
    with pytest.raises(InvalidArgumentError, match="browser"):
        Installation("i", "browser", "https://e")
    with pytest.raises(InvalidArgumentError, match="platform"):
        Installation("i", "nokia", "h")
    with pytest.raises(InvalidArgumentError, match="body"):
        Installation("i", "gcm", "h", templates={"t": {}})


def test_installation_patches_validate_their_paths() -> None:
    assert InstallationPatch("add", "/tags", "x").to_json() == {
        "op": "add",
        "path": "/tags",
        "value": "x",
    }
    assert InstallationPatch("remove", "/tags/x").to_json() == {"op": "remove", "path": "/tags/x"}
    with pytest.raises(InvalidArgumentError, match="path"):
        InstallationPatch("add", "/platform", "gcm")
    with pytest.raises(InvalidArgumentError, match="needs a value"):
        InstallationPatch("replace", "/userId")
