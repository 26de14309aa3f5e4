"""FCM HTTP v1 send semantics shared by the HTTP route and ``Emulator.send``.
(Being written: see issue 4.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator


def send_message(emu: Emulator, project_id: str, message: dict[str, Any]) -> str:
    """Validate and deliver one v1 message; returns its name."""
    raise NotImplementedError
