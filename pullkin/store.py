"""Credentials and persistent ids on disk: one JSON file, written atomically, mode 0600.

Theory of operation: the file holds ``{"version": 1, "apps": {"<sender id>":
{"credentials": {...}, "persistent_ids": [...], "unconfirmed_ids": [...]}}}`` —
``persistent_ids`` is the window of handled message ids (oldest first),
``unconfirmed_ids`` those the server has not confirmed yet (optional; for the next
login's ``received_persistent_id``).  ``CredentialStore`` keeps it in
memory; ``save()`` takes an exclusive ``flock`` on a sidecar ``<file>.lock``, re-reads
the file so another process's apps are not lost, merges (what this process changed
wins; what it did not touch is taken from disk), writes a temp file in the same
directory, fsyncs it, renames it over the old file and fsyncs the directory.  A crash
at any point leaves either the old file or the new one, never half of one.

A file that cannot be read — bad JSON, wrong shape, or written by a newer pullkin —
raises ``ConfigError`` naming the file and is never overwritten: silently registering
again would change the user's FCM token behind their back.

Windows has no ``fcntl``: there the lock is skipped (one writer at a time is then up
to the user) and the directory fsync is not possible; the rename is still atomic.

``Store`` is the interface a receiver persists through (credentials per app, and the
window of handled persistent ids as a journal: append + trim, never a rewrite);
``pullkin.local_store.LocalStore`` — this file plus a SQLite journal beside it — is
the default home.  Since the journal, the id lists of this file are only read, to
migrate old files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pullkin.errors import ConfigError
from pullkin.models import AppCredentials

if sys.platform != "win32":
    import fcntl

__all__ = ["STORE_VERSION", "CredentialStore", "IdChanges", "Store", "StoredIds"]

log = logging.getLogger(__name__)

#: Schema version of the file written by :meth:`CredentialStore.save`.
STORE_VERSION = 1
_DEFAULT_WINDOW = 10_000
_ID_LISTS = ("persistent_ids", "unconfirmed_ids")


@dataclass(frozen=True)
class IdChanges:
    """What one group commit records for one app (see :meth:`Store.record_ids`)."""

    #: the app's key: its sender id, unless it was added under a key of its own
    #: (``Pullkin.add_app(key=...)``)
    sender_id: str
    #: ids whose handlers finished, in the order they finished: appended to the window
    #: as the newest ids, unconfirmed
    handled: Sequence[str] = ()
    #: ids the server confirmed since the last commit: no longer unconfirmed
    confirmed: Sequence[str] = ()


@dataclass(frozen=True)
class StoredIds:
    """One app's window of handled ids as stored (see :meth:`Store.load_ids`)."""

    #: the window, oldest first, at most ``Store.window`` ids
    handled: list[str]
    #: the handled ids the server has not confirmed, oldest first (a subset of handled):
    #: the next MCS login lists them in ``received_persistent_id``
    unconfirmed: list[str]


@runtime_checkable
class Store(Protocol):
    """Where ``Pullkin`` keeps what must survive the process: one interface, several
    homes (the embedded ``LocalStore`` by default; a database for fleets).

    Contract:

    * Credentials per app, keyed by the app's key — its sender id, unless
      ``Pullkin.add_app(key=...)`` gave it another (``sender_ids()`` lists the keys;
      the arguments are positional, so an implementation names them as it likes):
      ``put_credentials`` is durable when it returns; ``remove_app`` forgets the
      app's credentials *and* its ids.
    * Per app, a bounded window of handled persistent ids, oldest first.
      ``record_ids`` is the group commit of the delivery state machine: every change of
      the sequence is applied in **one** atomic transaction that is **durable when the
      call returns** (a kill -9 or power loss afterwards keeps it; before, all or
      nothing).  Handled ids are appended as the newest (an id recorded again moves to
      the newest end and becomes unconfirmed again); then each app is trimmed to its
      newest ``window`` ids; confirmed ids not in the window are ignored.  It must
      append and trim, never rewrite the window: it runs once per batch of handled
      messages.  On failure it raises (any ``Exception``) and changes nothing;
      ``Pullkin`` then keeps the ids, holds their acknowledgements back and retries.
    * ``Pullkin`` calls ``record_ids`` for apps whose credentials it stored (also for
      an app it just stopped: what it handled before), never twice at once on one
      store, and only with the apps that changed; every method runs on the event
      loop, so blocking I/O goes to a thread (or an async driver).  Ids of an app the
      store no longer holds (removed meanwhile) may be ignored, never an error.
    * ``aclose`` releases connections and files; ``Pullkin`` calls it only for a store
      it opened itself (``credentials_path=``).
    """

    @property
    def window(self) -> int:
        """How many handled ids per app are kept (10,000 by default)."""
        ...

    async def get_credentials(self, key: str, /) -> AppCredentials | None: ...

    async def put_credentials(self, key: str, credentials: AppCredentials, /) -> None: ...

    async def remove_app(self, key: str, /) -> None: ...

    async def sender_ids(self) -> list[str]: ...

    async def load_ids(self, key: str, /) -> StoredIds:
        """The app's window (empty lists for an unknown app)."""
        ...

    async def record_ids(self, changes: Sequence[IdChanges], /) -> None: ...

    async def aclose(self) -> None: ...


