"""``BaiduSender``: every method of Baidu Cloud Push REST 3.0, async, typed, signed right.

The seed's ``Channel`` methods in snake_case (vendors/baidu.md §1): pushes to one
device, all devices, a tag or a batch; message, timer and topic queries; tag
management; statistics.  Parameters are validated before anything is sent
(``baidu_params``); requests are signed with PHP ``urlencode`` semantics
(``baidu_sign``; the official Python SDK's ``quote_plus`` fails on ``~``) over the
exact URL posted to, and the secret key is never sent.  A 30606 (request expired)
is re-signed with a fresh timestamp once.  HTTP goes through ``pullkin.senders._http``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import aiohttp

from pullkin.errors import ConfigError, SendError, UnauthenticatedError
from pullkin.senders import baidu_params as p
from pullkin.senders._common import check_base_url, require_non_empty
from pullkin.senders._http import HttpClient, HttpResponse, RetryPolicy, _OwnsHttpClient, not_json
from pullkin.senders.baidu_models import (
    BaiduAndroidNotification,
    BaiduIosNotification,
    DeployStatus,
    DeviceType,
    Msg,
    MsgType,
)
from pullkin.senders.baidu_results import (
    TIME_EXPIRED,
    BaiduDeviceNum,
    BaiduDeviceResults,
    BaiduDeviceStatistics,
    BaiduList,
    BaiduMsgStatus,
    BaiduPushResult,
    BaiduRecord,
    BaiduTag,
    BaiduTagResult,
    BaiduTimer,
    BaiduTopic,
    BaiduTopicStatistics,
    device_results,
    device_statistics,
    error_for,
    topic_statistics,
)
from pullkin.senders.baidu_sign import sign

__all__ = [
    "DEFAULT_BASE_URL",
    "BaiduAndroidNotification",
    "BaiduIosNotification",
    "BaiduSender",
    "DeployStatus",
    "DeviceType",
    "MsgType",
]

log = logging.getLogger(__name__)

#: Baidu's REST root.  The official SDKs use plain http; the same host serves https,
#: and the scheme is part of the signature, so whatever is used is what is signed.
DEFAULT_BASE_URL = "https://api.tuisong.baidu.com/rest/3.0/"
_FORM = {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}
_When = int | _dt.datetime


def _classify(response: HttpResponse) -> SendError | None:
    body = response.json()
    ok = response.status < 400 and isinstance(body, dict) and "error_code" not in body
    if ok and isinstance(body.get("response_params", {}), (dict, list)):
        return None
    if not isinstance(body, dict) and response.status < 400:
        return not_json(response, "baidu", "Baidu")
    return error_for(
        body if isinstance(body, dict) else response.text()[:500],
        http_status=response.status,
        retry_after=response.retry_after,
    )


class BaiduSender(_OwnsHttpClient):
    """Baidu Cloud Push as one app (``api_key`` + ``secret_key``).

    ``device_type`` (3 Android, 4 iOS) is sent with every call unless a call gives
    its own: Baidu 3.0 splits each app by platform.  ``base_url`` is the REST root
    (``…/rest/3.0/``); ``sign_expires`` adds an ``expires`` of that many seconds
    after the timestamp (anti-replay).  ``timeout`` bounds each attempt and
    ``connect_timeout`` its connection (the seed's ``timeout`` / ``connecttimeout``).
    ``clock`` gives Unix time (tests).
    """

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        device_type: int | None = None,
        base_url: str = DEFAULT_BASE_URL,
        sign_expires: int | None = None,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        insecure: bool = False,
        timeout: float = 10.0,
        connect_timeout: float | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        require_non_empty("BaiduSender", api_key=api_key, secret_key=secret_key)
        check_base_url("BaiduSender", base_url)
        if sign_expires is not None and not 0 < sign_expires <= 600:
            raise ConfigError("BaiduSender sign_expires must be 1..600 seconds")
        self.api_key = api_key
        self._secret_key = secret_key
        self.device_type = p.device_type_param(device_type)
        self._base_url = base_url.rstrip("/") + "/"
        self._sign_expires = sign_expires
        self._clock = clock
        self._http = HttpClient(
            "baidu", session=session, timeout=timeout, connect_timeout=connect_timeout,
            retry=retry, ssl=ssl_context, insecure=insecure, classify=_classify,
        )  # fmt: skip

    def set_api_key(self, api_key: str) -> None:
        """Use another API key from the next call on (the seed's ``setApiKey``)."""
        require_non_empty("BaiduSender", api_key=api_key)
        self.api_key = api_key

    def set_secret_key(self, secret_key: str) -> None:
        """Sign with another secret key from the next call on (``setSecretKey``)."""
        require_non_empty("BaiduSender", secret_key=secret_key)
        self._secret_key = secret_key

    # --- the one request path -------------------------------------------------------

    def signed_form(
        self, method: str, params: Mapping[str, str | int], device_type: int | None = None
    ) -> tuple[str, dict[str, str]]:
        """URL and signed form fields of one call (``method`` like ``push/all``)."""
        url = self._base_url + method
        now = int(self._clock())
        fields: dict[str, str | int] = {"apikey": self.api_key, "timestamp": now}
        kind = self._kind(device_type)
        if kind is not None:
            fields["device_type"] = kind
        if self._sign_expires is not None:
            fields["expires"] = now + self._sign_expires
        fields.update(params)
        form = {key: str(value) for key, value in fields.items()}
        form["sign"] = sign("POST", url, fields, self._secret_key)
        return url, form

    async def _call(
        self,
        method: str,
        params: Mapping[str, str | int],
        device_type: int | None = None,
        *,
        idempotent: bool = True,
    ) -> tuple[dict[str, Any], str | None]:
        """POST one call; returns ``response_params`` and Baidu's request id.

        ``idempotent=False`` (pushes): never repeated after a 2xx, and after a timeout or
        a 5xx only while ``RetryPolicy.repeat_sends`` (see ``senders._http``).
        """
        try:
            response = await self._post(method, params, device_type, idempotent)
        except UnauthenticatedError as exc:
            if exc.code != str(TIME_EXPIRED):
                raise
            log.info("baidu: request expired (clock skew?); re-signing once")
            response = await self._post(method, params, device_type, idempotent)
        body = response.json()
        request_id = body.get("request_id")
        result = body.get("response_params")
        return (
            result if isinstance(result, dict) else {"result": result},
            None if request_id is None else str(request_id),
        )

    async def _post(
        self,
        method: str,
        params: Mapping[str, str | int],
        device_type: int | None,
        idempotent: bool,
    ) -> HttpResponse:
        url, form = self.signed_form(method, params, device_type)
        return await self._http.request(
            "POST", url, data=urlencode(form), headers=_FORM, idempotent=idempotent
        )

    async def _push(
        self, method: str, targets: p.Params, msg: Msg, device_type: int | None, **options: Any
    ) -> BaiduPushResult:
        """POST a push: *targets*, then the message parameters (``baidu_params.push``)."""
        params: p.Params = dict(targets)
        params.update(
            p.push(msg, now=self._clock(), device_type=self._kind(device_type), **options)
        )
        result, request_id = await self._call(method, params, device_type, idempotent=False)
        return BaiduPushResult.parse(result, request_id)

    def _kind(self, device_type: int | None) -> int | None:
        return p.device_type_param(device_type) or self.device_type

    # --- pushes ---------------------------------------------------------------------

    async def push_single_device(
        self,
        channel_id: str,
        msg: Msg,
        *,
        msg_type: int | None = None,
        msg_expires: int | None = None,
        deploy_status: int | None = None,
        device_type: int | None = None,
        topic_id: str | None = None,
    ) -> BaiduPushResult:
        """Push to one device (``pushMsgToSingleDevice``)."""
        return await self._push(
            "push/single_device", {"channel_id": p.channel_id_param(channel_id)}, msg,
            device_type, msg_type=msg_type, msg_expires=msg_expires,
            deploy_status=deploy_status, topic_id=topic_id,
        )  # fmt: skip

    async def push_all(
        self,
        msg: Msg,
        *,
        msg_type: int | None = None,
        msg_expires: int | None = None,
        deploy_status: int | None = None,
        send_time: _When | None = None,
        device_type: int | None = None,
    ) -> BaiduPushResult:
        """Broadcast to every device of the app; ``send_time`` makes it a timer."""
        return await self._push(
            "push/all", {}, msg, device_type, msg_type=msg_type, msg_expires=msg_expires,
            deploy_status=deploy_status, send_time=send_time,
        )  # fmt: skip

    async def push_tags(
        self,
        tag: str,
        msg: Msg,
        type: int = 1,
        *,
        msg_type: int | None = None,
        msg_expires: int | None = None,
        deploy_status: int | None = None,
        send_time: _When | None = None,
        device_type: int | None = None,
    ) -> BaiduPushResult:
        """Push to every device in *tag* (``type`` is always 1, a normal tag)."""
        if type != 1:
            raise p.invalid("Baidu push_tags type must be 1 (a normal tag)")
        return await self._push(
            "push/tags", {"type": 1, "tag": p.tag_name(tag)}, msg, device_type,
            msg_type=msg_type, msg_expires=msg_expires, deploy_status=deploy_status,
            send_time=send_time,
        )  # fmt: skip

    async def push_batch_device(
        self,
        channel_ids: Sequence[str],
        msg: Msg,
        *,
        msg_type: int | None = None,
        msg_expires: int | None = None,
        deploy_status: int | None = None,
        topic_id: str | None = None,
        device_type: int | None = None,
    ) -> BaiduPushResult:
        """Push one message to up to 10,000 channels (``pushBatchUniMsg``)."""
        return await self._push(
            "push/batch_device", p.batch_device(channel_ids), msg, device_type,
            msg_type=msg_type, msg_expires=msg_expires, deploy_status=deploy_status,
            topic_id=topic_id,
        )  # fmt: skip

    # The seed SDK's names for the same calls.
    push_msg_to_single_device = push_single_device
    push_msg_to_all = push_all
    push_msg_to_tag = push_tags
    push_batch_uni_msg = push_batch_device

    # --- reports --------------------------------------------------------------------

    async def query_msg_status(self, msg_id: str | Sequence[str]) -> BaiduList:
        """Status of a broadcast/tag/batch message (not single-device ones)."""
        result, rid = await self._call(
            "report/query_msg_status", {"msg_id": p.msg_ids_param(msg_id)}
        )
        return BaiduList.parse(result, BaiduMsgStatus, rid)

    async def query_timer_records(
        self,
        timer_id: str,
        *,
        start: int | None = None,
        limit: int | None = None,
        range_start: _When | None = None,
        range_end: _When | None = None,
    ) -> BaiduList:
        """The messages a timer task sent (``result``: ``BaiduRecord``)."""
        params: p.Params = {"timer_id": p.non_empty("timer_id", timer_id)}
        params.update(p.records(start, limit, range_start, range_end))
        result, rid = await self._call("report/query_timer_records", params)
        return BaiduList.parse(result, BaiduRecord, rid, "timer_id")

    async def query_topic_records(
        self,
        topic_id: str,
        *,
        start: int | None = None,
        limit: int | None = None,
        range_start: _When | None = None,
        range_end: _When | None = None,
    ) -> BaiduList:
        """The messages sent under a batch-push topic (``result``: ``BaiduRecord``)."""
        params: p.Params = {"topic_id": p.topic_id_param(topic_id)}
        params.update(p.records(start, limit, range_start, range_end))
        result, rid = await self._call("report/query_topic_records", params)
        return BaiduList.parse(result, BaiduRecord, rid, "topic_id")

    async def query_timer_list(
        self, *, timer_id: str | None = None, start: int | None = None, limit: int | None = None
    ) -> BaiduList:
        """Unfinished timer tasks (``result``: ``BaiduTimer``)."""
        params = p.page(start, limit)
        if timer_id is not None:
            params["timer_id"] = p.non_empty("timer_id", timer_id)
        result, rid = await self._call("timer/query_list", params)
        return BaiduList.parse(result, BaiduTimer, rid)

    async def query_topic_list(
        self, *, start: int | None = None, limit: int | None = None
    ) -> BaiduList:
        """Topics used by batch pushes, with push/arrival counts (``BaiduTopic``)."""
        result, rid = await self._call("topic/query_list", p.page(start, limit))
        return BaiduList.parse(result, BaiduTopic, rid)

    # --- tags -----------------------------------------------------------------------

    async def query_tags(
        self, *, tag: str | None = None, start: int | None = None, limit: int | None = None
    ) -> BaiduList:
        """The app's tags, or just *tag* (``result``: ``BaiduTag``)."""
        params = p.page(start, limit)
        if tag is not None:
            params["tag"] = p.tag_name(tag)
        result, rid = await self._call("app/query_tags", params)
        return BaiduList.parse(result, BaiduTag, rid)

    async def create_tag(self, tag: str) -> BaiduTagResult:
        result, rid = await self._call("app/create_tag", {"tag": p.tag_name(tag)})
        return BaiduTagResult(str(result.get("tag", tag)), _int(result.get("result")), rid)

    async def delete_tag(self, tag: str) -> BaiduTagResult:
        result, rid = await self._call("app/del_tag", {"tag": p.tag_name(tag)})
        return BaiduTagResult(str(result.get("tag", tag)), _int(result.get("result")), rid)

    async def add_devices_to_tag(self, tag: str, channel_ids: Sequence[str]) -> BaiduDeviceResults:
        """Add 1..10 channels to *tag*; one result per channel."""
        params = {"tag": p.tag_name(tag), "channel_ids": p.channel_ids_param(channel_ids, 10)}
        return device_results(*await self._call("tag/add_devices", params))

    async def del_devices_from_tag(
        self, tag: str, channel_ids: Sequence[str]
    ) -> BaiduDeviceResults:
        """Remove 1..10 channels from *tag*; one result per channel."""
        params = {"tag": p.tag_name(tag), "channel_ids": p.channel_ids_param(channel_ids, 10)}
        return device_results(*await self._call("tag/del_devices", params))

    delete_devices_from_tag = del_devices_from_tag

    async def query_device_num_in_tag(self, tag: str) -> BaiduDeviceNum:
        """How many devices *tag* holds (``.device_num``)."""
        result, rid = await self._call("tag/device_num", {"tag": p.tag_name(tag)})
        return BaiduDeviceNum(_int(result.get("device_num")) or 0, rid)

    # --- statistics -----------------------------------------------------------------

    async def query_statistic_device(self) -> BaiduDeviceStatistics:
        """Device counts of the last 30 days."""
        result, rid = await self._call("report/statistic_device", {})
        return device_statistics(result, rid)

    async def query_statistic_topic(self, topic_id: str) -> BaiduTopicStatistics:
        """Arrivals of a topic over the last 30 days."""
        result, rid = await self._call(
            "report/statistic_topic", {"topic_id": p.topic_id_param(topic_id)}
        )
        return topic_statistics(result, rid)

    def __repr__(self) -> str:
        return f"<BaiduSender device_type={self.device_type} {self._http!r}>"


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
