"""Property tests of the emulator's parsers: FCM conditions, v1 messages, AidLogin.

Their only allowed outcomes on arbitrary input are a result or the documented error
(``ValueError`` / ``GoogleApiError`` 400 / ``None``), never another exception.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pullkin.emulator import fcm, fcm_condition
from pullkin.emulator.routes_checkin import _aid_login
from pullkin.emulator.routes_common import GoogleApiError

TOPICS = ["a", "b", "c", "d", "e"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
message_keys = st.sampled_from(
    ["token", "topic", "condition", "data", "notification", "android", "webpush", "apns",
     "fcm_options", "fcmOptions", "name", "bogus"]
)  # fmt: skip


@given(st.text(max_size=60))
def test_condition_parser_returns_a_condition_or_value_error(text: str) -> None:
    try:
        condition = fcm_condition.parse(text)
    except ValueError:
        return
    assert len(condition.topics) <= fcm_condition.MAX_TOPICS
    assert condition.matches(frozenset()) in (True, False)


def _expressions() -> st.SearchStrategy[tuple[str, Any]]:
    leaf = st.sampled_from(TOPICS).map(lambda t: (f"'{t}' in topics", ("in", t)))

    def extend(children: st.SearchStrategy[tuple[str, Any]]) -> st.SearchStrategy[Any]:
        return (
            children.map(lambda c: (f"!({c[0]})", ("not", c[1])))
            | st.tuples(children, children).map(
                lambda p: (f"({p[0][0]}) && ({p[1][0]})", ("and", p[0][1], p[1][1]))
            )
            | st.tuples(children, children).map(
                lambda p: (f"({p[0][0]}) || ({p[1][0]})", ("or", p[0][1], p[1][1]))
            )
        )

    return st.recursive(leaf, extend, max_leaves=6)


def _evaluate(tree: Any, topics: frozenset[str]) -> bool:
    if tree[0] == "in":
        return tree[1] in topics
    if tree[0] == "not":
        return not _evaluate(tree[1], topics)
    left, right = _evaluate(tree[1], topics), _evaluate(tree[2], topics)
    return left and right if tree[0] == "and" else left or right


@given(_expressions(), st.frozensets(st.sampled_from(TOPICS)))
def test_condition_evaluates_like_boolean_logic(expression: Any, topics: frozenset[str]) -> None:
    text, tree = expression
    condition = fcm_condition.parse(text)
    assert condition.matches(topics) == _evaluate(tree, topics)


@given(st.dictionaries(message_keys, json_values, max_size=5))
def test_message_validation_accepts_or_answers_400(message: dict[str, Any]) -> None:
    problem: GoogleApiError | None = None
    try:
        fcm.validate(message)
    except GoogleApiError as exc:
        problem = exc
    if problem is not None:
        assert problem.http_status == 400
        assert problem.body()["error"]["status"] == "INVALID_ARGUMENT"


@given(json_values)
def test_message_validation_of_any_json_value(value: Any) -> None:
    problem: GoogleApiError | None = None
    try:
        fcm.validate(value)
    except GoogleApiError as exc:
        problem = exc
    assert problem is None or problem.http_status == 400


@given(st.text(max_size=50))
def test_aid_login_parses_or_refuses(header: str) -> None:
    parsed = _aid_login(header)
    if parsed is not None:
        assert header.startswith("AidLogin ")
        assert all(0 <= part < 1 << 64 for part in parsed)


@given(st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 64) - 1))
def test_aid_login_round_trips_decimal_pairs(android_id: int, token: int) -> None:
    assert _aid_login(f"AidLogin {android_id}:{token}") == (android_id, token)
