"""A local FCM emulator: the whole Google side, plus vendor fakes, on loopback.

``async with Emulator() as emu:`` — see ``pullkin.emulator._facade.Emulator``.
"""

from __future__ import annotations

from pullkin.emulator._facade import Emulator, VapidKeys
from pullkin.emulator.faults import FaultPlan
from pullkin.emulator.harness import FAST_REGISTRATION, FAST_SESSION, ReceiverHarness

__all__ = [
    "FAST_REGISTRATION",
    "FAST_SESSION",
    "Emulator",
    "FaultPlan",
    "ReceiverHarness",
    "VapidKeys",
]
