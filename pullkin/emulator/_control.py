"""The harness side of ``Emulator``: inject, wait, drain, outages.

What a test of a backend (or a fault campaign) needs beyond sending:

* ``inject(device, stanza)`` puts any ``DataMessageStanza`` (or its serialized bytes)
  into a device's stream, queued and redelivered like every message;
* ``await wait_delivered(token or message name, acked=True)`` returns once that
  message reached the device (and the device confirmed it); with a token, each call
  takes the next message sent to that token, in order, whether or not it has
  arrived yet;
* ``await drain(device)`` returns once nothing is queued for the device;
  ``connected(device)`` tells whether it has a logged-in MCS connection;
* ``await refuse_mcs(seconds)`` closes the MCS port (connections dropped, new ones
  refused) and opens it again after *seconds*; the rest of the outages are fault
  plans (``emu.faults.tls_failure``, ``silent_login``, ``http_hang``).

A device is named by its android_id, a ``Device``, an FCM or GCM token, or anything
with an ``android_id`` (``ReceiverHarness``, ``AppCredentialsGcm``) or a ``gcm``
(``AppCredentials``).  Waiting is woken by the mailboxes (``on_change``), never a
sleep loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError

from pullkin.emulator.state import Device
from pullkin.errors import ConfigError
from pullkin.proto.mcs_pb2 import DataMessageStanza

if TYPE_CHECKING:
    from pullkin.emulator._facade import Emulator
    from pullkin.emulator._tls import LocalCA

__all__ = ["HarnessControl", "tls_hook"]

log = logging.getLogger("pullkin.emulator")


class HarnessControl:
    """Mixed into ``Emulator`` (``self`` is the emulator)."""

    def _init_control(self) -> None:
        #: Set while the emulator stops: hung requests and waits let go.
        self.closing = asyncio.Event()
        self._waited_by_token: dict[str, set[str]] = {}
        self._change_waiters: list[asyncio.Event] = []
        self._outage_tasks: set[asyncio.Task[None]] = set()

    def _me(self) -> Emulator:
        return self  # type: ignore[return-value]

    # --- naming a device ---------------------------------------------------------------

    def android_id_of(self, device: Any) -> int:
        """The android_id *device* names (see the module docstring); ``ConfigError``
        for an unknown token."""
        if isinstance(device, bool):
            raise ConfigError("a device is an android_id, a Device, a token or credentials")
        if isinstance(device, int):
            return device
        if isinstance(device, Device):
            return device.android_id
        if isinstance(device, str):
            found = self._me().state.device_of_token(device)
            if found is None:
                raise ConfigError(f"no registration has the token {device[:12]}…")
            return found[0]
        for path in ("android_id", "gcm.android_id"):
            value: Any = device
            for name in path.split("."):
                value = getattr(value, name, None)
            if isinstance(value, int):
                return value
        raise ConfigError(
            f"cannot tell which device {type(device).__name__} names: pass an android_id, "
            "a Device, a token, ReceiverHarness or AppCredentials"
        )

    # --- inject ------------------------------------------------------------------------

    def inject(
        self, device: Any, message: DataMessageStanza | bytes, *, ttl: int | None = None
    ) -> str:
        """Queue *message* for *device* exactly as given (no validation, no encryption)
        and return its persistent id (one is assigned when it has none).  *message* may
        be serialized ``DataMessageStanza`` bytes, e.g. a capture."""
        emu = self._me()
        if isinstance(message, bytes | bytearray):
            message = _parse_stanza(bytes(message))
        elif not isinstance(message, DataMessageStanza):
            raise ConfigError("inject takes a DataMessageStanza or its serialized bytes")
        if not message.IsInitialized():
            missing = ", ".join(getattr(message, "FindInitializationErrors", list)())
            raise ConfigError(f"the DataMessageStanza lacks required fields: {missing}")
        android_id = self.android_id_of(device)
        token = ""
        if isinstance(device, str):
            found = emu.state.device_of_token(device)
            token = found[1].token if found else ""
        stanza = DataMessageStanza()
        stanza.CopyFrom(message)  # the caller's object stays theirs
        return emu.mailboxes.enqueue(android_id, stanza, ttl, token)

    # --- observe -----------------------------------------------------------------------

    def connected(self, device: Any) -> bool:
        """Whether *device* has a logged-in MCS connection now."""
        mcs = self._me().mcs
        return mcs is not None and mcs.connected(self.android_id_of(device))

    async def wait_delivered(self, target: str, *, acked: bool = True, timeout: float = 5.0) -> str:
        """Wait until a message reached its device (``acked``: and was confirmed by it);
        returns its persistent id.

        *target* is a message name (``projects/…/messages/<id>``, what a send returns),
        a persistent id, or a registration token: then the next message sent to that
        token not yet returned by an earlier call.  Raises ``TimeoutError`` after
        *timeout* s, or as soon as the message expired or was replaced (it never will).
        """
        emu = self._me()
        found = None if "/messages/" in target else emu.state.device_of_token(target)
        token = found[1].token if found is not None else None
        pid = target.rsplit("/", 1)[-1] if token is None else None
        what = "acked" if acked else "delivered"

        def check() -> str | None:
            nonlocal pid
            if pid is None and token is not None:
                pid = self._next_for_token(token)
            if pid is None:
                return None
            if pid in emu.mailboxes.expired or pid in emu.mailboxes.replaced:
                raise TimeoutError(f"message {pid} expired or was replaced: it was never {what}")
            done = pid in emu.mailboxes.confirmed if acked else emu.mailboxes.was_delivered(pid)
            return pid if done else None

        delivered: str = await self._until(
            check, timeout, lambda: f"no message to {target[:40]} {what}"
        )
        if token is not None:
            self._token_seen(token).add(delivered)
        return delivered

    async def drain(self, device: Any, *, timeout: float = 5.0) -> None:
        """Wait until every message queued for *device* (sends still being accepted
        included) has been delivered and acked; ``TimeoutError`` after *timeout* s."""
        emu = self._me()
        android_id = self.android_id_of(device)

        def check() -> bool | None:
            empty = not emu.v1_batch.waiting and not emu.mailboxes.pending(android_id)
            return True if empty else None

        def why() -> str:
            left = len(emu.mailboxes.pending(android_id))
            state = "connected" if self.connected(android_id) else "not connected"
            return f"{left} message(s) still queued for device {android_id} ({state})"

        await self._until(check, timeout, why)

    def _token_seen(self, token: str) -> set[str]:
        return self._waited_by_token.setdefault(token, set())

    def _next_for_token(self, token: str) -> str | None:
        seen = self._token_seen(token)
        for sent_to, pid in self._me().mailboxes.by_token:
            if sent_to == token and pid not in seen:
                return pid
        return None

    async def _until(self, check: Any, timeout: float, why: Any) -> Any:
        """Re-run *check* whenever the mailboxes change until it returns non-None."""
        mailboxes = self._me().mailboxes
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()
        waiters = self._change_waiters
        waiters.append(changed)
        mailboxes.on_change = self._wake_waiters
        deadline = loop.time() + timeout
        try:
            while True:
                result = check()
                if result is not None:
                    return result
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError(f"{why()} within {timeout:g} s")
                changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    # Also re-check now and then: a TTL runs out without any event.
                    await asyncio.wait_for(changed.wait(), min(left, 0.25))
        finally:
            waiters.remove(changed)
            if not waiters:
                mailboxes.on_change = None

    def _wake_waiters(self) -> None:
        for event in self._change_waiters:
            event.set()

    # --- outages -----------------------------------------------------------------------

    async def refuse_mcs(self, seconds: float) -> None:
        """Close the MCS port now (every connection dropped, new ones refused) and
        listen again on the same port after *seconds*, in the background."""
        emu = self._me()
        if emu.mcs is None:
            raise ConfigError("the emulator is not running")
        await emu.mcs.aclose()
        log.info("MCS port %d closed for %g s (injected outage)", emu.mcs.port, seconds)

        async def reopen() -> None:
            await asyncio.sleep(seconds)
            if emu.mcs is not None:
                await emu.mcs.start(emu.host, emu.mcs.port)
                log.info("MCS port %d open again", emu.mcs.port)

        task = asyncio.create_task(reopen())
        self._outage_tasks.add(task)
        task.add_done_callback(self._outage_tasks.discard)

    async def _end_outages(self) -> None:
        self.closing.set()
        for task in list(self._outage_tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _parse_stanza(data: bytes) -> DataMessageStanza:
    stanza = DataMessageStanza()
    try:
        stanza.MergeFromString(data)
    except DecodeError as exc:
        raise ConfigError(f"the bytes are not a serialized DataMessageStanza ({exc})") from None
    return stanza


def tls_hook(emu: Emulator, port: str, other_ca: Any) -> Any:
    """An ``sni_callback`` that applies ``emu.faults.tls_failure`` to each handshake on
    *port*: fail it with an alert, or swap in a context whose certificate comes from
    another CA (*other_ca*: a zero-argument function returning that ``LocalCA``)."""

    def hook(connection: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> int | None:
        fault = emu.faults.take_tls(port)  # type: ignore[arg-type]
        if fault is None:
            return None
        if not fault.wrong_ca:
            log.info("TLS handshake on the %s port failed (injected)", port)
            return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
        ca: LocalCA = other_ca()
        connection.context = ca.server_context()
        log.info("TLS handshake on the %s port served another CA's certificate (injected)", port)
        return None

    return hook
