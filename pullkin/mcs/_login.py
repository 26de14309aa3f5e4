"""LoginRequest / LoginResponse ⇄ their events (mcs.md §2, §5).  Pure.

Decoding never lets a ``ValueError`` or a ``bytes`` string out: numbers are checked
before ``int()``, strings go through ``_strings``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pullkin.errors import RemoteProtocolError
from pullkin.mcs import events as ev
from pullkin.mcs._strings import opaque_ids, text
from pullkin.proto import mcs_pb2

__all__ = ["decode_login_request", "decode_login_response", "login_request", "login_response"]

_DOMAIN = "mcs.android.com"


def login_request(event: ev.LoginRequest) -> mcs_pb2.LoginRequest:
    request = mcs_pb2.LoginRequest(
        id=event.client_id,
        domain=_DOMAIN,
        user=str(event.android_id),
        resource=str(event.android_id),
        auth_token=str(event.security_token),
        device_id=event.resolved_device_id,
        received_persistent_id=event.persistent_ids,
        adaptive_heartbeat=False,
        use_rmq2=True,
        auth_service=mcs_pb2.LoginRequest.ANDROID_ID,
        network_type=1,
    )
    settings = [("new_vc", "1"), *event.settings]
    if event.heartbeat_interval_ms is not None:
        settings.append(("hbping", str(event.heartbeat_interval_ms)))
    request.setting.extend(mcs_pb2.Setting(name=n, value=v) for n, v in settings)
    if event.heartbeat_stat_ms is not None:
        request.heartbeat_stat.ip = ""
        request.heartbeat_stat.timeout = True
        request.heartbeat_stat.interval_ms = event.heartbeat_stat_ms
    return request


def decode_login_request(request: mcs_pb2.LoginRequest) -> tuple[ev.Event, Any]:
    android_id = _decimal(request.user, "user")
    token = _decimal(request.auth_token, "auth_token")
    settings = _settings(request.setting)
    event = ev.LoginRequest(
        android_id=android_id,
        security_token=token,
        client_id=text(request.id),
        persistent_ids=opaque_ids(request.received_persistent_id),
        heartbeat_interval_ms=_interval_ms(dict(settings).get("hbping")),
        heartbeat_stat_ms=(
            request.heartbeat_stat.interval_ms if request.HasField("heartbeat_stat") else None
        ),
        settings=tuple(s for s in settings if s[0] not in ("new_vc", "hbping")),
        device_id=text(request.device_id),
    )
    return event, request


def _decimal(value: str | bytes, name: str) -> int:
    """A decimal id of the LoginRequest: ASCII digits only (``int()`` also takes
    ``'١٢'``, ``'1_0'`` and ``' 7'``), at most 20 of them (64 bits)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    raise RemoteProtocolError(f"LoginRequest {name} is not a decimal number of up to 20 digits")


def _interval_ms(value: str | None) -> int | None:
    """The ``hbping`` setting, or None when it is not a plain number of milliseconds."""
    if value and value.isascii() and value.isdigit() and len(value) <= 10:
        return int(value)
    return None


def _settings(settings: Iterable[mcs_pb2.Setting]) -> tuple[tuple[str, str], ...]:
    return tuple((text(s.name), text(s.value)) for s in settings)


def login_response(event: ev.LoginResponse, stream_id_in: int) -> mcs_pb2.LoginResponse:
    response = mcs_pb2.LoginResponse(id=event.id, last_stream_id_received=stream_id_in)
    if event.jid:
        response.jid = event.jid
    if event.error_code:
        response.error.code = event.error_code
        if event.error_message:
            response.error.message = event.error_message
    response.setting.extend(mcs_pb2.Setting(name=n, value=v) for n, v in event.settings)
    if event.heartbeat_interval_ms is not None:
        response.heartbeat_config.interval_ms = event.heartbeat_interval_ms
    if event.server_timestamp_ms is not None:
        response.server_timestamp = event.server_timestamp_ms
    return response


def decode_login_response(response: mcs_pb2.LoginResponse) -> tuple[ev.Event, Any]:
    error = response.error if response.HasField("error") else None
    interval = response.heartbeat_config.interval_ms if response.HasField("heartbeat_config") else 0
    event = ev.LoginResponse(
        id=text(response.id),
        jid=text(response.jid),
        error_code=error.code if error is not None else None,
        error_message=text(error.message) if error is not None else "",
        server_timestamp_ms=response.server_timestamp if response.HasField("server_timestamp")
        else None,
        heartbeat_interval_ms=interval or None,
        settings=_settings(response.setting),
    )  # fmt: skip
    return event, response
