"""The Azure fake's registrations and installations: CRUD handlers and tag matching.

Registrations are Atom XML with ETags (``If-Match`` guarded updates and deletes,
412 on a mismatch), listed in pages with ``X-MS-ContinuationToken``; installations
are JSON with the RFC 6902 subset of vendors/azure-nh.md §4.  ``match`` picks the
targets of a tag (or broadcast) send, filling templates with the send's properties.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pullkin.errors import InvalidArgumentError
from pullkin.senders.azure_models import TagExpression, check_tag
from pullkin.senders.azure_records import (
    Installation,
    InstallationPatch,
    Registration,
    parse_registration,
    registration_entry,
    registration_feed,
)

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator
    from pullkin.emulator.vendors.azure import AzureFake

__all__ = ["Target", "error", "match", "tracking_headers"]

_ATOM = "application/atom+xml;type=entry;charset=utf-8"
_NEVER = "9999-12-31T23:59:59.9999999Z"
_PAGE = 100
_PLACEHOLDER = re.compile(r"\$\(([^)]+)\)")
# installation platform → registration platform / send format
_PLATFORM = {"apns": "apple", "wns": "windows"}


@dataclass(frozen=True)
class Target:
    """One device a send reaches: its platform, PNS handle, registration and body."""

    platform: str
    handle: str
    registration_id: str
    body: bytes


def error(status: int, detail: str) -> web.Response:
    safe = detail.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = f"<Error><Code>{status}</Code><Detail>{safe}</Detail></Error>"
    return web.Response(status=status, text=body, content_type="application/xml")


def tracking_headers() -> dict[str, str]:
    return {
        "TrackingId": secrets.token_hex(16),
        "x-ms-correlation-request-id": secrets.token_hex(16),
    }


def _bad(message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, vendor="azure")


# --- matching ---------------------------------------------------------------------------


def _fill(template: str, properties: dict[str, Any]) -> bytes:
    return _PLACEHOLDER.sub(lambda m: str(properties.get(m[1].strip(), "")), template).encode()


def match(
    state: AzureFake, fmt: str, body: bytes, expression: TagExpression | None
) -> list[Target]:
    """Every registration/installation a send of *fmt* with *expression* reaches."""
    properties = json.loads(body) if fmt == "template" else {}
    targets: list[Target] = []
    for reg in state.registrations.values():
        if expression is not None and not expression.matches(reg.tags):
            continue
        if fmt == "template" and reg.template is not None:
            filled = _fill(reg.template, properties)
            targets.append(Target(reg.platform, reg.pns_handle, reg.registration_id or "", filled))
        elif fmt == reg.platform and reg.template is None:
            targets.append(Target(fmt, reg.pns_handle, reg.registration_id or "", body))
    for inst in state.installations.values():
        platform = _PLATFORM.get(inst.platform, inst.platform)
        handle = inst.push_channel
        handle_text = handle if isinstance(handle, str) else str(handle.get("endpoint", ""))
        if fmt == "template":
            for template in inst.templates.values():
                tags = {*inst.tags, *template.get("tags", ())}
                if expression is None or expression.matches(tags):
                    filled = _fill(template["body"], properties)
                    targets.append(Target(platform, handle_text, inst.installation_id, filled))
        elif fmt == platform and (expression is None or expression.matches(inst.tags)):
            targets.append(Target(platform, handle_text, inst.installation_id, body))
    return targets


# --- registrations ------------------------------------------------------------------------


async def new_registration_id(
    emu: Emulator, state: AzureFake, request: web.Request
) -> web.Response:
    reg_id = state.new_id()
    location = f"https://{request.host}/azure/{state.hub}/registrations/{reg_id}"
    headers = {"Content-Location": location, "Location": location, **tracking_headers()}
    return web.Response(status=201, headers=headers)


async def _read_registration(request: web.Request) -> Registration:
    try:
        return parse_registration(await request.read())
    except ValueError as exc:
        raise _bad(f"the body is not a registration description: {exc}") from None


def _stored(state: AzureFake, reg: Registration, reg_id: str) -> Registration:
    previous = state.registrations.get(reg_id)
    etag = str(int(previous.etag or 0) + 1) if previous else "1"
    stored = replace(reg, registration_id=reg_id, etag=etag, expiration_time=_NEVER)
    state.registrations[reg_id] = stored
    return stored


def _entry(reg: Registration, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=registration_entry(reg), content_type="application/atom+xml"
    )


async def create_registration(
    emu: Emulator, state: AzureFake, request: web.Request
) -> web.Response:
    return _entry(_stored(state, await _read_registration(request), state.new_id()))


async def put_registration(
    emu: Emulator, state: AzureFake, request: web.Request, reg_id: str
) -> web.Response:
    reg = await _read_registration(request)
    current = state.registrations.get(reg_id)
    if_match = request.headers.get("If-Match")
    if if_match not in (None, "*") and (current is None or current.etag != if_match.strip('"')):
        return error(412, "ETag does not match the stored registration")
    return _entry(_stored(state, reg, reg_id), 200 if current else 201)


async def get_registration(
    emu: Emulator, state: AzureFake, request: web.Request, reg_id: str
) -> web.Response:
    reg = state.registrations.get(reg_id)
    return _entry(reg) if reg else error(404, f"no registration {reg_id}")


async def delete_registration(
    emu: Emulator, state: AzureFake, request: web.Request, reg_id: str
) -> web.Response:
    current = state.registrations.get(reg_id)
    if current is None:
        return error(404, f"no registration {reg_id}")
    if_match = request.headers.get("If-Match")
    if if_match is None:
        raise _bad("deleting a registration needs If-Match: * or its ETag")
    if if_match != "*" and current.etag != if_match.strip('"'):
        return error(412, "ETag does not match the stored registration")
    del state.registrations[reg_id]
    return web.Response(status=200, headers=tracking_headers())


async def list_registrations(
    emu: Emulator, state: AzureFake, request: web.Request, tag: str | None = None
) -> web.Response:
    regs = list(state.registrations.values())
    if tag is not None:
        check_tag(tag)
        regs = [r for r in regs if tag in r.tags]
    try:
        start = int(request.query.get("ContinuationToken", "0"))
        top = int(request.query.get("$top", str(_PAGE)))
    except ValueError:
        raise _bad("ContinuationToken and $top must be numbers here") from None
    page = regs[start : start + max(top, 1)]
    headers = {}
    if start + len(page) < len(regs):
        headers["X-MS-ContinuationToken"] = str(start + len(page))
    return web.Response(
        body=registration_feed(page), headers=headers, content_type="application/atom+xml"
    )


# --- installations ----------------------------------------------------------------------


async def put_installation(
    emu: Emulator, state: AzureFake, request: web.Request, inst_id: str
) -> web.Response:
    try:
        data = json.loads(await request.read())
        installation = Installation.from_json(data)
    except (ValueError, KeyError, TypeError):
        raise _bad("the body is not an installation") from None
    if installation.installation_id != inst_id:
        raise _bad("installationId in the body differs from the URL")
    state.installations[inst_id] = installation
    return web.Response(status=200, headers=tracking_headers())


async def get_installation(
    emu: Emulator, state: AzureFake, request: web.Request, inst_id: str
) -> web.Response:
    inst = state.installations.get(inst_id)
    if inst is None:
        return error(404, f"no installation {inst_id}")
    data = inst.to_json()
    data["expirationTime"] = _NEVER
    data["lastUpdate"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data["expiredPushChannel"] = False
    return web.json_response(data)


async def delete_installation(
    emu: Emulator, state: AzureFake, request: web.Request, inst_id: str
) -> web.Response:
    state.installations.pop(inst_id, None)
    return web.Response(status=204)


async def patch_installation(
    emu: Emulator, state: AzureFake, request: web.Request, inst_id: str
) -> web.Response:
    inst = state.installations.get(inst_id)
    if inst is None:
        return error(404, f"no installation {inst_id}")
    try:
        ops = [InstallationPatch(**op) for op in json.loads(await request.read())]
    except (ValueError, TypeError):
        raise _bad("the body is not a JSON Patch array") from None
    data = inst.to_json()
    for op in ops:
        _apply(data, op)
    state.installations[inst_id] = Installation.from_json(data)
    return web.Response(status=204)


def _apply(data: dict[str, Any], op: InstallationPatch) -> None:
    parts = op.path.strip("/").split("/")
    head = parts[0]
    if head == "tags":
        tags: list[str] = list(data.get("tags", []))
        if op.op == "remove":
            data["tags"] = [t for t in tags if len(parts) > 1 and t != parts[1]]
        elif op.op == "replace":
            data["tags"] = list(op.value)
        else:
            new = [op.value] if isinstance(op.value, str) else list(op.value)
            data["tags"] = tags + [t for t in new if t not in tags]
    elif head == "templates" and len(parts) >= 2:
        templates = data.setdefault("templates", {})
        if op.op == "remove" and len(parts) == 2:
            templates.pop(parts[1], None)
        elif len(parts) == 2:
            templates[parts[1]] = op.value
        else:
            templates.setdefault(parts[1], {})[parts[2]] = op.value
    else:
        key = {"pushChannel": "pushChannel", "userId": "userId"}[head]
        if op.op == "remove":
            data.pop(key, None)
        else:
            data[key] = op.value
