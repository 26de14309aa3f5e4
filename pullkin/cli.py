"""The ``pullkin`` command: ``demo``, ``emulator``, ``register``, ``listen``, ``send``,
``fleet``.

Each sub-command lives in ``pullkin.commands.<name>`` with ``configure(parser)`` and
``run(args) -> int``; only the chosen command's module is imported, so
``pullkin --help`` stays fast.  Exit codes: 0 ok, 1 runtime failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from pullkin import __version__
from pullkin.commands._common import add_verbose
from pullkin.errors import ConfigError, PullkinError

__all__ = ["main"]

# name -> one-line help; the module pullkin.commands.<name> does the rest.
COMMANDS: dict[str, str] = {
    "demo": "see the whole push path on the embedded emulator (start here)",
    "register": "register an app and print its FCM token",
    "listen": "receive pushes and print each as one JSON line",
    "emulator": "run the local FCM emulator",
    "send": "send a push through FCM, Web Push, Azure, HMS, Baidu or Umeng",
    "fleet": "run receivers for many devices on PostgreSQL, messages into a sink",
}

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only *command*'s module is imported (to configure its options)."""
    parser = argparse.ArgumentParser(
        prog="pullkin",
        description=(
            "Receive FCM/GCM pushes like Chrome, send them through FCM, Web Push, HMS, "
            "Baidu, Umeng and Azure, and run a local FCM emulator for offline tests."
        ),
        epilog=(
            "first steps, offline:\n"
            "  pullkin demo                      the whole path in one process\n"
            "  pullkin emulator > emu.json &     the Google side, for the commands below\n"
            "  pullkin register --emulator emu.json --credentials creds.json\n"
            "  pullkin listen --emulator emu.json --credentials creds.json\n"
            "  pullkin send webpush --emulator emu.json --subscription creds.json --data hi\n"
            "\nRun 'pullkin COMMAND --help' for a command's options."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pullkin {__version__}")
    add_verbose(parser)
    common = argparse.ArgumentParser(add_help=False)
    add_verbose(common)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=help_text, parents=[common])
            continue
        module = importlib.import_module(f"pullkin.commands.{name}")
        chosen = sub.add_parser(
            name,
            help=help_text,
            description=module.__doc__,
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(chosen)
        chosen.set_defaults(_run=module.run)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    _configure_logging(getattr(args, "verbose", 0))
    try:
        code: int = args._run(args)
        sys.stdout.flush()
    except ConfigError as exc:
        return _fail(args.command, str(exc), EXIT_USAGE)
    except PullkinError as exc:
        return _fail(args.command, f"{type(exc).__name__}: {exc}", EXIT_FAILURE)
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # The reader went away (`| head`): no traceback, and none at exit either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _fail(args.command, "output closed before everything was written", EXIT_FAILURE)
    except OSError as exc:  # the outside world: a port in use, a file system error …
        return _fail(args.command, _describe_os_error(exc), EXIT_FAILURE)
    return code


def _fail(command: str, message: str, code: int) -> int:
    print(f"pullkin {command}: {message}", file=sys.stderr)
    return code


def _describe_os_error(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"address already in use ({exc.strerror}): choose another port, or 0 for any"
    where = f" {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{':' if where else ''}{where}"
