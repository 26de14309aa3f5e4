"""Pure builders and parsers of check-in, register3, Installations and FCM registrations,
checked field by field against ../shared/protocol/checkin.md and register.md."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pullkin import registration as r
from pullkin import registration_firebase as f
from pullkin.endpoints import CHROME_VERSION, DEFAULT_VAPID_KEY
from pullkin.errors import CheckinError, FcmRegisterError, GcmRegisterError, InstallationError
from pullkin.models import AppCredentialsGcm, AppCredentialsKeys, FirebaseInstallation
from pullkin.proto import android_checkin_pb2, checkin_pb2

URL = "https://android.clients.google.com/c2dm/register3"
ROOT = "https://firebaseinstallations.googleapis.com"
NOW = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)

# checkin.md §7, verbatim.
FIRST_CHECKIN_HEX = "221560036a110803120b36332e302e333233342e3018017003b00100"
RETURNING_CHECKIN_HEX = (
    "10cb89c987dbd2e0e74e221560036a110803120b36332e302e333233342e301801691581e97df41022117003b00100"
)
CHECKIN_RESPONSE_HEX = "08011894a1eabbb43139cb44f2b09582cf4e411581e97df41022114800"
ANDROID_ID = 5678901234567890123
SECURITY_TOKEN = 1234567890123456789


def device(**changes: object) -> AppCredentialsGcm:
    values: dict[str, object] = {
        "android_id": ANDROID_ID,
        "security_token": SECURITY_TOKEN,
        "app_id": "wp:receiver.push.com#5b8d8a4e-0e0b-4d7e-8b1f-4c1b5f1e2a3d",
    }
    values.update(changes)
    return AppCredentialsGcm(**values)  # type: ignore[arg-type]


# --- check-in --------------------------------------------------------------------------


def test_first_checkin_sends_chrome_linux_values_with_explicit_zero_ids() -> None:
    request = r.checkin_request("https://example.test/checkin")
    assert (request.method, request.url) == ("POST", "https://example.test/checkin")
    assert dict(request.headers) == {"Content-Type": "application/x-protobuf"}
    message = checkin_pb2.AndroidCheckinRequest.FromString(request.body)
    assert message.HasField("id")
    assert message.id == 0
    assert message.HasField("security_token")
    assert message.security_token == 0
    assert message.digest == "1-da39a3ee5e6b4b0d3255bfef95601890afd80709"
    assert message.version == 3
    assert message.HasField("user_serial_number")
    assert message.user_serial_number == 0
    assert message.checkin.type == android_checkin_pb2.DEVICE_CHROME_BROWSER == 3
    build = message.checkin.chrome_build
    assert build.platform == android_checkin_pb2.ChromeBuildProto.PLATFORM_LINUX == 3
    assert build.channel == android_checkin_pb2.ChromeBuildProto.CHANNEL_STABLE == 1
    assert build.chrome_version == CHROME_VERSION == "156.0.8078.114"


def test_first_checkin_matches_the_published_vector_without_chrome_extras() -> None:
    message = checkin_pb2.AndroidCheckinRequest.FromString(
        r.checkin_request("https://x.test/c", chrome_version="63.0.3234.0").body
    )  # the facts' vectors were computed with Chrome 63
    for name in ("id", "security_token", "digest"):
        message.ClearField(name)  # the vector omits what only Chrome adds
    assert message.SerializeToString().hex() == FIRST_CHECKIN_HEX


def test_returning_checkin_matches_the_published_vector() -> None:
    request = r.checkin_request("https://x.test/c", device(chrome_version="63.0.3234.0"))
    message = checkin_pb2.AndroidCheckinRequest.FromString(request.body)
    assert message.digest == r.EMPTY_SETTINGS_DIGEST
    message.ClearField("digest")
    assert message.SerializeToString().hex() == RETURNING_CHECKIN_HEX


def test_checkin_uses_the_stored_chrome_version() -> None:
    request = r.checkin_request("https://x.test/c", device(chrome_version="131.0.6778.85"))
    message = checkin_pb2.AndroidCheckinRequest.FromString(request.body)
    assert message.checkin.chrome_build.chrome_version == "131.0.6778.85"


def test_checkin_response_vector_parses_to_the_device_pair() -> None:
    response = r.parse_checkin_response(200, {}, bytes.fromhex(CHECKIN_RESPONSE_HEX))
    assert (response.android_id, response.security_token) == (ANDROID_ID, SECURITY_TOKEN)
    gcm = r.gcm_from_checkin(response)
    assert (gcm.android_id, gcm.security_token, gcm.token) == (ANDROID_ID, SECURITY_TOKEN, "")


@pytest.mark.parametrize("status", [400, 401])
def test_checkin_400_and_401_are_final(status: int) -> None:
    with pytest.raises(CheckinError) as info:
        r.parse_checkin_response(status, {}, b"")
    assert not info.value.transient
    assert info.value.http_status == status


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, b"busy"),
        (500, b""),
        (429, b""),
        (200, b"\xff\xff\xff"),  # not a protobuf
        (200, checkin_pb2.AndroidCheckinResponse(stats_ok=True).SerializeToString()),  # zero ids
        (
            200,
            checkin_pb2.AndroidCheckinResponse(stats_ok=True, android_id=5).SerializeToString(),
        ),  # zero token
    ],
)
def test_checkin_failures_chrome_retries_are_transient(status: int, body: bytes) -> None:
    with pytest.raises(CheckinError) as info:
        r.parse_checkin_response(status, {}, body)
    assert info.value.transient


def test_returning_checkin_with_a_new_android_id_is_an_error() -> None:
    response = checkin_pb2.AndroidCheckinResponse(stats_ok=True, android_id=7, security_token=8)
    with pytest.raises(CheckinError, match="register again"):
        r.gcm_from_checkin(response, device())
    same = checkin_pb2.AndroidCheckinResponse(android_id=ANDROID_ID, security_token=SECURITY_TOKEN)
    assert r.gcm_from_checkin(same, device()) == device()


@given(status=st.integers(100, 599), body=st.binary(max_size=200))
def test_checkin_parser_returns_or_raises_checkin_error_only(status: int, body: bytes) -> None:
    try:
        response = r.parse_checkin_response(status, {}, body)
    except CheckinError:
        return
    assert status == 200
    assert response.android_id
    assert response.security_token


# --- register3 ------------------------------------------------------------------------


def test_gcm_register_request_is_the_chrome_gcm_variant() -> None:
    request = r.gcm_register_request(URL, device())
    assert (request.method, request.url) == ("POST", URL)
    assert dict(request.headers) == {
        "Authorization": f"AidLogin {ANDROID_ID}:{SECURITY_TOKEN}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    # Chrome's order and escaping (A.1/A.2): app, X-subtype, device, then sender.
    assert request.body.decode() == (
        "app=org.chromium.linux"
        "&X-subtype=wp%3Areceiver.push.com%235b8d8a4e-0e0b-4d7e-8b1f-4c1b5f1e2a3d"
        f"&device={ANDROID_ID}"
        f"&sender={DEFAULT_VAPID_KEY}"
    )


def test_gcm_register_request_escapes_values_as_forms_do() -> None:
    request = r.gcm_register_request(URL, device(app_id="wp:a b/c&d=e", sender="123"))
    assert b"X-subtype=wp%3Aa+b%2Fc%26d%3De&" in request.body
    assert request.form()["X-subtype"] == "wp:a b/c&d=e"


def test_authorization_uses_unsigned_decimal_ids() -> None:
    big = device(android_id=2**64 - 1, security_token=2**63)
    headers = r.gcm_register_request(URL, big).headers
    assert headers["Authorization"] == f"AidLogin {2**64 - 1}:{2**63}"


def test_instance_id_token_request_is_what_chrome_sends() -> None:
    request = r.instance_id_token_request(
        URL, device(), instance_id="cXyZ123", options={"TTL": "0"}
    )
    assert list(request.form()) == [
        "app", "X-subtype", "device", "scope", "X-scope", "X-TTL", "gmsv", "appid", "sender",
    ]  # fmt: skip
    form = request.form()
    assert (form["scope"], form["X-scope"], form["gmsv"]) == ("GCM", "GCM", "156")
    assert (form["appid"], form["sender"], form["X-TTL"]) == ("cXyZ123", DEFAULT_VAPID_KEY, "0")
    assert request.headers["Authorization"] == f"AidLogin {ANDROID_ID}:{SECURITY_TOKEN}"


def android_device() -> AppCredentialsGcm:
    return device(app_name="com.example.app", app_id="1234567890", sender="1234567890")


def test_android_register_request_carries_the_installation() -> None:
    request = r.android_register_request(
        URL,
        android_device(),
        cert="da39a3ee5e6b4b0d3255bfef95601890afd80709",
        app_id="1:1234567890:android:abc123",
        fid="fG7sK2aYQ3uRzW9xVbN1cD",
        fis_auth_token="eyFIS.token",
    )
    form = request.form()
    assert form == {
        "app": "com.example.app",
        "cert": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "device": str(ANDROID_ID),
        "app_ver": "1",
        "gcm_ver": r.ANDROID_GMS_VERSION,
        "target_ver": "28",
        "sender": "1234567890",
        "X-subtype": "1234567890",
        "X-scope": "*",
        "X-gmp_app_id": "1:1234567890:android:abc123",
        "X-gmsv": r.ANDROID_GMS_VERSION,
        "X-osv": "29",
        "X-app_ver": "1",
        "X-app_ver_name": "1.0",
        "X-cliv": "fcm-23.1.1",
        "X-appid": "fG7sK2aYQ3uRzW9xVbN1cD",
        "X-Goog-Firebase-Installations-Auth": "eyFIS.token",
        "X-firebase-app-name-hash": base64.urlsafe_b64encode(hashlib.sha1(b"[DEFAULT]").digest())
        .rstrip(b"=")
        .decode(),
    }
    assert "delete" not in form
    assert request.headers["Authorization"] == f"AidLogin {ANDROID_ID}:{SECURITY_TOKEN}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["app"] == "com.example.app"
    assert request.headers["gcm_ver"] == r.ANDROID_GMS_VERSION
    assert request.headers["User-Agent"].startswith("Android-GCM/1.5 ")


def test_android_unregister_request_adds_delete() -> None:
    request = r.android_unregister_request(
        URL, android_device(), cert="c", app_id="1:1:android:a", fid="fid", fis_auth_token="t"
    )
    form = request.form()
    assert (form["delete"], form["X-delete"], form["app"]) == ("1", "1", "com.example.app")


def test_gcm_unregister_request_is_chrome_a6() -> None:
    request = r.gcm_unregister_request(URL, device())
    assert list(request.form().items()) == [
        ("app", "org.chromium.linux"),
        ("X-subtype", device().app_id),
        ("device", str(ANDROID_ID)),
        ("delete", "true"),
        ("gcm_unreg_caller", "false"),
    ]
    assert request.headers["Authorization"] == f"AidLogin {ANDROID_ID}:{SECURITY_TOKEN}"


def test_instance_id_delete_request_is_chrome_a6() -> None:
    form = r.instance_id_delete_request(URL, device(), instance_id="cXyZ").form()
    assert (form["delete"], form["appid"], form["scope"], form["X-scope"]) == (
        "true",
        "cXyZ",
        "GCM",
        "GCM",
    )
    assert (form["gmsv"], form["sender"]) == ("156", DEFAULT_VAPID_KEY)


def test_instance_id_delete_of_the_whole_instance_is_what_chromium_unsubscribe_sends() -> None:
    request = r.instance_id_delete_request(
        URL, device(chrome_version="63.0.3234.0"), instance_id="cXyZ", scope="*", sender="*"
    )
    assert list(request.form().items()) == [
        ("app", "org.chromium.linux"),
        ("X-subtype", device().app_id),
        ("device", str(ANDROID_ID)),
        ("delete", "true"),
        ("appid", "cXyZ"),
        ("sender", "*"),
        ("scope", "*"),
        ("X-scope", "*"),
        ("gmsv", "63"),
    ]


def test_new_instance_id_has_the_shape_chrome_generates() -> None:
    ids = {r.new_instance_id() for _ in range(200)}
    assert len(ids) == 200
    for instance_id in ids:
        # 8 bytes, top nibble 0111, base64url unpadded: 11 characters starting c-f.
        assert re.fullmatch(r"[cdef][A-Za-z0-9_-]{10}", instance_id)
        assert base64.urlsafe_b64decode(instance_id + "=")[0] >> 4 == 0x7


def test_web_push_app_id_is_chromes_instance_id_app_id() -> None:
    app_id = r.web_push_app_id("https://example.com/")
    match = re.fullmatch(r"wp:https://example\.com/#([0-9A-F-]{33})-V2", app_id)
    assert match
    # An upper-case v4 GUID of 36 characters whose last three became "-V2".
    assert re.fullmatch(r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{9}",
                        match.group(1))  # fmt: skip
    assert r.web_push_app_id("https://example.com/") != app_id


def test_subtype_is_left_out_when_there_is_none() -> None:
    form = r.gcm_register_request(URL, device(app_id="")).form()
    assert "X-subtype" not in form


def test_register_response_token_is_everything_after_token() -> None:
    token = "cufsOELPfpA:APA91bF9abc_DEF-123"
    assert r.parse_register_response(200, {}, f"token={token}\n".encode()) == token


@pytest.mark.parametrize(
    ("reason", "transient"),
    [
        ("PHONE_REGISTRATION_ERROR", True),
        ("AUTHENTICATION_FAILED", False),  # final for us, see the module comment
        ("INVALID_SENDER", False),
        ("INVALID_PARAMETERS", False),
        ("InternalServerError", True),
        ("QUOTA_EXCEEDED", False),
        ("TOO_MANY_REGISTRATIONS", False),
        ("SOMETHING_NEW", True),  # unknown → Chrome retries
    ],
)
def test_register_error_reasons_map_per_a5(reason: str, transient: bool) -> None:
    for status in (200, 400, 500):  # Error= wins whatever the status
        with pytest.raises(GcmRegisterError) as info:
            r.parse_register_response(status, {}, f"Error={reason}".encode())
        assert info.value.reason == reason
        assert info.value.transient is transient
        assert info.value.http_status == status


def test_error_wins_over_a_token_in_the_same_body() -> None:
    with pytest.raises(GcmRegisterError, match="PHONE_REGISTRATION_ERROR"):
        r.parse_register_response(200, {}, b"token=abc\nError=PHONE_REGISTRATION_ERROR")


@pytest.mark.parametrize(
    ("status", "transient"), [(503, True), (500, True), (429, True), (404, True), (403, False)]
)
def test_register_http_errors_without_error_text(status: int, transient: bool) -> None:
    with pytest.raises(GcmRegisterError) as info:
        r.parse_register_response(status, {}, b"<html>nope</html>")
    assert info.value.transient is transient
    assert info.value.reason == f"HTTP_{status}"


def test_register_answer_without_token_is_a_transient_parse_failure() -> None:
    with pytest.raises(GcmRegisterError) as info:
        r.parse_register_response(200, {}, b"hello")
    assert info.value.reason == "RESPONSE_PARSING_FAILED"
    assert info.value.transient


@given(status=st.integers(100, 599), body=st.binary(max_size=200))
def test_register_parser_returns_a_token_or_raises_gcm_register_error(
    status: int, body: bytes
) -> None:
    try:
        token = r.parse_register_response(status, {}, body)
    except GcmRegisterError as exc:
        reason = exc.reason
        assert reason
        return
    assert token
    assert b"Error=" not in body
    assert b"token=" in body


def test_unregister_answers() -> None:
    r.parse_unregister_response(
        200, {}, b"deleted=org.chromium.linux", accept={"org.chromium.linux"}
    )
    r.parse_unregister_response(200, {}, b"unregistered=com.a", accept={"com.a"})
    r.parse_unregister_response(200, {}, b"token=whatever", accept={"x"})
    with pytest.raises(GcmRegisterError) as info:
        r.parse_unregister_response(200, {}, b"deleted=someone.else", accept={"com.a"})
    assert info.value.reason == "INCORRECT_APP_ID"
    assert not info.value.transient
    with pytest.raises(GcmRegisterError) as info:
        r.parse_unregister_response(200, {}, b"Error=INVALID_PARAMETERS", accept={"com.a"})
    assert info.value.reason == "INVALID_PARAMETERS"


def test_requests_do_not_show_secrets_in_repr() -> None:
    request = r.gcm_register_request(URL, device())
    assert str(SECURITY_TOKEN) not in repr(request)
    with pytest.raises(TypeError):
        request.headers["Authorization"] = "x"  # type: ignore[index]


# --- Firebase Installations -----------------------------------------------------------

FID_RE = re.compile(r"^[cdef][A-Za-z0-9_-]{21}$")


@given(st.binary(min_size=17, max_size=17))
def test_generated_fids_are_valid(raw: bytes) -> None:
    fid = f.generate_fid(raw)
    assert FID_RE.match(fid)
    assert base64.urlsafe_b64decode(fid + "==")[1:16] == raw[1:16]


def test_generate_fid_uses_fresh_randomness() -> None:
    fids = {f.generate_fid() for _ in range(50)}
    assert len(fids) == 50
    assert all(FID_RE.match(x) for x in fids)


def test_web_installation_request() -> None:
    request = f.installation_create_request(
        ROOT + "/", project_id="proj-1", api_key="AIzaKEY", app_id="1:42:web:ab", fid="fAAAA"
    )
    assert request.method == "POST"
    assert request.url == ROOT + "/v1/projects/proj-1/installations"
    assert dict(request.headers) == {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "x-goog-api-key": "AIzaKEY",
        "x-firebase-client": "eyJoZWFydGJlYXRzIjogW10sICJ2ZXJzaW9uIjogMn0=",
    }
    assert json.loads(base64.b64decode(request.headers["x-firebase-client"])) == {
        "heartbeats": [],
        "version": 2,
    }
    assert json.loads(request.body) == {
        "fid": "fAAAA",
        "authVersion": "FIS_v2",
        "appId": "1:42:web:ab",
        "sdkVersion": "w:0.6.17",
    }


def test_android_installation_request_names_package_and_cert() -> None:
    request = f.installation_create_request(
        ROOT,
        project_id="p",
        api_key="K",
        app_id="1:42:android:ab",
        fid="fB",
        android_package="com.example.app",
        android_cert="ABCDEF",
    )
    assert request.headers["X-Android-Package"] == "com.example.app"
    assert request.headers["X-Android-Cert"] == "ABCDEF"
    assert request.headers["x-goog-api-key"] == "K"
    assert "x-firebase-client" not in request.headers
    assert json.loads(request.body)["sdkVersion"] == "a:17.0.0"


def installation(**changes: object) -> FirebaseInstallation:
    values: dict[str, object] = {
        "fid": "fXYZfXYZfXYZfXYZfXYZfX",
        "refresh_token": "1_refresh",
        "auth_token": "old-auth",
        "expires_at": NOW,
        "name": "projects/42/installations/fXYZfXYZfXYZfXYZfXYZfX",
    }
    values.update(changes)
    return FirebaseInstallation(**values)  # type: ignore[arg-type]


def test_installation_token_request() -> None:
    request = f.installation_token_request(
        ROOT, project_id="p", api_key="K", installation=installation()
    )
    assert request.method == "POST"
    assert (
        request.url
        == ROOT + "/v1/projects/p/installations/fXYZfXYZfXYZfXYZfXYZfX/authTokens:generate"
    )
    assert request.headers["Authorization"] == "FIS_v2 1_refresh"
    assert request.headers["x-goog-api-key"] == "K"
    assert json.loads(request.body) == {"installation": {"sdkVersion": "w:0.6.17"}}


def test_installation_delete_request() -> None:
    request = f.installation_delete_request(
        ROOT, project_id="p", api_key="K", installation=installation()
    )
    assert (request.method, request.body) == ("DELETE", b"")
    assert request.url == ROOT + "/v1/projects/p/installations/fXYZfXYZfXYZfXYZfXYZfX"
    assert request.headers["Authorization"] == "FIS_v2 1_refresh"


def test_installation_response_adopts_the_servers_fid() -> None:
    body = json.dumps(
        {
            "name": "projects/42/installations/dServerFid",
            "fid": "dServerFid",
            "refreshToken": "1_R",
            "authToken": {"token": "AUTH", "expiresIn": "604800s"},
        }
    ).encode()
    result = f.parse_installation_response(200, {}, body, now=NOW)
    assert (result.fid, result.refresh_token, result.auth_token) == ("dServerFid", "1_R", "AUTH")
    assert result.expires_at == NOW + dt.timedelta(days=7)
    assert result.name == "projects/42/installations/dServerFid"


@pytest.mark.parametrize(
    ("status", "transient"), [(400, False), (403, False), (404, False), (429, True), (503, True)]
)
def test_installation_errors(status: int, transient: bool) -> None:
    body = json.dumps(
        {"error": {"code": status, "message": "Nope.", "status": "PERMISSION_DENIED"}}
    )
    with pytest.raises(InstallationError) as info:
        f.parse_installation_response(status, {}, body.encode(), now=NOW)
    assert info.value.transient is transient
    assert info.value.http_status == status
    assert "PERMISSION_DENIED" in str(info.value)
    assert "Nope." in str(info.value)


def test_installation_token_response_keeps_the_refresh_token() -> None:
    body = b'{"token": "NEW", "expiresIn": "3600s"}'
    result = f.parse_installation_token_response(
        200, {}, body, installation=installation(), now=NOW
    )
    assert result == installation(auth_token="NEW", expires_at=NOW + dt.timedelta(hours=1))


def test_installation_token_401_says_to_create_a_new_installation() -> None:
    with pytest.raises(InstallationError, match="create a new installation") as info:
        f.parse_installation_token_response(401, {}, b"{}", installation=installation(), now=NOW)
    assert not info.value.transient


@pytest.mark.parametrize("status", [200, 401, 404])
def test_installation_delete_done_statuses(status: int) -> None:
    f.parse_installation_delete_response(status, {}, b"")


@given(
    status=st.integers(100, 599),
    body=st.binary(max_size=200) | st.from_regex(r"\{.*\}").map(str.encode),
)
def test_installation_parser_raises_installation_error_only(status: int, body: bytes) -> None:
    with contextlib.suppress(InstallationError):
        f.parse_installation_response(status, {}, body, now=NOW)


# --- FCM registrations ------------------------------------------------------------------

KEYS = AppCredentialsKeys(
    # RFC 8291 App. A receiver keys.
    private_key="q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
    public_key="BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
    auth_secret="BTBZMqHH6r4Tts7J_aSIgg",
)


def test_fcm_body_omits_the_default_application_key() -> None:
    endpoint = "https://fcm.googleapis.com/fcm/send/abc:APA91b"
    body = f.fcm_web_body(endpoint, KEYS, DEFAULT_VAPID_KEY)
    assert body == {
        "web": {"endpoint": endpoint, "p256dh": KEYS.public_key, "auth": KEYS.auth_secret}
    }
    assert f.fcm_web_body(endpoint, KEYS) == body
    custom = f.fcm_web_body(endpoint, KEYS, KEYS.public_key)
    assert custom["web"]["applicationPubKey"] == KEYS.public_key


def test_fcm_create_request() -> None:
    body = f.fcm_web_body("https://e/x", KEYS)
    request = f.fcm_create_request(
        "https://fcmregistrations.googleapis.com",
        project_id="p-1",
        api_key="K",
        fis_auth_token="AUTH",
        body=body,
    )
    assert request.method == "POST"
    assert request.url == "https://fcmregistrations.googleapis.com/v1/projects/p-1/registrations"
    assert dict(request.headers) == {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "x-goog-api-key": "K",
        "x-goog-firebase-installations-auth": "FIS AUTH",
    }
    assert json.loads(request.body) == body


def test_fcm_update_and_delete_address_the_token() -> None:
    token = "abc:APA91bXYZ"
    update = f.fcm_update_request(
        "https://r", project_id="p", api_key="K", fis_auth_token="A", token=token, body={"web": {}}
    )
    delete = f.fcm_delete_request(
        "https://r", project_id="p", api_key="K", fis_auth_token="A", token=token
    )
    assert (update.method, update.url) == (
        "PATCH",
        "https://r/v1/projects/p/registrations/abc:APA91bXYZ",
    )
    assert (delete.method, delete.url, delete.body) == ("DELETE", update.url, b"")
    assert delete.headers["x-goog-firebase-installations-auth"] == "FIS A"


def test_fcm_response() -> None:
    body = b'{"name": "projects/p/registrations/T:APA91b", "token": "T:APA91b", "web": {}}'
    fcm = f.parse_fcm_response(200, {}, body, now=NOW)
    assert (fcm.token, fcm.name, fcm.created_at, fcm.is_success) == (
        "T:APA91b",
        "projects/p/registrations/T:APA91b",
        NOW,
        True,
    )


@pytest.mark.parametrize(
    ("status", "body", "transient"),
    [
        (
            403,
            b'{"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}}',
            False,
        ),
        (404, b'{"error": {"code": 404, "message": "no project", "status": "NOT_FOUND"}}', False),
        (503, b"", True),
        (200, b'{"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}', False),
        (200, b"{}", True),
        (200, b"not json", True),
    ],
)
def test_fcm_errors(status: int, body: bytes, transient: bool) -> None:
    with pytest.raises(FcmRegisterError) as info:
        f.parse_fcm_response(status, {}, body, now=NOW)
    assert info.value.transient is transient


def test_fcm_delete_response() -> None:
    f.parse_fcm_delete_response(200, {}, b"{}")
    f.parse_fcm_delete_response(200, {}, b"")
    f.parse_fcm_delete_response(404, {}, b"")
    with pytest.raises(FcmRegisterError):
        f.parse_fcm_delete_response(200, {}, b'{"error": {"code": 400}}')
    with pytest.raises(FcmRegisterError):
        f.parse_fcm_delete_response(403, {}, b"{}")


@given(status=st.integers(100, 599), body=st.binary(max_size=200))
def test_fcm_parser_raises_fcm_register_error_only(status: int, body: bytes) -> None:
    try:
        fcm = f.parse_fcm_response(status, {}, body, now=NOW)
    except FcmRegisterError:
        return
    assert fcm.is_success
