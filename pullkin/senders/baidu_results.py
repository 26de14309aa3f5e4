"""Baidu Cloud Push: error codes → pullkin errors, and typed answers (pure).

Success is ``{"request_id": n, "response_params": {...}}``; failure a non-200 status
with ``{"request_id", "error_code", "error_msg"}`` (vendors/baidu.md §5–6).  The
parsers are lenient about what they do not need (Baidu's shapes vary between
methods) and keep the decoded ``response_params`` in ``raw``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pullkin.errors import (
    InvalidArgumentError,
    NotFoundError,
    QuotaExceededError,
    SendError,
    UnauthenticatedError,
    UnavailableError,
    UnregisteredError,
)
from pullkin.senders._common import class_for_status

__all__ = [
    "BaiduDeviceNum",
    "BaiduDeviceResult",
    "BaiduDeviceResults",
    "BaiduDeviceStat",
    "BaiduDeviceStatistics",
    "BaiduList",
    "BaiduMsgStatus",
    "BaiduPushResult",
    "BaiduRecord",
    "BaiduTag",
    "BaiduTagResult",
    "BaiduTimer",
    "BaiduTopic",
    "BaiduTopicStatistics",
    "error_for",
]

#: Request time expired (clock skew or a slow retry): re-sign with a fresh timestamp.
TIME_EXPIRED = 30606

_CODES: dict[int, tuple[type[SendError], str]] = {
    30600: (UnavailableError, "internal server error: retry later"),
    30601: (InvalidArgumentError, "method not allowed"),
    30602: (InvalidArgumentError, "request parameters are not valid"),
    30603: (
        UnauthenticatedError,
        "authentication failed: check api_key, secret_key and device_type",
    ),
    30604: (QuotaExceededError, "the quota is used up"),
    30605: (NotFoundError, "the requested data was not found"),
    30606: (UnauthenticatedError, "the request expired: check the system clock"),
    30607: (UnregisteredError, "the channel token timed out: drop the channel_id"),
    30608: (UnregisteredError, "the channel is not bound to this app: drop the channel_id"),
    30609: (InvalidArgumentError, "too many bindings"),
    30610: (InvalidArgumentError, "duplicate operation"),
    30611: (NotFoundError, "the tag does not exist"),
    30612: (UnauthenticatedError, "the application is forbidden (whitelist authorization)"),
    30613: (UnauthenticatedError, "the app must first be initialised in the push console"),
    30614: (QuotaExceededError, "too many tags for this user"),
    30615: (QuotaExceededError, "too many tags for this app"),
    30699: (QuotaExceededError, "requests are too frequent: slow down"),
}


def error_for(
    body: Mapping[str, Any] | str | None,
    *,
    http_status: int | None,
    retry_after: float | None = None,
) -> SendError:
    """The pullkin error for a Baidu error answer (``error_code`` wins over status)."""
    fields = body if isinstance(body, Mapping) else {}
    code = fields.get("error_code")
    known = _CODES.get(code) if isinstance(code, int) else None
    if known is None and isinstance(code, str) and code.isdigit():
        known = _CODES.get(int(code))
    cls, meaning = known or (class_for_status(http_status), "Baidu refused the request")
    detail = fields.get("error_msg")
    request_id = fields.get("request_id")
    return cls(
        f"Baidu: {meaning}" + (f" ({detail})" if detail else ""),
        vendor="baidu",
        code=None if code is None else str(code),
        http_status=http_status,
        retry_after=retry_after,
        request_id=None if request_id is None else str(request_id),
        response=body,
    )


def _int(value: Any, default: int | None = None) -> int | None:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return default


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _items(value: Any) -> list[Mapping[str, Any]]:
    """List-shaped results; Baidu sometimes sends an object keyed by id instead."""
    if isinstance(value, Mapping):
        value = list(value.values())
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


@dataclass(frozen=True)
class BaiduPushResult:
    """A push accepted: ``timer_id`` is set when ``send_time`` made it a timer."""

    msg_id: str
    send_time: int | None
    timer_id: str | None = None
    request_id: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, Any], request_id: str | None) -> BaiduPushResult:
        return cls(
            msg_id=str(params.get("msg_id", "")),
            send_time=_int(params.get("send_time")),
            timer_id=_str(params.get("timer_id")),
            request_id=request_id,
        )


@dataclass(frozen=True)
class BaiduMsgStatus:
    """``status``: 0 sent, 1 not sent, 2 sending, 3 failed."""

    msg_id: str
    status: int | None
    send_time: int | None
    success: int | None
    total_num: int | None

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> BaiduMsgStatus:
        return cls(
            msg_id=str(item.get("msg_id", "")),
            status=_int(item.get("status")),
            send_time=_int(item.get("send_time")),
            success=_int(item.get("success")),
            total_num=_int(item.get("total_num")),
        )


@dataclass(frozen=True)
class BaiduRecord:
    """One message a timer or topic produced."""

    msg_id: str
    status: int | None
    send_time: int | None

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> BaiduRecord:
        msg_id = str(item.get("msg_id", ""))
        return cls(msg_id, _int(item.get("status")), _int(item.get("send_time")))


@dataclass(frozen=True)
class BaiduTimer:
    """An unfinished timer task."""

    timer_id: str
    msg: str
    send_time: int | None
    msg_type: int | None
    range_type: int | None

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> BaiduTimer:
        return cls(
            timer_id=str(item.get("timer_id", "")),
            msg=str(item.get("msg", "")),
            send_time=_int(item.get("send_time")),
            msg_type=_int(item.get("msg_type")),
            range_type=_int(item.get("range_type")),
        )


@dataclass(frozen=True)
class BaiduTopic:
    """A batch-push topic: ``ack_cnt`` -1 means the figure is not ready."""

    topic_id: str
    ctime: int | None
    mtime: int | None
    push_cnt: int | None
    ack_cnt: int | None

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> BaiduTopic:
        return cls(
            topic_id=str(item.get("topic_id", "")),
            ctime=_int(item.get("ctime")),
            mtime=_int(item.get("mtime")),
            push_cnt=_int(item.get("push_cnt")),
            ack_cnt=_int(item.get("ack_cnt")),
        )


@dataclass(frozen=True)
class BaiduTag:
    """A tag (group) of the app."""

    tid: int | None
    tag: str
    create_time: int | None
    info: str | None = None
    type: int | None = None

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> BaiduTag:
        return cls(
            tid=_int(item.get("tid")),
            tag=str(item.get("tag", "")),
            create_time=_int(item.get("create_time")),
            info=_str(item.get("info")),
            type=_int(item.get("type")),
        )


@dataclass(frozen=True)
class BaiduList:
    """A page of results: ``total_num`` and the typed ``result`` items.

    ``id`` echoes the ``timer_id`` / ``topic_id`` of a record query.
    """

    total_num: int | None
    result: tuple[Any, ...]
    id: str | None = None
    request_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(
        cls,
        params: Mapping[str, Any],
        item_type: Any,
        request_id: str | None,
        id_key: str | None = None,
    ) -> BaiduList:
        items = tuple(item_type.parse(item) for item in _items(params.get("result")))
        total = _int(params.get("total_num"), len(items))
        return cls(total, items, _str(params.get(id_key)) if id_key else None, request_id, params)


@dataclass(frozen=True)
class BaiduTagResult:
    """``create_tag`` / ``delete_tag``: ``result`` 0 success, 1 failure."""

    tag: str
    result: int | None
    request_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.result == 0


@dataclass(frozen=True)
class BaiduDeviceResult:
    """One channel of ``add_devices_to_tag`` / ``delete_devices_from_tag``."""

    channel_id: str
    result: int | None

    @property
    def ok(self) -> bool:
        return self.result == 0


@dataclass(frozen=True)
class BaiduDeviceResults:
    """``add_devices_to_tag`` / ``del_devices_from_tag``: one result per channel (the
    object iterates over them) and the call's ``request_id`` (the seed's getRequestId)."""

    results: tuple[BaiduDeviceResult, ...]
    request_id: str | None = None

    def __iter__(self) -> Iterator[BaiduDeviceResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, index: int) -> BaiduDeviceResult:
        return self.results[index]


def device_results(params: Mapping[str, Any], request_id: str | None) -> BaiduDeviceResults:
    items = _items(params.get("result", params.get("devices")))
    results = tuple(
        BaiduDeviceResult(str(item.get("channel_id", "")), _int(item.get("result")))
        for item in items
    )
    return BaiduDeviceResults(results, request_id)


@dataclass(frozen=True)
class BaiduDeviceNum:
    """``query_device_num_in_tag``: the count and the call's ``request_id``."""

    device_num: int
    request_id: str | None = None


