"""Fakes of the non-Google push vendors (HMS, Baidu, Umeng, Azure NH).

Each module ``pullkin.emulator.vendors.<name>`` exposes ``add_routes(app, emu)``,
mounting its endpoints under ``/<name>/`` on the emulator's HTTP port, verifying
signatures and recording what it accepted in ``emu.inbox("<name>")``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator

__all__ = ["VENDORS", "add_vendor_routes"]

#: Vendor fake modules mounted by the emulator.
VENDORS: tuple[str, ...] = ("hms", "baidu", "umeng", "azure")


def add_vendor_routes(app: web.Application, emu: Emulator) -> None:
    for name in VENDORS:
        module = importlib.import_module(f"pullkin.emulator.vendors.{name}")
        module.add_routes(app, emu)
