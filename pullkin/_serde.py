"""Typed dataclass ⇄ JSON-ready dict conversion with errors that name the bad field.

One small mechanism instead of a hand-written ``from_dict`` per model: the dataclass
annotations are the schema.  Supported field types: ``str``, ``int``, ``float``,
``bool``, ``bytes`` (base64url text), ``datetime`` (ISO 8601 text), ``X | None``, ``dict[str, X]``,
``list[X]``/``tuple[X, ...]``, ``Any``, ``Literal[...]`` and nested dataclasses.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union

from pullkin._b64 import b64decode_any, b64url_encode
from pullkin.errors import ConfigError

T = TypeVar("T")

__all__ = ["from_dict", "to_dict"]


def to_dict(obj: Any) -> Any:
    """Dataclasses → dicts, datetimes → ISO text, tuples → lists, recursively.  Fields
    with ``init=False`` are derived, not data: left out, so ``from_dict`` reads it back."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, _dt.datetime):
        return obj.isoformat()
    if isinstance(obj, bytes):
        return b64url_encode(obj)
    if isinstance(obj, Mapping):
        return {key: to_dict(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(value) for value in obj]
    return obj


def from_dict(cls: type[T], data: Any, path: str | None = None) -> T:
    """Build *cls* from *data*; a wrong or missing field raises ``ConfigError``."""
    return typing.cast(T, _decode(cls, data, path or cls.__name__))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        return _decode_union(tp, value, path)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            allowed = ", ".join(repr(a) for a in typing.get_args(tp))
            raise ConfigError(f"{path} must be one of {allowed}, got {value!r}")
        return value
    if origin in (dict, Mapping):
        return _decode_mapping(tp, value, path)
    if origin in (list, tuple):
        return _decode_sequence(tp, origin, value, path)
    if dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, value, path)
    return _decode_scalar(tp, value, path)


def _decode_union(tp: Any, value: Any, path: str) -> Any:
    args = typing.get_args(tp)
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{path} is required")
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _decode(arg, value, path)
        except ConfigError as exc:
            errors.append(exc)
    raise errors[0]


def _decode_mapping(tp: Any, value: Any, path: str) -> Any:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path} must be an object, got {type(value).__name__}")
    key_tp, value_tp = typing.get_args(tp) or (str, Any)
    result = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ConfigError(f"{path} keys must be strings, got {key!r}")
        result[_decode(key_tp, key, path)] = _decode(value_tp, item, f"{path}[{key!r}]")
    return result


def _decode_sequence(tp: Any, origin: Any, value: Any, path: str) -> Any:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{path} must be a list, got {type(value).__name__}")
    item_tp = typing.get_args(tp)[0] if typing.get_args(tp) else Any
    items = [_decode(item_tp, item, f"{path}[{i}]") for i, item in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _decode_dataclass(cls: Any, value: Any, path: str) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path} must be an object, got {type(value).__name__}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = set(value) - set(fields)
    if unknown:
        raise ConfigError(f"{path} has unknown field(s): {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, field in fields.items():
        if name in value:
            kwargs[name] = _decode(hints[name], value[name], f"{path}.{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{path}.{name} is required")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _decode_scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is bytes:
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            try:
                return b64decode_any(value)
            except ValueError:
                pass
        raise ConfigError(f"{path} must be base64url text")
    elif tp is _dt.datetime:
        if isinstance(value, _dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return _dt.datetime.fromisoformat(value)
            except ValueError:
                pass
        raise ConfigError(f"{path} must be an ISO 8601 date-time string")
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    name = getattr(tp, "__name__", str(tp))
    # The value itself is not echoed: it may be a secret.
    raise ConfigError(f"{path} must be of type {name}, got {type(value).__name__}")
