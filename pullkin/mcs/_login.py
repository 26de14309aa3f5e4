"""LoginRequest / LoginResponse ⇄ their events (mcs.md §2, §5).  Pure."""

from __future__ import annotations

from typing import Any

from pullkin.errors import RemoteProtocolError
from pullkin.mcs import events as ev
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
    try:
        android_id, token = int(request.user), int(request.auth_token)
    except ValueError:
        raise RemoteProtocolError("LoginRequest user/auth_token are not decimal numbers") from None
    settings = tuple((s.name, s.value) for s in request.setting)
    hbping = dict(settings).get("hbping")
    event = ev.LoginRequest(
        android_id=android_id,
        security_token=token,
        client_id=request.id,
        persistent_ids=tuple(request.received_persistent_id),
        heartbeat_interval_ms=int(hbping) if hbping and hbping.isdigit() else None,
        heartbeat_stat_ms=(
            request.heartbeat_stat.interval_ms if request.HasField("heartbeat_stat") else None
        ),
        settings=tuple(s for s in settings if s[0] not in ("new_vc", "hbping")),
        device_id=request.device_id,
    )
    return event, request


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
        id=response.id,
        jid=response.jid,
        error_code=error.code if error is not None else None,
        error_message=error.message if error is not None else "",
        server_timestamp_ms=response.server_timestamp if response.HasField("server_timestamp")
        else None,
        heartbeat_interval_ms=interval or None,
        settings=tuple((s.name, s.value) for s in response.setting),
    )  # fmt: skip
    return event, response
