"""``ovn``: Quark's resources as rows of an OVN northbound database (ovsdbapp).

Options (the ``ovn`` table of ``backend_driver_options``):

- ``nb_connection``: the NB database (``unix:/path``, ``tcp:host:port``);
  default ``unix:/var/run/ovn/ovnnb_db.sock``;
- ``timeout`` (seconds, default 10): one transaction's limit, connecting
  included; keep it below ``worker_call_timeout``.

ovsdbapp is synchronous (its IDL runs in a thread of its own): each call runs
in a thread of the event loop's pool. A database that cannot be reached, a
transaction that times out or that the server refused is a
``RetryableError``; the IDL reconnects by itself, so the retried job goes
through once the server is back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ovsdbapp import exceptions as ovsdb_exceptions
from ovsdbapp.backend.ovs_idl import connection
from ovsdbapp.schema.ovn_northbound import impl_idl

from quark.drivers.base import Change, Driver, RetryableError, SyncBatch, SyncReport
from quark.drivers.ovn import commands
from quark.drivers.sync_compare import Held, compare

LOG = logging.getLogger(__name__)
DEFAULT_NB = "unix:/var/run/ovn/ovnnb_db.sock"
# Where a sync run's copy of NB's rows is kept (``SyncBatch.run``), per kind.
RUN_KEY = "ovn_nb"
RECONNECT_MAX_BACKOFF_MS = 1000


def _own_backend() -> type:
    """ovsdbapp keeps a backend's connection on its class (one per process): each driver
    gets a class of its own, so two drivers (two NB databases, a test's restarts) never share one."""
    return type("QuarkOvnNb", (impl_idl.OvnNbApiIdlImpl,), {"_ovsdb_connection": None})


class OvnDriver(Driver):
    reports_port_status = True
    # logical switches: a tunnel key (vxlan, geneve) or a localnet port (flat, vlan)
    network_types = frozenset({"flat", "vlan", "vxlan", "geneve"})

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.nb_connection = str(self.options.get("nb_connection", DEFAULT_NB))
        self.timeout = float(self.options.get("timeout", 10.0))
        self._lock = threading.Lock()
        self._conn: connection.Connection | None = None
        self._api: Any = None

    # --- the connection -------------------------------------------------------------

    def _nb(self) -> Any:
        with self._lock:
            if self._api is None:
                try:
                    idl = connection.OvsdbIdl.from_server(self.nb_connection, "OVN_Northbound")
                    session = getattr(idl, "_session", None)  # come back within a second of the server
                    if session is not None:
                        session.reconnect.set_backoff(250, RECONNECT_MAX_BACKOFF_MS)
                    conn = connection.Connection(idl=idl, timeout=self.timeout)
                    api = _own_backend()(conn)
                except Exception as exc:
                    raise RetryableError(f"OVN NB {self.nb_connection} unreachable: {exc}") from exc
                self._conn, self._api = conn, api
            return self._api

    def _commit(self, build: Any) -> list[Any]:
        api = self._nb()
        cmds = build(api)
        txn = api.create_transaction(check_error=True, log_errors=False, timeout=self.timeout)
        for cmd in cmds:
            txn.add(cmd)
        try:
            txn.commit()
        except commands.Missing as exc:
            raise RetryableError(f"not in OVN yet: {exc}") from exc
        except (ovsdb_exceptions.TimeoutException, RuntimeError) as exc:
            # Timed out (the server is down or slow) or refused (a concurrent
            # insert of a unique name): both may go through next time.
            raise RetryableError(f"OVN NB transaction: {exc}") from exc
        return [cmd.result for cmd in cmds]

    def _read(self, build: Any) -> Any:
        api = self._nb()
        return build(api).execute(check_error=True, log_errors=False)

    async def close(self) -> None:
        with self._lock:
            conn, self._conn, self._api = self._conn, None, None
        if conn is not None:
            await asyncio.to_thread(conn.stop, self.timeout)

    # --- the lifecycle --------------------------------------------------------------

    async def write(self, kind: str, body: Mapping[str, Any], revision: int) -> bool:
        """Write ``body`` at ``revision`` over an older one; whether anything was written."""
        [written] = await asyncio.to_thread(self._commit, lambda api: [commands.WRITES[kind](api, body, revision)])
        return bool(written)

    async def delete(self, kind: str, resource_id: str) -> bool:
        [deleted] = await asyncio.to_thread(self._commit, lambda api: [commands.Delete(api, kind, resource_id)])
        return bool(deleted)

    async def apply(self, change: Change) -> None:
        if change.operation == "delete":
            await self.delete(change.kind, change.resource_id)
            return
        written = await self.write(change.kind, change.body, change.revision)
        LOG.debug(
            "%s %s %s at revision %s: %s",
            change.operation,
            change.kind,
            change.resource_id,
            change.revision,
            "written" if written else "OVN holds it or newer",
        )

    # --- reading back ---------------------------------------------------------------

    async def revisions(self, kinds: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
        """What NB holds of Quark's: kind -> {resource id: revision}, of ``kinds`` (None: all)."""
        return await asyncio.to_thread(self._read, lambda api: commands.ReadRevisions(api, kinds))

    async def port_up(self, port_id: str) -> bool | None:
        """NB's ``up`` of the port (set by northd once a chassis claimed it); None: not set."""
        return await asyncio.to_thread(self._read, lambda api: commands.ReadPortUp(api, port_id))

    async def port_statuses(self, port_ids: Sequence[str]) -> dict[str, str]:
        ups = await asyncio.to_thread(self._read, lambda api: commands.ReadPortsUp(api, port_ids))
        return {port_id: "ACTIVE" if up else "DOWN" for port_id, up in ups.items()}

    async def _held(self, resources: Sequence[Change], fresh: bool) -> tuple[Held, bool]:
        """NB's rows that ``resources`` may cover, and whether they were read just now.
        A ``SyncBatch``'s kind only, read once per sync run (kept in ``batch.run``)
        unless ``fresh``: a page need not read every NB row again."""
        if not isinstance(resources, SyncBatch):
            return await self.revisions(), True
        kind, snapshot = resources.kind, resources.run.setdefault(RUN_KEY, {})
        read = fresh or kind not in snapshot
        if read:
            snapshot[kind] = (await self.revisions((kind,)))[kind]
        return {kind: snapshot[kind]}, read

    async def sync(self, resources: Sequence[Change], repair: bool = False) -> SyncReport:
        held, fresh = await self._held(resources, fresh=False)
        found = compare(resources, held)
        if found.report.drift and not fresh:
            # the run's copy may predate a job finished since it was read: look again
            found = compare(resources, (await self._held(resources, fresh=True))[0])
        if not repair:
            return found.report
        return await found.repair(self._write_change, self.delete)

    async def _write_change(self, change: Change) -> bool:
        return await self.write(change.kind, change.body, change.revision)
