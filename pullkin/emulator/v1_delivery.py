"""Accepted FCM v1 sends → queued stanzas (fcm-send.md §3), phase by phase.

``deliver`` works through a list of sends one phase at a time: every JSON document,
then every encryption, then every stanza, then every mailbox.  The messages and their
order are the same as one send after another, but each phase runs with its code and
data warm in the CPU caches, which costs less per message on the send hot path.  The
HTTP route hands its sends to a ``DeliveryBatch``: accepted (and answered) at once,
queued together at the end of the event loop's turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from pullkin.emulator import delivery

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator
    from pullkin.emulator.fcm import Recipient, _Plan

__all__ = ["DeliveryBatch", "Job", "deliver"]

log = logging.getLogger(__name__)


class Job(NamedTuple):
    """One validated send: its recipients and, for a token send, the persistent id
    its name already carries."""

    plan: _Plan
    recipients: list[Recipient]
    persistent_id: str | None


def _android_priority(message: Mapping[str, Any]) -> str:
    # FCM's defaults: notification messages high, data messages normal.
    priority = (message.get("android") or {}).get("priority")
    if priority is not None:
        return "high" if priority == "HIGH" else "normal"
    android_notification = (message.get("android") or {}).get("notification")
    return "high" if message.get("notification") or android_notification else "normal"


def deliver(emu: Emulator, jobs: list[Job]) -> None:
    """Queue every recipient's stanza of every job, in order."""
    now = time.time()
    sender_id = emu.firebase_config.sender_id
    # Phase 1: the document each job sends (once per job, whatever its fan-out).
    work: list[tuple[Recipient, int, Any, str | None]] = []
    for plan, recipients, persistent_id in jobs:
        message = plan.message
        web_json: bytes | None = None
        android: tuple[list[tuple[str, str]], str] | None = None
        for recipient in recipients:
            if recipient.fcm is not None:
                if web_json is None:
                    document = delivery.web_payload(message, sender_id, delivery.new_message_id())
                    web_json = delivery.web_json(document)
                work.append((recipient, plan.web_ttl, web_json, persistent_id))
            else:
                if android is None:
                    priority = _android_priority(message)
                    items = delivery.android_app_data(message, sender_id, priority)
                    android = items, (message.get("android") or {}).get("collapse_key", "")
                work.append((recipient, plan.android_ttl, android, persistent_id))
    # Phase 2: the encryption of every web delivery.
    agreements = emu.key_agreements
    sealed = [
        delivery.web_seal(agreements, recipient.fcm, data, now)
        if recipient.fcm is not None
        else None
        for recipient, _, data, _ in work
    ]
    # Phase 3: the stanzas.
    stanzas = []
    for (recipient, ttl, data, _), payload in zip(work, sealed, strict=True):
        if payload is not None:
            stanzas.append(delivery.web_sealed_stanza(recipient.gcm, payload, ttl, now))
        else:
            items, collapse_key = data
            stanzas.append(delivery.android_stanza(recipient.gcm, items, collapse_key, ttl, now))
    # Phase 4: the mailboxes (a connected device gets its stanza written at once).
    # Nothing above has queued anything, so a failure there can be retried whole.
    mailboxes = emu.mailboxes
    for (recipient, ttl, _, persistent_id), stanza in zip(work, stanzas, strict=True):
        if persistent_id is not None:
            stanza.persistent_id = persistent_id
        try:
            mailboxes.enqueue(recipient.android_id, stanza, ttl, recipient.gcm.token)
        except Exception:  # one device's problem is not the others'
            log.exception("queueing v1 send %s failed", stanza.persistent_id or "?")


class DeliveryBatch:
    """Sends accepted during one turn of the event loop, delivered together at its end."""

    def __init__(self, emu: Emulator) -> None:
        self._emu = emu
        self._jobs: list[Job] = []

    @property
    def waiting(self) -> int:
        """Sends accepted but not queued yet (they are at the end of this turn)."""
        return len(self._jobs)

    def add(self, job: Job) -> None:
        if not self._jobs:
            asyncio.get_running_loop().call_soon(self.flush)
        self._jobs.append(job)

    def flush(self) -> None:
        jobs, self._jobs = self._jobs, []
        try:
            deliver(self._emu, jobs)
        except Exception:  # nothing was queued yet: a bug must not lose the other sends
            log.exception("delivering %d v1 sends together failed; one at a time", len(jobs))
            for job in jobs:
                try:
                    deliver(self._emu, [job])
                except Exception:
                    log.exception("delivering v1 send %s failed", job.persistent_id or "?")
