"""Property tests: every sender-side parser either parses or raises its documented error."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pullkin.emulator.vendors.azure import check_sas
from pullkin.errors import ConfigError, InvalidArgumentError, SendError
from pullkin.senders._http import HttpResponse
from pullkin.senders.azure_models import ConnectionString, parse_connection_string, parse_sas_token
from pullkin.senders.azure_records import parse_outcome, parse_registration, parse_registration_feed
from pullkin.senders.azure_wire import classify_azure
from pullkin.senders.fcm import classify_fcm
from pullkin.senders.webpush import classify_webpush

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
STATUS = st.integers(min_value=100, max_value=599)


@given(st.text(max_size=200))
def test_connection_string_parser_parses_or_raises_config_error(text: str) -> None:
    try:
        result = parse_connection_string(text)
    except ConfigError:
        return
    assert isinstance(result, ConnectionString)
    assert result.namespace_url.startswith("https://")


@given(
    st.from_regex(r"[a-z][a-z0-9-]{2,20}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9]{1,20}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9+/]{10,44}={0,2}", fullmatch=True),
    st.permutations([0, 1, 2]),
)
def test_valid_connection_strings_parse_in_any_order(
    ns: str, rule: str, key: str, order: list[int]
) -> None:
    parts = [
        f"Endpoint=sb://{ns}.servicebus.windows.net/",
        f"SharedAccessKeyName={rule}",
        f"SharedAccessKey={key}",
    ]
    parsed = parse_connection_string(";".join(parts[i] for i in order))
    assert (parsed.key_name, parsed.key) == (rule, key)
    assert parsed.namespace_url == f"https://{ns}.servicebus.windows.net/"


@given(st.text(max_size=120))
def test_sas_token_parser_parses_or_raises_value_error(text: str) -> None:
    try:
        fields = parse_sas_token(text)
    except ValueError:
        return
    assert {"sr", "sig", "se", "skn"} <= fields.keys()


@given(st.one_of(st.none(), st.text(max_size=150)))
def test_the_fakes_sas_check_never_raises(value: str | None) -> None:
    result = check_sas(value, "key", "https://ns.servicebus.windows.net/hub/messages/", time.time())
    assert isinstance(result, str)  # nothing random is a valid token


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_xml_parsers_parse_or_raise_value_error(body: bytes) -> None:
    for parser in (parse_registration, parse_registration_feed, parse_outcome):
        with contextlib.suppress(ValueError, InvalidArgumentError):
            parser(body)


def _response(status: int, body: bytes, **headers: str) -> HttpResponse:
    return HttpResponse(status, headers, body, "rid")


@given(STATUS, JSON)
def test_fcm_classifier_maps_any_json_answer(status: int, body: Any) -> None:
    error = classify_fcm(_response(status, json.dumps(body).encode()))
    assert (error is None) == (status < 400)
    if error is not None:
        assert isinstance(error, SendError)
        assert error.vendor == "fcm"
        assert error.code


@given(STATUS, st.binary(max_size=200))
def test_azure_and_webpush_classifiers_map_any_answer(status: int, body: bytes) -> None:
    for classify, vendor in ((classify_azure, "azure"), (classify_webpush, "webpush")):
        error = classify(_response(status, body))
        assert (error is None) == (status < 400)
        if error is not None:
            assert (error.vendor, bool(error.code)) == (vendor, True)
