"""The ``android.clients.google.com`` side: ``POST /checkin`` and ``POST /c2dm/register3``.

Facts: ../shared/protocol/checkin.md §8 and register.md A.2–A.8.

Check-in speaks protobuf: a new client gets a fresh android_id/security_token pair, a
returning one must present a stored pair (401 otherwise), a malformed body or one
without ``checkin`` is a 400.  register3 speaks form-in, ``key=value``-out and, like
the real service, reports errors as ``Error=<REASON>`` with HTTP 200.  It serves the
Chrome web flow (``sender`` = VAPID key or numeric sender id; the token is a GCM
token), the Android-app flow (``X-gmp_app_id`` + FIS auth token; the token is the FCM
token itself) and ``delete=true`` unregistration for both.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf.message import DecodeError

from pullkin._b64 import b64decode_any
from pullkin.emulator.routes_common import (
    emulator_of,
    forget_token,
    new_registration_token,
    read_form,
)
from pullkin.emulator.state import Device, GcmRegistration
from pullkin.proto.checkin_pb2 import AndroidCheckinRequest, AndroidCheckinResponse

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = ["add_routes", "is_vapid_key"]

log = logging.getLogger(__name__)

_MAX_DECIMAL_DIGITS = 20  # 2**64 has 20 digits
_TRUE = frozenset({"1", "true"})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/checkin", _checkin, name="checkin")
    app.router.add_post("/c2dm/register3", _register3, name="register3")


# --- check-in ---------------------------------------------------------------------


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text)


async def _checkin(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    try:
        checkin = AndroidCheckinRequest.FromString(await request.read())
    except DecodeError:
        return _plain(400, "Bad Request: the body is not an AndroidCheckinRequest")
    if not checkin.HasField("checkin"):
        return _plain(400, "Bad Request: AndroidCheckinRequest.checkin is required")
    state = emu.state
    if checkin.id or checkin.security_token:
        # A returning client must present the pair it was given (checkin.md §8).
        if checkin.id <= 0 or not state.check_device(checkin.id, checkin.security_token):
            return _plain(401, "Unauthorized: unknown android_id or wrong security_token")
        device = state.devices[checkin.id]
        device.last_checkin = time.time()
    else:
        device = _new_device(emu)
    device.chrome_version = checkin.checkin.chrome_build.chrome_version
    emu.store.put(device)
    answer = AndroidCheckinResponse(
        stats_ok=True,
        time_msec=int(time.time() * 1000),
        android_id=device.android_id,
        security_token=device.security_token,
    )
    return web.Response(body=answer.SerializeToString(), content_type="application/x-protobuf")


def _new_device(emu: Emulator) -> Device:
    while True:
        android_id = secrets.randbelow((1 << 63) - 1) + 1
        if android_id not in emu.state.devices:
            break
    device = Device(android_id=android_id, security_token=secrets.randbelow((1 << 64) - 1) + 1)
    emu.state.devices[android_id] = device
    log.info("check-in: new device")
    return device


# --- register3 --------------------------------------------------------------------


def _answer(text: str) -> web.Response:
    # The real service answers errors with HTTP 200 too (register.md A.5).
    return web.Response(text=text)


def _decimal(text: str) -> int | None:
    if not text or len(text) > _MAX_DECIMAL_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value < 1 << 64 else None


def _aid_login(header: str) -> tuple[int, int] | None:
    """``AidLogin <android_id>:<security_token>`` → the pair, or None if malformed."""
    scheme, _, credentials = header.partition(" ")
    if scheme != "AidLogin":
        return None
    android_id, _, token = credentials.strip().partition(":")
    aid, tok = _decimal(android_id), _decimal(token)
    return None if aid is None or tok is None else (aid, tok)


async def _register3(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    form = await read_form(request)
    if form is None:
        return _answer("Error=INVALID_PARAMETERS")
    login = _aid_login(request.headers.get("Authorization", ""))
    if login is None:
        return _answer("Error=AUTHENTICATION_FAILED")
    device = _decimal(form.get("device", ""))
    if not device or device not in emu.state.devices:
        return _answer("Error=PHONE_REGISTRATION_ERROR")
    if login[0] != device or not emu.state.check_device(*login):
        return _answer("Error=AUTHENTICATION_FAILED")
    app = form.get("app", "")
    if not app:
        return _answer("Error=INVALID_PARAMETERS")
    if form.get("delete", "").lower() in _TRUE or form.get("X-delete", "").lower() in _TRUE:
        return _unregister(emu, device, app, form)
    if _is_android_flow(form):
        return _register_android(emu, device, app, form)
    return _register_web(emu, device, app, form)


def _is_android_flow(form: dict[str, str]) -> bool:
    return "X-gmp_app_id" in form or "X-gms_app_id" in form or "cert" in form


_KEY_CACHE: dict[str, bool] = {}


def is_vapid_key(sender: str) -> bool:
    """A base64url 65-byte uncompressed point that lies on P-256 (cached per key)."""
    known = _KEY_CACHE.get(sender)
    if known is not None:
        return known
    try:
        raw = b64decode_any(sender)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        valid = len(raw) == 65 and raw[0] == 4
    except ValueError:
        valid = False
    if len(_KEY_CACHE) < 4096:
        _KEY_CACHE[sender] = valid
    return valid


def _is_numeric_senders(sender: str) -> bool:
    # Chrome's GCM handler joins several numeric sender ids with commas.
    return all(_decimal(part) is not None for part in sender.split(","))


def _register_web(emu: Emulator, android_id: int, app: str, form: dict[str, str]) -> web.Response:
    sender = form.get("sender", "")
    if not sender:
        return _answer("Error=INVALID_PARAMETERS")
    if not (_is_numeric_senders(sender) or is_vapid_key(sender)):
        return _answer("Error=INVALID_SENDER")
    subtype = form.get("X-subtype", "")
    registration = emu.state.find_gcm(android_id, app, subtype, sender)
    if registration is None or registration.kind != "web":
        registration = GcmRegistration(
            token=new_registration_token(form.get("appid")),
            android_id=android_id,
            app=app,
            subtype=subtype,
            sender=sender,
            kind="web",
            instance_id=form.get("appid") or None,
        )
        emu.state.gcm[registration.token] = registration
        emu.store.put(registration)
    return _answer(f"token={registration.token}")


def _register_android(
    emu: Emulator, android_id: int, app: str, form: dict[str, str]
) -> web.Response:
    sender = form.get("sender", "")
    app_id = form.get("X-gmp_app_id") or form.get("X-gms_app_id", "")
    if not sender or not app_id:
        return _answer("Error=INVALID_PARAMETERS")
    if _decimal(sender) is None:
        # A VAPID key is not a sender for Android apps (MG #676).
        return _answer("Error=INVALID_SENDER")
    fis = form.get("X-Goog-Firebase-Installations-Auth", "")
    fis = fis[4:] if fis.startswith("FIS ") else fis
    installation = emu.state.installation_by_auth_token(fis, time.time())
    if installation is None or installation.app_id != app_id:
        return _answer("Error=AUTHENTICATION_FAILED")
    if form.get("X-appid", installation.fid) != installation.fid:
        return _answer("Error=AUTHENTICATION_FAILED")
    subtype = form.get("X-subtype", sender)
    registration = emu.state.find_gcm(android_id, app, subtype, sender)
    if registration is None or registration.fid != installation.fid:
        registration = GcmRegistration(
            token=new_registration_token(installation.fid),
            android_id=android_id,
            app=app,
            subtype=subtype,
            sender=sender,
            kind="android",
            project_id=installation.project_id,
            fid=installation.fid,
        )
        emu.state.gcm[registration.token] = registration
        emu.store.put(registration)
    return _answer(f"token={registration.token}")


def _unregister(emu: Emulator, android_id: int, app: str, form: dict[str, str]) -> web.Response:
    """``delete=true``: GCM style (A.6, answer ``deleted=<app>``) or InstanceID style
    (``appid`` given; Chrome's DeleteToken/DeleteID handler wants ``token=``).  Chromium's
    ``PushSubscription.unsubscribe()`` deletes the whole instance: ``sender=*``,
    ``scope=*`` — ``*`` matches any sender."""
    doomed = [
        registration.token
        for registration in emu.state.gcm.values()
        if registration.android_id == android_id
        and registration.app == app
        and _delete_matches(registration, form)
    ]
    for token in doomed:
        forget_token(emu, token)
    instance_id_style = "appid" in form or form.get("scope") == "GCM"
    if instance_id_style and not _is_android_flow(form):
        return _answer(f"token={doomed[0] if doomed else ''}")
    return _answer(f"deleted={app}")


def _delete_matches(registration: GcmRegistration, form: dict[str, str]) -> bool:
    subtype, sender, appid = form.get("X-subtype"), form.get("sender"), form.get("appid")
    if subtype is not None and registration.subtype != subtype:
        return False
    if sender not in (None, "*") and registration.sender != sender:
        return False
    known = registration.instance_id
    return appid is None or known is None or known == appid