class _App:
    """One sender id's entry: credentials, the handled-id window, the unconfirmed ids."""

    __slots__ = ("credentials", "persistent_ids", "unconfirmed")

    def __init__(
        self,
        credentials: AppCredentials,
        persistent_ids: Iterable[str] = (),
        unconfirmed: Iterable[str] = (),
    ) -> None:
        self.credentials = credentials
        # A dict is an insertion-ordered set: oldest first, O(1) membership.
        self.persistent_ids: dict[str, None] = dict.fromkeys(persistent_ids)
        self.unconfirmed: dict[str, None] = dict.fromkeys(unconfirmed)

    def to_json(self) -> dict[str, Any]:
        return {
            "credentials": self.credentials.to_dict(),
            "persistent_ids": list(self.persistent_ids),
            "unconfirmed_ids": list(self.unconfirmed),
        }


class CredentialStore:
    """Credentials per app (keyed by sender id) plus the persistent-id window.

    Use :meth:`open`; ``put``/``remove`` save at once, persistent-id changes are kept in
    memory until the next :meth:`save` (the receiver saves after acks and on close).
    """

    def __init__(self, path: Path, window: int = _DEFAULT_WINDOW) -> None:
        if window < 1:
            raise ConfigError("CredentialStore window must be at least 1")
        self._path = path
        self._window = window
        self._apps: dict[str, _App] = {}
        self._dirty: set[str] = set()
        self._removed: set[str] = set()

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, window: int = _DEFAULT_WINDOW
    ) -> CredentialStore:
        """Open (and load, if it exists) the store at *path*; creates the directory 0700."""
        store = cls(Path(path).expanduser().absolute(), window)
        directory = store._path.parent
        if not directory.exists():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if store._path.exists():
            store._apps = store._read()
            store._warn_if_readable_by_others()
        store._remove_stray_temp_files()
        return store

    @property
    def path(self) -> Path:
        return self._path

    @property
    def window(self) -> int:
        return self._window

    # --- credentials ---------------------------------------------------------------

    def get(self, sender_id: str) -> AppCredentials | None:
        app = self._apps.get(sender_id)
        return app.credentials if app else None

    def put(self, sender_id: str, credentials: AppCredentials) -> None:
        """Store *credentials* for *sender_id* (keeping its persistent ids) and save."""
        _check_sender_id(sender_id)
        app = self._apps.get(sender_id)
        if app is None:
            self._apps[sender_id] = _App(credentials)
        else:
            app.credentials = credentials
        self._dirty.add(sender_id)
        self._removed.discard(sender_id)
        self.save()

    def remove(self, sender_id: str) -> None:
        """Forget *sender_id* (credentials and persistent ids) and save."""
        self._apps.pop(sender_id, None)
        self._dirty.discard(sender_id)
        self._removed.add(sender_id)
        self.save()

    def sender_ids(self) -> list[str]:
        return list(self._apps)

    # --- persistent ids (in memory until save) ------------------------------------------

    def persistent_ids(self, sender_id: str) -> list[str]:
        """The unconfirmed persistent ids of *sender_id*, oldest first."""
        app = self._apps.get(sender_id)
        return list(app.persistent_ids) if app else []

    def add_persistent_ids(self, sender_id: str, ids: Iterable[str]) -> None:
        """Remember *ids*; beyond the window the oldest are dropped."""
        app = self._app(sender_id)
        for persistent_id in ids:
            app.persistent_ids.pop(persistent_id, None)
            app.persistent_ids[persistent_id] = None
        excess = len(app.persistent_ids) - self._window
        for old in list(app.persistent_ids)[: max(excess, 0)]:
            del app.persistent_ids[old]
        self._dirty.add(sender_id)

    def remove_persistent_ids(self, sender_id: str, ids: Iterable[str]) -> None:
        """Forget *ids* (from the window and from the unconfirmed ids)."""
        app = self._app(sender_id)
        for persistent_id in ids:
            app.persistent_ids.pop(persistent_id, None)
            app.unconfirmed.pop(persistent_id, None)
        self._dirty.add(sender_id)

    def persistent_state(self, sender_id: str) -> tuple[list[str], list[str]]:
        """``(handled, unconfirmed)`` of *sender_id*, oldest first (empty if unknown)."""
        app = self._apps.get(sender_id)
        return (list(app.persistent_ids), list(app.unconfirmed)) if app else ([], [])

    def set_persistent_state(
        self, sender_id: str, handled: Iterable[str], unconfirmed: Iterable[str]
    ) -> None:
        """Replace both lists (in memory until :meth:`save`); each keeps its newest
        ``window`` ids."""
        app = self._app(sender_id)
        app.persistent_ids = dict.fromkeys(list(handled)[-self._window :])
        app.unconfirmed = dict.fromkeys(list(unconfirmed)[-self._window :])
        self._dirty.add(sender_id)

    def _app(self, sender_id: str) -> _App:
        try:
            return self._apps[sender_id]
        except KeyError:
            raise ConfigError(
                f"no credentials stored for sender id {sender_id!r} in {self._path}: "
                "put() them before tracking persistent ids"
            ) from None

    # --- disk ------------------------------------------------------------------------

    def save(self) -> None:
        """Write the file atomically under the lock, merging other processes' apps."""
        with self._locked():
            on_disk = self._read() if self._path.exists() else {}
            for sender_id in self._removed:
                on_disk.pop(sender_id, None)
            # Only what this process changed is ours to write; for the rest the file,
            # possibly updated by another process since we read it, is the truth.
            for sender_id in self._dirty:
                on_disk[sender_id] = self._apps[sender_id]
            document = {
                "version": STORE_VERSION,
                "apps": {sender_id: app.to_json() for sender_id, app in on_disk.items()},
            }
            self._write(json.dumps(document, indent=2, sort_keys=True).encode() + b"\n")
            self._apps = on_disk
            self._dirty.clear()
            self._removed.clear()
        log.debug("saved %d app(s) to %s", len(self._apps), self._path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if sys.platform == "win32":  # pragma: no cover - no flock: no lock
            yield
            return
        lock_path = self._path.with_name(self._path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _write(self, data: bytes) -> None:
        directory = self._path.parent
        # mkstemp creates the file 0600, so the secrets are never readable by others.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self._path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        _fsync_directory(directory)

    def _remove_stray_temp_files(self) -> None:
        """Temp copies of the secrets left by a process killed mid-save.  Under the
        lock: a writer holds it from creating its temp file to the rename."""
        pattern = f".{self._path.name}.*.tmp"
        if not any(self._path.parent.glob(pattern)):
            return
        with self._locked():
            for stray in self._path.parent.glob(pattern):
                with contextlib.suppress(OSError):
                    stray.unlink()
                    log.info("removed %s, left by an interrupted save", stray)

    def _read(self) -> dict[str, _App]:
        try:
            text = self._path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read credentials file {self._path}: {exc.strerror}"
            ) from None
        except UnicodeDecodeError:
            raise self._corrupt("it is not UTF-8 text") from None
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise self._corrupt(
                f"it is not valid JSON (line {getattr(exc, 'lineno', '?')})"
            ) from None
        return self._parse(document)

    def _parse(self, document: Any) -> dict[str, _App]:
        if not isinstance(document, dict) or not isinstance(document.get("version"), int):
            raise self._corrupt("it has no integer 'version'")
        if document["version"] > STORE_VERSION:
            raise ConfigError(
                f"credentials file {self._path} was written by a newer pullkin (schema version "
                f"{document['version']}; this one reads {STORE_VERSION}): upgrade pullkin"
            )
        apps = document.get("apps")
        if document["version"] < 1 or not isinstance(apps, dict):
            raise self._corrupt("it has no 'apps' object")
        return {sender_id: self._parse_app(sender_id, entry) for sender_id, entry in apps.items()}

    def _parse_app(self, sender_id: str, entry: Any) -> _App:
        if not isinstance(entry, dict):
            raise self._corrupt(f"apps[{sender_id!r}] is not an app entry")
        lists = [self._id_list(sender_id, entry, key) for key in _ID_LISTS]
        try:
            credentials = AppCredentials.from_dict(entry.get("credentials"))
        except ConfigError as exc:
            raise self._corrupt(f"apps[{sender_id!r}].credentials: {exc}") from None
        return _App(credentials, *(ids[-self._window :] for ids in lists))

    def _id_list(self, sender_id: str, entry: dict[str, Any], key: str) -> list[str]:
        ids = entry.get(key, [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise self._corrupt(f"apps[{sender_id!r}].{key} must be a list of strings")
        return ids

    def _corrupt(self, why: str) -> ConfigError:
        return ConfigError(
            f"credentials file {self._path} is unreadable: {why}. It was left untouched; "
            "restore it from a backup, or move it away to register again "
            "(that gives this device a new FCM token)"
        )

    def _warn_if_readable_by_others(self) -> None:
        with contextlib.suppress(OSError):
            mode = self._path.stat().st_mode
            if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
                log.warning(
                    "credentials file %s is accessible by other users (mode %o); "
                    "the next save makes it 0600",
                    self._path,
                    stat.S_IMODE(mode),
                )

    def __repr__(self) -> str:
        return f"<CredentialStore {self._path} apps={len(self._apps)}>"


def _check_sender_id(sender_id: str) -> None:
    if not isinstance(sender_id, str) or not sender_id:
        raise ConfigError("sender_id must be a non-empty string")


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); Windows cannot open a directory."""
    if os.name != "posix":  # pragma: no cover - Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
