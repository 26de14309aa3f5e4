"""A receiver fleet: state in PostgreSQL, any number of identical worker processes
sharing the devices through leases, every message handed to a sink.

* ``PgStore`` (``fleet.pgstore``) — the ``store.Store`` interface in PostgreSQL:
  apps, credentials (encrypted with the fleet key), the handled-id window, leases,
  workers; the schema is created and migrated by pullkin (``fleet.schema``).
* ``Leases`` (``fleet.leases``) — who owns which device, renewed by heartbeat, spread
  evenly, handed back on SIGTERM, taken over after the TTL when a worker dies.
* ``FleetWorker`` (``fleet.worker``) — one process: a ``Pullkin`` client over the
  leased devices with a sink (``pullkin.sinks``) as its handler.

The CLI is ``pullkin fleet add | run | status | keygen``.  Needs the extra:
``pip install 'pullkin[fleet]'``.
"""

from __future__ import annotations

__all__ = ["FleetKey", "FleetWorker", "Leases", "PgStore", "StoredApp", "app_key"]

from pullkin.fleet._secrets import FleetKey
from pullkin.fleet.leases import Leases
from pullkin.fleet.pgstore import PgStore, StoredApp, app_key
from pullkin.fleet.worker import FleetWorker
