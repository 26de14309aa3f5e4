"""Azure Notification Hubs records: installations (JSON), registrations (Atom XML),
send outcomes (``NotificationOutcome`` XML) — models plus their pure encoders/parsers.

Used by the sender and by the emulator's fake, so both sides speak the same XML.
Facts: vendors/azure-nh.md §3–§4.  Element order follows the service's data
contracts (it is WCF underneath: base fields, then the platform handle, then the
template), which is also what the official SDKs emit.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.sax.saxutils import escape

from pullkin.errors import InvalidArgumentError
from pullkin.senders.azure_models import check_tag

__all__ = [
    "Installation",
    "InstallationPatch",
    "NotificationOutcome",
    "Registration",
    "RegistrationResult",
    "outcome_xml",
    "parse_outcome",
    "parse_registration",
    "parse_registration_feed",
    "registration_entry",
    "registration_feed",
]

NS = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
ATOM = "http://www.w3.org/2005/Atom"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"

# platform → (description element prefix, handle element names)
HANDLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "apple": ("Apple", ("DeviceToken",)),
    "gcm": ("Gcm", ("GcmRegistrationId",)),
    "fcmv1": ("FcmV1", ("FcmV1RegistrationId",)),
    "windows": ("Windows", ("ChannelUri",)),
    "mpns": ("Mpns", ("ChannelUri",)),
    "adm": ("Adm", ("AdmRegistrationId",)),
    "baidu": ("Baidu", ("BaiduUserId", "BaiduChannelId")),
    "browser": ("Browser", ("Endpoint", "P256DH", "Auth")),
    "xiaomi": ("Xiaomi", ("XiaomiRegistrationId",)),
}
_BY_PREFIX = {prefix: platform for platform, (prefix, _) in HANDLES.items()}
INSTALLATION_PLATFORMS = (
    "apns",
    "gcm",
    "fcmv1",
    "wns",
    "mpns",
    "adm",
    "baidu",
    "browser",
    "xiaomi",
)


def _invalid(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, vendor="azure", code="INVALID_ARGUMENT")


def _check_tags(owner: str, tags: Iterable[str]) -> tuple[str, ...]:
    if isinstance(tags, str):
        raise _invalid(f"{owner}.tags must be a list of tags, not one string")
    return tuple(check_tag(tag) for tag in tags)


# --- registrations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """A registration: platform, device handle, tags and an optional body template.

    ``handle``: the PNS handle (FCM token, APNs device token, WNS channel URI …), or
    a dict of the platform's handle fields (``baidu``: ``BaiduUserId``,
    ``BaiduChannelId``; ``browser``: ``Endpoint``, ``P256DH``, ``Auth``).
    ``registration_id``, ``etag`` and ``expiration_time`` come from the service.
    """

    platform: str
    handle: str | Mapping[str, str]
    tags: tuple[str, ...] = ()
    template: str | None = None
    template_name: str | None = None
    registration_id: str | None = None
    etag: str | None = None
    expiration_time: str | None = None

    def __post_init__(self) -> None:
        if self.platform not in HANDLES:
            raise _invalid(f"Registration.platform must be one of {', '.join(HANDLES)}")
        names = HANDLES[self.platform][1]
        handle = self.handle
        if isinstance(handle, str):
            if len(names) != 1:
                raise _invalid(f"{self.platform} registrations take a dict with {names}")
            handle = {names[0]: handle}
        if not isinstance(handle, Mapping) or set(handle) != set(names):
            raise _invalid(f"{self.platform} registration handle needs exactly {names}")
        if not all(isinstance(v, str) and v for v in handle.values()):
            raise _invalid("registration handle values must be non-empty strings")
        object.__setattr__(self, "handle", dict(handle))
        object.__setattr__(self, "tags", _check_tags("Registration", self.tags))

    @property
    def handles(self) -> dict[str, str]:
        return dict(self.handle) if isinstance(self.handle, Mapping) else {}

    @property
    def pns_handle(self) -> str:
        """The handle as one string (the first handle field)."""
        return next(iter(self.handles.values()))

    @property
    def element(self) -> str:
        prefix = HANDLES[self.platform][0]
        return f"{prefix}{'Template' if self.template is not None else ''}RegistrationDescription"


def _text_element(name: str, value: str | None) -> str:
    return "" if value is None else f"<{name}>{escape(value)}</{name}>"


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _description(reg: Registration) -> str:
    parts = [
        _text_element("ETag", reg.etag),
        _text_element("ExpirationTime", reg.expiration_time),
        _text_element("RegistrationId", reg.registration_id),
        _text_element("Tags", ",".join(reg.tags) if reg.tags else None),
        *(_text_element(name, value) for name, value in reg.handles.items()),
    ]
    if reg.template is not None:
        parts.append(f"<BodyTemplate>{_cdata(reg.template)}</BodyTemplate>")
        parts.append(_text_element("TemplateName", reg.template_name))
    return f'<{reg.element} xmlns:i="{_XSI}" xmlns="{NS}">' + "".join(parts) + f"</{reg.element}>"


def registration_entry(reg: Registration) -> bytes:
    """The Atom ``<entry>`` that creates or describes *reg*."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<entry xmlns="{ATOM}"><content type="application/xml">'
        f"{_description(reg)}</content></entry>"
    ).encode()


