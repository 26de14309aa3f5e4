"""Regenerate ``pullkin/proto/*_pb2.py`` and their ``.pyi`` stubs from ``proto/*.proto``.

Usage: ``python proto/generate.py [--out DIR]`` (default: ``pullkin/proto``).

The generated code is checked in; ``tests/test_proto.py`` regenerates it into a
temporary directory and fails on any difference, so run this script after editing a
``.proto`` file.  It needs ``grpcio-tools`` at the version pinned in the ``dev`` extra
(its bundled ``protoc`` stamps its version into the output).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = PROTO_DIR.parent / "pullkin" / "proto"
SOURCES = ("android_checkin.proto", "checkin.proto", "mcs.proto")

# The sources are compiled as ``pullkin/proto/<name>.proto`` so that the descriptor
# pool file names (and the protobuf package ``pullkin.*``) cannot collide with another
# receiver's ``mcs.proto`` loaded in the same process; neither appears on the wire.
_PACKAGE_PATH = Path("pullkin", "proto")


def generate(out: Path) -> list[Path]:
    """Write the generated modules into *out*; return the paths written."""
    from grpc_tools import protoc  # dev-only dependency

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "src")
        gen = Path(tmp, "gen")
        (src / _PACKAGE_PATH).mkdir(parents=True)
        gen.mkdir()
        for name in SOURCES:
            (src / _PACKAGE_PATH / name).write_bytes((PROTO_DIR / name).read_bytes())
        args = [
            "protoc",
            f"-I{src}",
            f"--python_out={gen}",
            f"--pyi_out={gen}",
            *(str(_PACKAGE_PATH / name) for name in SOURCES),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for path in sorted((gen / _PACKAGE_PATH).iterdir()):
            target = out / path.name
            target.write_bytes(path.read_bytes())
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    ns = parser.parse_args(argv)
    for path in generate(ns.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
