"""``UmengSender``: Umeng U-Push — every cast type, file upload, status and cancel.

The seed's six message types (vendors/umeng.md §3): unicast, listcast (500 tokens a
request, larger lists chunked), broadcast, groupcast (a filter), customizedcast
(aliases or a file) and filecast, plus ``upload``, ``status`` and ``cancel``.  The
body is serialised once (``umeng_request.dumps``), signed over those exact bytes
and sent as they are — the seed SDKs sign one serialisation and send another.  A
stale timestamp (2028) is re-stamped and re-signed once; rate limits (2050) are
raised, not retried (they last minutes to a day).
"""

from __future__ import annotations

import datetime as _dt
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp

from pullkin.errors import (
    InvalidArgumentError,
    SendError,
    UnauthenticatedError,
    UnavailableError,
)
from pullkin.senders._common import check_base_url, require_non_empty
from pullkin.senders._http import HttpClient, HttpResponse, RetryPolicy, _OwnsHttpClient, not_json
from pullkin.senders.umeng_models import (
    AndroidBody,
    AndroidPayload,
    IosAlert,
    IosAps,
    IosPayload,
    Payload,
    Policy,
)
from pullkin.senders.umeng_request import (
    MAX_LISTCAST_TOKENS,
    check_aliases,
    check_tokens,
    dumps,
    send_fields,
    signed_url,
    timestamp_ms,
)
from pullkin.senders.umeng_results import (
    STALE_TIMESTAMP_CODES,
    UmengChunk,
    UmengListcastResult,
    UmengResult,
    UmengTaskStatus,
    error_for,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "AndroidBody",
    "AndroidPayload",
    "IosAlert",
    "IosAps",
    "IosPayload",
    "Policy",
    "UmengSender",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://msgapi.umeng.com"
_JSON = {"Content-Type": "application/json"}
_MAX_UPLOAD = 10 * 1024 * 1024


def _classify(response: HttpResponse) -> SendError | None:
    body = response.json()
    if response.status < 400 and isinstance(body, dict) and body.get("ret") == "SUCCESS":
        return None
    if response.status < 400 and not isinstance(body, dict):
        return not_json(response, "umeng", "Umeng")
    return error_for(
        body if isinstance(body, dict) else response.text()[:500],
        http_status=response.status,
        retry_after=response.retry_after,
    )


def _retryable(error: SendError) -> bool:
    # 2050 and friends are per-minute..per-day budgets: retrying now only burns them.
    return isinstance(error, UnavailableError)


def _invalid(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, vendor="umeng")


class UmengSender(_OwnsHttpClient):
    """Umeng U-Push as one app (``app_key`` + ``app_master_secret``, per platform).

    ``production_mode`` False sends test messages (Android: test devices only; iOS:
    the APNs sandbox); each call may override it.  ``base_url`` defaults to
    ``https://msgapi.umeng.com``.  Umeng suggests a one-minute timeout.
    """

    def __init__(
        self,
        app_key: str,
        app_master_secret: str,
        *,
        production_mode: bool = True,
        base_url: str = DEFAULT_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        insecure: bool = False,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        require_non_empty("UmengSender", app_key=app_key, app_master_secret=app_master_secret)
        check_base_url("UmengSender", base_url)
        self.app_key = app_key
        self._secret = app_master_secret
        self.production_mode = production_mode
        self._base_url = base_url.rstrip("/")
        self._clock = clock
        self._http = HttpClient(
            "umeng", session=session, timeout=timeout, retry=retry, ssl=ssl_context,
            insecure=insecure,
            classify=_classify, retryable=_retryable,
        )  # fmt: skip

    # --- the one request path -------------------------------------------------------

    async def _post(
        self, path: str, build: Callable[[str], dict[str, Any]], *, idempotent: bool
    ) -> dict[str, Any]:
        """Sign and POST ``build(timestamp)``; returns the answer's ``data``."""
        try:
            response = await self._post_once(path, build, idempotent)
        except UnauthenticatedError as exc:
            if exc.code not in STALE_TIMESTAMP_CODES:
                raise
            log.info("umeng: timestamp rejected (clock skew?); re-signing once")
            response = await self._post_once(path, build, idempotent)
        data = response.json().get("data")
        return data if isinstance(data, dict) else {}

    async def _post_once(
        self, path: str, build: Callable[[str], dict[str, Any]], idempotent: bool
    ) -> HttpResponse:
        body = dumps(build(timestamp_ms(self._clock())))  # serialised once …
        url = signed_url(self._base_url + path, body, self._secret)  # … signed …
        return await self._http.request(  # … and sent byte for byte
            "POST", url, data=body, headers=_JSON, idempotent=idempotent
        )

    async def _send(
        self,
        type: str,
        targets: Mapping[str, Any],
        payload: Payload,
        *,
        policy: Policy | None,
        description: str | None,
        production_mode: bool | None,
        mipush: bool | None = None,
        mi_activity: str | None = None,
        extra_fields: Mapping[str, Any] | None = None,
    ) -> UmengResult:
        if not isinstance(payload, (AndroidPayload, IosPayload)):
            raise _invalid("Umeng payload must be an AndroidPayload or an IosPayload")
        mode = self.production_mode if production_mode is None else production_mode
        now = _dt.datetime.fromtimestamp(self._clock(), _dt.timezone.utc)

        fields = send_fields(  # validates everything before the first request
            app_key=self.app_key, timestamp="", type=type, targets=targets, payload=payload,
            policy=policy, production_mode=mode, description=description, mipush=mipush,
            mi_activity=mi_activity, extra_fields=extra_fields, now=now,
        )  # fmt: skip

        def build(timestamp: str) -> dict[str, Any]:
            return {**fields, "timestamp": timestamp}  # same key order, fresh stamp

        # A task with out_biz_no is idempotent on Umeng's side; other sends are not.
        safe = policy is not None and policy.out_biz_no is not None
        return UmengResult.parse(await self._post("/api/send", build, idempotent=safe))

    # --- casts ----------------------------------------------------------------------

    async def unicast(
        self,
        device_token: str,
        payload: Payload,
        *,
        policy: Policy | None = None,
        description: str | None = None,
        production_mode: bool | None = None,
        mipush: bool | None = None,
        mi_activity: str | None = None,
        extra_fields: Mapping[str, Any] | None = None,
    ) -> UmengResult:
        """Send to one device; returns its ``msg_id``."""
        if not isinstance(device_token, str):
            raise _invalid("Umeng unicast needs one device token (a string)")
        targets = {"device_tokens": check_tokens([device_token], payload, 1)}
        return await self._send(
            "unicast", targets, payload, policy=policy, description=description,
            production_mode=production_mode, mipush=mipush, mi_activity=mi_activity,
            extra_fields=extra_fields,
        )  # fmt: skip

    async def listcast(
        self,
        device_tokens: Sequence[str],
        payload: Payload,
        *,
        policy: Policy | None = None,
        description: str | None = None,
        production_mode: bool | None = None,
        mipush: bool | None = None,
        mi_activity: str | None = None,
        extra_fields: Mapping[str, Any] | None = None,
    ) -> UmengListcastResult:
        """Send to a list of devices, 500 a request; one ``UmengChunk`` per request.

        A failure of the first request raises.  When a later one fails, it and the
        ones after it hold the error and the earlier chunks stand: resend
        ``failed_tokens`` only.
        """
        tokens = [device_tokens] if isinstance(device_tokens, str) else list(device_tokens)
        if not tokens:
            raise _invalid("Umeng listcast needs at least one device token")
        check_tokens(tokens, payload, len(tokens))  # every token, before any request
        size = MAX_LISTCAST_TOKENS
        chunks = [tokens[i : i + size] for i in range(0, len(tokens), size)]
        results: list[UmengChunk] = []
        for index, chunk in enumerate(chunks):
            targets = {"device_tokens": ",".join(chunk)}
            try:
                result = await self._send(
                    "listcast", targets, payload, policy=policy, description=description,
                    production_mode=production_mode, mipush=mipush, mi_activity=mi_activity,
                    extra_fields=extra_fields,
                )  # fmt: skip
            except SendError as exc:
                if index == 0:
                    raise
                results.extend(UmengChunk(tuple(rest), error=exc) for rest in chunks[index:])
                break
            results.append(UmengChunk(tuple(chunk), msg_id=result.msg_id))
        return UmengListcastResult(tuple(results))

    async def broadcast(
        self,
        payload: Payload,
        *,
        policy: Policy | None = None,
        description: str | None = None,
        production_mode: bool | None = None,
        mipush: bool | None = None,
        mi_activity: str | None = None,
        extra_fields: Mapping[str, Any] | None = None,
    ) -> UmengResult:
        """Send to every device of the app (a task: returns ``task_id``)."""
        return await self._send(
            "broadcast", {}, payload, policy=policy, description=description,
            production_mode=production_mode, mipush=mipush, mi_activity=mi_activity,
            extra_fields=extra_fields,
        )  # fmt: skip

    async def groupcast(
        self,
        filter: Mapping[str, Any],
        payload: Payload,
        *,
        policy: Policy | None = None,
        description: str | None = None,
        production_mode: bool | None = None,
        mipush: bool | None = None,
        mi_activity: str | None = None,
        extra_fields: Mapping[str, Any] | None = None,
    ) -> UmengResult:
        """Send to the devices matching *filter*, e.g.
        ``{"where": {"and": [{"tag": "vip"}, {"app_version": "1.0"}]}}`` (a task)."""
        if not isinstance(filter, Mapping) or not isinstance(filter.get("where"), Mapping):
            raise _invalid('Umeng groupcast filter must look like {"where": {"and": [...]}}')
        return await self._send(
            "groupcast", {"filter": dict(filter)}, payload, policy=policy,
            description=description, production_mode=production_mode, mipush=mipush,
            mi_activity=mi_activity,
            extra_fields=extra_fields,
        )  # fmt: skip

    async def customizedcast(
        self,
        alias_type: str,
        payload: Payload,
        *,
        alias: str | Sequence[str] | None = None,
        file_id: str | None = None,
        policy: Policy | None = None,
        description: str | None = None,
        production_mode: bool | None = None,
        mipush: bool | None = None,
        mi_activity: str | None = None,
        extra_fields: Mapping[str, Any] | None = None,
    ) -> UmengResult:
        """Send to your own account ids: up to 500 ``alias`` (``msg_id``), or the
        aliases of an uploaded file ``file_id`` (a task: ``task_id``)."""
        if not isinstance(alias_type, str) or not alias_type:
            raise _invalid("Umeng customizedcast needs an alias_type")
        if (alias is None) == (file_id is None):
            raise _invalid("Umeng customizedcast needs either alias or file_id, not both")
        targets: dict[str, Any] = {"alias_type": alias_type}
        if alias is not None:
            targets["alias"] = check_aliases(alias)
        else:
            targets["file_id"] = _file_id(file_id)
        return await self._send(
            "customizedcast", targets, payload, policy=policy, description=description,
            production_mode=production_mode, mipush=mipush, mi_activity=mi_activity,
            extra_fields=extra_fields,
        )  # fmt: skip

    async def filecast(
        self,
        file_id: str,
        payload: Payload,
        *,
        policy: Policy | None = None,
        description: str | None = None,
        production_mode: bool | None = None,
        mipush: bool | None = None,
        mi_activity: str | None = None,
        extra_fields: Mapping[str, Any] | None = None,
    ) -> UmengResult:
        """Send to the device tokens of an uploaded file (a task: ``task_id``)."""
        return await self._send(
            "filecast", {"file_id": _file_id(file_id)}, payload, policy=policy,
            description=description, production_mode=production_mode, mipush=mipush,
            mi_activity=mi_activity,
            extra_fields=extra_fields,
        )  # fmt: skip

    # --- files and tasks ------------------------------------------------------------

    async def upload(self, content: str | Sequence[str]) -> str:
        """Upload device tokens or aliases (a list, or text with one per line) for
        ``filecast`` / ``customizedcast``; returns the ``file_id`` (kept two months)."""
        lines = content.splitlines() if isinstance(content, str) else list(content)
        if not lines or not all(isinstance(line, str) and line.strip() for line in lines):
            raise _invalid("Umeng upload needs at least one non-empty line")
        text = "\n".join(line.strip() for line in lines) + "\n"
        if len(text.encode()) > _MAX_UPLOAD:
            raise _invalid("Umeng upload content must be at most 10 MB")

        def build(timestamp: str) -> dict[str, Any]:
            return {"appkey": self.app_key, "timestamp": timestamp, "content": text}

        data = await self._post("/upload", build, idempotent=True)
        return str(data.get("file_id", ""))

    upload_contents = upload

    async def status(self, task_id: str) -> UmengTaskStatus:
        """The state and counts of a task message."""
        data = await self._post("/api/status", self._task(task_id), idempotent=True)
        return UmengTaskStatus.parse(data, task_id)

    async def cancel(self, task_id: str) -> str:
        """Cancel a queued (or, on Android, sending) task; returns its ``task_id``."""
        data = await self._post("/api/cancel", self._task(task_id), idempotent=True)
        return str(data.get("task_id", task_id))

    def _task(self, task_id: str) -> Callable[[str], dict[str, Any]]:
        if not isinstance(task_id, str) or not task_id:
            raise _invalid("Umeng needs a task_id (returned by a task send)")

        def build(timestamp: str) -> dict[str, Any]:
            return {"appkey": self.app_key, "timestamp": timestamp, "task_id": task_id}

        return build

    def __repr__(self) -> str:
        mode = "production" if self.production_mode else "test"
        return f"<UmengSender {mode} {self._http!r}>"


def _file_id(file_id: str | None) -> str:
    if not isinstance(file_id, str) or not file_id:
        raise _invalid("Umeng file_id must be the id returned by upload()")
    return file_id