def registration_feed(regs: Iterable[Registration]) -> bytes:
    entries = "".join(
        f'<entry><content type="application/xml">{_description(r)}</content></entry>' for r in regs
    )
    return f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="{ATOM}">{entries}</feed>'.encode()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _from_description(element: ET.Element) -> Registration:
    name = _local(element.tag)
    if not name.endswith("RegistrationDescription"):
        raise ValueError(f"unexpected element {name}")
    stem = name[: -len("RegistrationDescription")]
    template = stem.endswith("Template")
    platform = _BY_PREFIX.get(stem[: -len("Template")] if template else stem)
    if platform is None:
        raise ValueError(f"unknown registration type {name}")
    values = {_local(child.tag): (child.text or "") for child in element}
    tags = tuple(t for t in values.get("Tags", "").split(",") if t)
    return Registration(
        platform,
        {n: values.get(n, "") for n in HANDLES[platform][1]},
        tags,
        template=values.get("BodyTemplate") if template else None,
        template_name=values.get("TemplateName"),
        registration_id=values.get("RegistrationId"),
        etag=values.get("ETag"),
        expiration_time=values.get("ExpirationTime"),
    )


def _entry_description(entry: ET.Element) -> ET.Element:
    content = entry.find(f"{{{ATOM}}}content")
    if content is None or len(content) == 0:
        raise ValueError("Atom entry without content")
    return content[0]


def parse_registration(body: bytes) -> Registration:
    """A registration from an Atom entry; ``ValueError`` if it is not one."""
    root = _xml(body)
    if _local(root.tag) != "entry":
        raise ValueError("expected an Atom <entry>")
    return _from_description(_entry_description(root))


def parse_registration_feed(body: bytes) -> list[Registration]:
    root = _xml(body)
    if _local(root.tag) != "feed":
        raise ValueError("expected an Atom <feed>")
    return [_from_description(_entry_description(e)) for e in root.findall(f"{{{ATOM}}}entry")]


def _xml(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"malformed XML: {exc}") from None


# --- installations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Installation:
    """An installation (JSON).  ``push_channel`` is a dict ``{endpoint, p256dh, auth}``
    for ``browser``, a string otherwise.  ``templates``: ``{name: {"body": …,
    "headers": {…}, "tags": […]}}``."""

    installation_id: str
    platform: str
    push_channel: str | Mapping[str, str]
    tags: tuple[str, ...] = ()
    templates: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    user_id: str | None = None
    expiration_time: str | None = None
    last_update: str | None = None
    push_channel_expired: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.installation_id, str) or not self.installation_id:
            raise _invalid("Installation.installation_id must be a non-empty string")
        if self.platform not in INSTALLATION_PLATFORMS:
            raise _invalid(f"Installation.platform must be one of {INSTALLATION_PLATFORMS}")
        if self.platform == "browser":
            channel = self.push_channel
            if not isinstance(channel, Mapping) or set(channel) != {"endpoint", "p256dh", "auth"}:
                raise _invalid("browser installations need push_channel {endpoint, p256dh, auth}")
        elif not isinstance(self.push_channel, str) or not self.push_channel:
            raise _invalid("Installation.push_channel must be the device's PNS handle")
        object.__setattr__(self, "tags", _check_tags("Installation", self.tags))
        for name, template in self.templates.items():
            if not isinstance(template, Mapping) or not isinstance(template.get("body"), str):
                raise _invalid(f"Installation.templates[{name!r}] needs a 'body' string")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "installationId": self.installation_id,
            "platform": self.platform,
            "pushChannel": self.push_channel,
        }
        if self.tags:
            data["tags"] = list(self.tags)
        if self.templates:
            data["templates"] = {k: dict(v) for k, v in self.templates.items()}
        if self.user_id is not None:
            data["userId"] = self.user_id
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Installation:
        return cls(
            installation_id=data["installationId"],
            platform=str(data["platform"]).lower(),
            push_channel=data["pushChannel"],
            tags=tuple(data.get("tags") or ()),
            templates=data.get("templates") or {},
            user_id=data.get("userId"),
            expiration_time=data.get("expirationTime"),
            last_update=data.get("lastUpdate"),
            push_channel_expired=data.get("expiredPushChannel"),
        )


