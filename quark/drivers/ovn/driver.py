"""``ovn``: Quark's resources as rows of an OVN northbound database (ovsdbapp).

Options (the ``ovn`` table of ``backend_driver_options``):

- ``nb_connection``: the NB database (``unix:/path``, ``tcp:host:port``);
  default ``unix:/var/run/ovn/ovnnb_db.sock``;
- ``timeout`` (seconds, default 10): one transaction's limit, connecting
  included; keep it below ``worker_call_timeout``;
- ``gateway_chassis``: the chassis (``system-id``s) that may host routers'
  gateway ports, highest priority first (a list or a comma-separated
  string); unset, the driver leaves the gateway ports' chassis alone;
- ``sb_connection``: the SB database; with it and no ``gateway_chassis``, the
  gateway chassis are the chassis SB marks gateway-capable (southbound.py);
- ``distributed_floating_ips`` (default false): floating IPs' NAT carries the
  port's MAC, so the port's own chassis answers for them.

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
from quark.drivers.ovn import commands, device_index
from quark.drivers.ovn import mapping as m
from quark.drivers.ovn.connect import open_api
from quark.drivers.ovn.gateways import SCHEDULERS
from quark.drivers.ovn.southbound import Southbound
from quark.drivers.sync_compare import Held, compare

LOG = logging.getLogger(__name__)
DEFAULT_NB = "unix:/var/run/ovn/ovnnb_db.sock"
# Where a sync run's copy of NB's rows is kept (``SyncBatch.run``), per kind.
RUN_KEY = "ovn_nb"


def l3_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """What router and floating IP writes are told: the gateway chassis (when set), how
    gateway ports are scheduled over them and in which scheme (gateways.py), and
    whether floating IPs are distributed."""
    found: dict[str, Any] = {"distributed_floating_ips": _flag(options.get("distributed_floating_ips", False))}
    if _flag(options.get("ha_chassis_group", False)):
        found["ha_chassis_group"] = True
    scheduler = str(options.get("gateway_scheduler", "ordered"))
    if scheduler not in SCHEDULERS:
        raise ValueError(f"gateway_scheduler must be one of {', '.join(SCHEDULERS)}, not {scheduler!r}")
    if scheduler != "ordered":
        found["gateway_scheduler"] = scheduler
    chassis = options.get("gateway_chassis")
    if chassis is not None:
        names = chassis.split(",") if isinstance(chassis, str) else chassis
        found["gateway_chassis"] = [str(name).strip() for name in names if str(name).strip()]
    return found


def _realised(change: Change) -> bool:
    return m.realised(change.kind, change.body)


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")


class OvnDriver(Driver):
    reports_port_status = True
    reports_floatingip_status = True  # ACTIVE once the dnat_and_snat row is written
    # logical switches: a tunnel key (vxlan, geneve) or a localnet port (flat, vlan)
    network_types = frozenset({"flat", "vlan", "vxlan", "geneve"})

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        self.nb_connection = str(self.options.get("nb_connection", DEFAULT_NB))
        self.timeout = float(self.options.get("timeout", 10.0))
        self.l3_options = l3_options(self.options)
        sb = self.options.get("sb_connection")
        # no fixed list of gateway chassis: the gateway-capable chassis SB knows of
        self.southbound = Southbound(str(sb), self.timeout) if sb and "gateway_chassis" not in self.l3_options else None
        self._lock = threading.Lock()
        self._conn: connection.Connection | None = None
        self._api: Any = None

    # --- the connection -------------------------------------------------------------

    def _nb(self) -> Any:
        with self._lock:
            if self._api is None:
                self._conn, self._api = open_api(
                    self.nb_connection,
                    "OVN_Northbound",
                    impl_idl.OvnNbApiIdlImpl,
                    self.timeout,
                    indexes=device_index.install,
                )
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
        if self.southbound is not None:
            await asyncio.to_thread(self.southbound.close)

    # --- the lifecycle --------------------------------------------------------------

    async def write(self, kind: str, body: Mapping[str, Any], revision: int) -> bool:
        """Write ``body`` at ``revision`` over an older one; whether anything was written."""
        options = self.l3_options
        if self.southbound is not None and kind in ("router", "port"):
            options = {**options, "gateway_chassis": await asyncio.to_thread(self.southbound.gateways)}
        [written] = await asyncio.to_thread(
            self._commit, lambda api: [commands.WRITES[kind](api, body, revision, options)]
        )
        return bool(written)

    async def delete(self, kind: str, resource_id: str) -> bool:
        [deleted] = await asyncio.to_thread(
            self._commit, lambda api: [commands.Delete(api, kind, resource_id, self.l3_options)]
        )
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
        found = compare(resources, held, _realised)
        if found.report.drift and not fresh:
            # the run's copy may predate a job finished since it was read: look again
            found = compare(resources, (await self._held(resources, fresh=True))[0], _realised)
        if not repair:
            return found.report
        return await found.repair(self._write_change, self.delete)

    async def _write_change(self, change: Change) -> bool:
        return await self.write(change.kind, change.body, change.revision)
