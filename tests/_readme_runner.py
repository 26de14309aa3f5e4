"""Run one README code block as a user would run it, with Google replaced by the emulator.

``python tests/_readme_runner.py FIXTURE.json BLOCK.py`` (tests/test_readme.py starts
it in a temporary working directory):

* ``Endpoints()`` — every default Google URL and the MCS host — is the emulator's, and
  the environment's ``SSL_CERT_FILE`` is the emulator's CA, so code written for the real
  service runs unchanged (TLS verification stays on);
* the block runs as ``__main__`` in a namespace that holds only the placeholders a
  snippet leaves to the reader (``token``, ``subscription_from_the_browser``, …; see
  ``PLACEHOLDERS`` in test_readme.py), never a pullkin name: a block imports what it uses;
* top-level ``await`` / ``async with`` work as in ``python -m asyncio``;
* tracebacks point at README.md line numbers.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import sys
from pathlib import Path
from typing import Any


def point_google_at(endpoints: dict[str, Any]) -> None:
    """Make the defaults of ``Endpoints()`` the emulator's (what a DNS override would do)."""
    from pullkin.endpoints import Endpoints

    init = Endpoints.__init__
    code = init.__code__
    positional = code.co_varnames[1 : code.co_argcount]
    defaults = init.__defaults__ or ()
    names = positional[len(positional) - len(defaults) :]
    init.__defaults__ = tuple(endpoints.get(n, d) for n, d in zip(names, defaults, strict=True))
    if init.__kwdefaults__:
        init.__kwdefaults__ = {n: endpoints.get(n, d) for n, d in init.__kwdefaults__.items()}


def placeholders(fixture: dict[str, Any]) -> dict[str, Any]:
    saved: list[Any] = []
    return {**fixture["placeholders"], "save_to_database": saved.append}


def main(fixture_path: str, block_path: str) -> None:
    fixture = json.loads(Path(fixture_path).read_text(encoding="utf-8"))
    point_google_at(fixture["endpoints"])
    first_line = fixture["first_line"]
    source = "\n" * (first_line - 1) + Path(block_path).read_text(encoding="utf-8")
    code = compile(source, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, **placeholders(fixture)}
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        asyncio.run(result)


if __name__ == "__main__":
    main(*sys.argv[1:])
