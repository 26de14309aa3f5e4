"""The checked-in generated protobuf code matches a fresh regeneration."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "pullkin" / "proto"


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    generate = runpy.run_path(str(ROOT / "proto" / "generate.py"))["generate"]
    written = generate(tmp_path)
    assert written, "generate.py wrote nothing"
    fresh = {path.name: path.read_bytes() for path in written}
    checked_in = {
        path.name: path.read_bytes()
        for path in GENERATED.iterdir()
        if path.name.endswith(("_pb2.py", "_pb2.pyi"))
    }
    assert sorted(fresh) == sorted(checked_in), "run: python proto/generate.py"
    stale = [name for name in fresh if fresh[name] != checked_in[name]]
    assert not stale, f"stale generated code {stale}: run python proto/generate.py"


def test_every_mcs_tag_type_has_its_field_numbers() -> None:
    from pullkin.proto import mcs_pb2

    login = mcs_pb2.LoginRequest.DESCRIPTOR.fields_by_name
    assert login["received_persistent_id"].number == 10
    assert login["client_event"].number == 22
    stanza = mcs_pb2.DataMessageStanza.DESCRIPTOR.fields_by_name
    assert stanza["raw_data"].number == 21
    assert stanza["immediate_ack"].number == 24
    assert mcs_pb2.IqStanza.DESCRIPTOR.fields_by_name["extension"].number == 7


def test_checkin_request_vector_encodes_as_in_checkin_md() -> None:
    from pullkin.proto import android_checkin_pb2, checkin_pb2

    request = checkin_pb2.AndroidCheckinRequest(
        id=5678901234567890123,
        security_token=1234567890123456789,
        version=3,
        user_serial_number=0,
        checkin=android_checkin_pb2.AndroidCheckinProto(
            type=android_checkin_pb2.DEVICE_CHROME_BROWSER,
            chrome_build=android_checkin_pb2.ChromeBuildProto(
                platform=android_checkin_pb2.ChromeBuildProto.PLATFORM_LINUX,
                chrome_version="63.0.3234.0",
                channel=android_checkin_pb2.ChromeBuildProto.CHANNEL_STABLE,
            ),
        ),
    )
    assert request.SerializeToString().hex() == (
        "10cb89c987dbd2e0e74e221560036a110803120b36332e302e333233342e301801"
        "691581e97df41022117003b00100"
    )