@dataclass(frozen=True)
class BaiduDeviceStat:
    """Device counts of one day."""

    new_term: int | None
    del_term: int | None
    online_term: int | None
    addup_term: int | None
    total_term: int | None


@dataclass(frozen=True)
class BaiduDeviceStatistics:
    """30 days of device counts, keyed by the day's 00:00 Unix time."""

    total_num: int | None
    result: Mapping[int, BaiduDeviceStat]
    request_id: str | None = None


@dataclass(frozen=True)
class BaiduTopicStatistics:
    """30 days of arrivals (``ack``) of a topic, keyed by the day's 00:00 Unix time."""

    total_num: int | None
    result: Mapping[int, int | None]
    request_id: str | None = None


def _daily(params: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    result = params.get("result")
    days: dict[int, Mapping[str, Any]] = {}
    if isinstance(result, Mapping):
        for key, value in result.items():
            day = _int(key)
            if day is not None and isinstance(value, Mapping):
                days[day] = value
    return days


def device_statistics(params: Mapping[str, Any], request_id: str | None) -> BaiduDeviceStatistics:
    keys = ("new_term", "del_term", "online_term", "addup_term", "total_term")
    stats = {
        day: BaiduDeviceStat(*(_int(v.get(k)) for k in keys)) for day, v in _daily(params).items()
    }
    return BaiduDeviceStatistics(_int(params.get("total_num"), len(stats)), stats, request_id)


def topic_statistics(params: Mapping[str, Any], request_id: str | None) -> BaiduTopicStatistics:
    acks = {day: _int(v.get("ack")) for day, v in _daily(params).items()}
    return BaiduTopicStatistics(_int(params.get("total_num"), len(acks)), acks, request_id)
