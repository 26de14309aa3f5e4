"""What a test needs from outside Python — a browser, a server, Node — and what happens
when it is missing: a skip with a one-line reason on a developer's machine, a failure
where ``PULLKIN_REQUIRE_SERVICES=1`` (``.ci/run`` sets it, after providing them)."""

from __future__ import annotations

import os

import pytest

__all__ = ["REQUIRED", "need"]

REQUIRED = os.environ.get("PULLKIN_REQUIRE_SERVICES", "") not in ("", "0")


def need(available: bool, what: str) -> None:
    """Skip (or, under ``PULLKIN_REQUIRE_SERVICES=1``, fail) unless *available*.

    *what* completes "… is not available", e.g. ``"chromium (apt-get install chromium)"``.
    """
    if available:
        return
    if REQUIRED:
        pytest.fail(f"{what} is not available, and PULLKIN_REQUIRE_SERVICES=1 requires it")
    pytest.skip(f"{what} is not available")