_PATCH_PATHS = ("/pushChannel", "/tags", "/templates/", "/userId")


@dataclass(frozen=True)
class InstallationPatch:
    """One RFC 6902 operation of an installation PATCH (add/remove/replace)."""

    op: Literal["add", "remove", "replace"]
    path: str
    value: Any = None

    def __post_init__(self) -> None:
        if self.op not in ("add", "remove", "replace"):
            raise _invalid("InstallationPatch.op must be add, remove or replace")
        if not isinstance(self.path, str) or not self.path.startswith(_PATCH_PATHS):
            raise _invalid(f"InstallationPatch.path must start with one of {_PATCH_PATHS}")
        if self.op != "remove" and self.value is None:
            raise _invalid(f"InstallationPatch {self.op} {self.path} needs a value")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op, "path": self.path}
        if self.op != "remove":
            data["value"] = self.value
        return data


# --- send outcomes ---------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationResult:
    """One registration's fate in a test send."""

    application_platform: str
    pns_handle: str
    registration_id: str
    outcome: str


@dataclass(frozen=True)
class NotificationOutcome:
    """What a send returned: ids from the headers, counts and results from a test send.

    ``state``: ``"Enqueued"`` (normal send), ``"DetailedStateAvailable"`` (test
    send, ``success``/``failure``/``results`` filled) or ``"Scheduled"``.
    """

    state: str
    notification_id: str | None = None
    location: str | None = None
    tracking_id: str | None = None
    correlation_id: str | None = None
    success: int | None = None
    failure: int | None = None
    results: tuple[RegistrationResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if v is not None and k != "results"}
        data["results"] = [r.__dict__ for r in self.results]
        return data


def parse_outcome(body: bytes) -> tuple[int, int, tuple[RegistrationResult, ...]]:
    """(success, failure, results) from a ``NotificationOutcome`` document."""
    root = _xml(body)
    if _local(root.tag) != "NotificationOutcome":
        raise ValueError("expected a <NotificationOutcome>")

    def number(name: str) -> int:
        return int(root.findtext(f"{{{NS}}}{name}") or 0)

    results = tuple(
        RegistrationResult(
            item.findtext(f"{{{NS}}}ApplicationPlatform") or "",
            item.findtext(f"{{{NS}}}PnsHandle") or "",
            item.findtext(f"{{{NS}}}RegistrationId") or "",
            item.findtext(f"{{{NS}}}Outcome") or "",
        )
        for item in root.iter(f"{{{NS}}}RegistrationResult")
    )
    return number("Success"), number("Failure"), results


def outcome_xml(success: int, failure: int, results: Iterable[RegistrationResult]) -> bytes:
    """A ``NotificationOutcome`` document (the emulator's test-send answer)."""
    items = "".join(
        "<RegistrationResult>"
        + _text_element("ApplicationPlatform", r.application_platform)
        + _text_element("PnsHandle", r.pns_handle)
        + _text_element("RegistrationId", r.registration_id)
        + _text_element("Outcome", r.outcome)
        + "</RegistrationResult>"
        for r in results
    )
    results_xml = f"<Results>{items}</Results>" if items else '<Results i:nil="true"/>'
    return (
        f'<NotificationOutcome xmlns="{NS}" xmlns:i="{_XSI}">'
        f"<Success>{success}</Success><Failure>{failure}</Failure>{results_xml}"
        "</NotificationOutcome>"
    ).encode()
