"""pullkin._serde: dataclass ⇄ JSON-ready dict, and a ConfigError naming the bad field
(never echoing its value: it may be a secret) for every way the data can be wrong."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullkin._serde import from_dict, to_dict
from pullkin.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class Outer:
    count: int
    flag: bool
    blob: bytes
    when: dt.datetime
    kind: Literal["web", "android"]
    inner: Inner
    maybe: int | None = None
    either: int | str = 0
    tags: list[str] = field(default_factory=list)
    pairs: tuple[int, ...] = ()
    table: dict[str, Inner] = field(default_factory=dict)
    anything: Any = None
    derived: str = field(default="x", init=False)


@dataclass(frozen=True)
class Checked:
    port: int

    def __post_init__(self) -> None:
        if self.port > 65535:
            raise ValueError("port must be at most 65535")


@dataclass(frozen=True)
class Wrapper:
    checked: Checked


WHEN = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
SAMPLE = Outer(
    count=3,
    flag=True,
    blob=b"\x00\xfe\xff",
    when=WHEN,
    kind="web",
    inner=Inner("a", 2.5),
    maybe=7,
    either="seven",
    tags=["x", "y"],
    pairs=(1, 2),
    table={"k": Inner("b")},
    anything={"free": [1, "form"]},
)


def test_round_trip_of_every_supported_type() -> None:
    data = to_dict(SAMPLE)
    assert data["blob"] == "AP7_"  # base64url, unpadded
    assert data["when"] == "2025-01-02T03:04:05+00:00"
    assert data["pairs"] == [1, 2]
    assert data["inner"] == {"name": "a", "weight": 2.5}
    assert from_dict(Outer, data) == SAMPLE


def test_values_already_of_the_right_type_are_accepted() -> None:
    data = {**to_dict(SAMPLE), "blob": b"raw", "when": WHEN, "inner": Inner("z")}
    built = from_dict(Outer, data)
    assert (built.blob, built.when, built.inner) == (b"raw", WHEN, Inner("z"))


def test_an_int_is_accepted_for_a_float() -> None:
    assert from_dict(Inner, {"name": "a", "weight": 3}) == Inner("a", 3.0)
    assert isinstance(from_dict(Inner, {"name": "a", "weight": 3}).weight, float)


def test_optional_fields_may_be_null_or_missing() -> None:
    data = to_dict(SAMPLE)
    data["maybe"] = None
    del data["tags"]
    built = from_dict(Outer, data)
    assert built.maybe is None
    assert built.tags == []


def broken(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = to_dict(SAMPLE)
    for key, value in changes.items():
        if value is KeyError:
            del data[key]
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (broken(count="3"), "Outer.count must be of type int, got str"),
        (broken(count=True), "Outer.count must be of type int, got bool"),
        (broken(flag=1), "Outer.flag must be of type bool, got int"),
        (broken(count=KeyError), "Outer.count is required"),
        (broken(maybe="7"), "Outer.maybe must be of type int, got str"),
        (broken(inner=None), "Outer.inner must be an object, got NoneType"),
        (broken(inner="a"), "Outer.inner must be an object, got str"),
        (broken(inner={"name": "a", "weight": "heavy"}), "Outer.inner.weight must be of type"),
        (broken(inner={"name": "a", "weight": False}), "Outer.inner.weight must be of type"),
        (broken(blob="not base64 !"), "Outer.blob must be base64url text"),
        (broken(blob=5), "Outer.blob must be base64url text"),
        (broken(when="yesterday"), "Outer.when must be an ISO 8601 date-time string"),
        (broken(when=5), "Outer.when must be an ISO 8601 date-time string"),
        (broken(kind="ios"), "Outer.kind must be one of 'web', 'android', got 'ios'"),
        (broken(either=1.5), "Outer.either must be of type int, got float"),
        (broken(either=None), "Outer.either is required"),
        (broken(tags="x"), r"Outer.tags must be a list, got str"),
        (broken(tags=["x", 1]), r"Outer.tags\[1\] must be of type str, got int"),
        (broken(pairs=[1, "2"]), r"Outer.pairs\[1\] must be of type int, got str"),
        (broken(table=[]), "Outer.table must be an object, got list"),
        (broken(table={"k": {"name": 1}}), r"Outer.table\['k'\].name must be of type str"),
        (broken(table={1: {"name": "a"}}), "Outer.table keys must be strings, got 1"),
        (broken(extra=1, more=2), "Outer has unknown field\\(s\\): extra, more"),
        (broken(derived="y"), r"Outer has unknown field\(s\): derived"),
        ([1, 2], "Outer must be an object, got list"),
    ],
)
def test_bad_data_names_the_field(data: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)


def test_a_secret_value_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(Inner, {"name": 123456789, "weight": 1})
    assert "123456789" not in str(info.value)


def test_a_dataclass_that_refuses_its_values_becomes_a_config_error_with_the_path() -> None:
    with pytest.raises(ConfigError, match=r"Wrapper\.checked: port must be at most 65535") as info:
        from_dict(Wrapper, {"checked": {"port": 70000}})
    assert isinstance(info.value.__cause__, ValueError)


def test_the_path_prefix_can_be_given() -> None:
    with pytest.raises(ConfigError, match=r"file\.json:apps\.count is required"):
        from_dict(Outer, {}, "file.json:apps")


def test_a_config_error_from_post_init_passes_through_unchanged() -> None:
    @dataclass(frozen=True)
    class Strict:
        value: int

        def __post_init__(self) -> None:
            raise ConfigError("Strict.value is wrong in its own words")

    with pytest.raises(ConfigError, match=r"^Strict\.value is wrong in its own words$"):
        from_dict(Strict, {"value": 1})


@given(
    count=st.integers(),
    name=st.text(),
    weight=st.floats(allow_nan=False),
    blob=st.binary(),
    tags=st.lists(st.text()),
    table=st.dictionaries(st.text(), st.text().map(Inner)),
)
def test_round_trip_property(
    count: int, name: str, weight: float, blob: bytes, tags: list[str], table: dict[str, Inner]
) -> None:
    value = Outer(
        count=count, flag=False, blob=blob, when=WHEN, kind="android",
        inner=Inner(name, weight), tags=tags, table=table,
    )  # fmt: skip
    assert from_dict(Outer, to_dict(value)) == value
