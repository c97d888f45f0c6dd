"""The server side of the dataplane contract (docs/agent_api.md): host state
documents with long-polls, port status reports, what agent reports change,
and the scheduling of networks onto DHCP agents.

Long-poll: ``wait_for`` reads the host's generation row every
``POLL_INTERVAL`` seconds until it differs from ``since`` or the wait ends;
the row is bumped in the transaction of every change (``hoststate``), so any
server process sees any other's changes, and a waiting request costs one
primary-key read per interval and no connection in between.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, owners
from quark.context import Context
from quark.db import models
from quark.ipam import addressing
from quark.services.dataplane import hoststate
from quark.services.dataplane.agents import DHCP_AGENT, L2_AGENT, Reported
from quark.services.dataplane.binding import BRIDGE, Binder, bound_status
from quark.services.dataplane.nova_events import NovaEvents

p = models.ports
n = models.networks
s = models.subnets
ag = models.agents

LOG = logging.getLogger(__name__)

POLL_INTERVAL = 0.1
MAX_WAIT = 60
# Networks given to a DHCP agent per report (the next reports take the rest).
SCHEDULE_BATCH = 200
# Capabilities that decide whether an L2 agent can bind a network.
BINDING_KEYS = ("bridge_mappings", "tunnel_types", "tunnel_ip", "vlan_supported")


class DataplaneService:
    def __init__(self, db, settings, binder: Binder, events: NovaEvents, clock) -> None:
        self.db = db
        self.settings = settings
        self.binder = binder
        self.events = events
        self.clock = clock
        # Set by the registry.
        self.ports: Any = None
        self.agents: Any = None

    # --- long-polled documents ------------------------------------------------------

    async def wait_for(
        self,
        host: str,
        since: int | None,
        wait: float,
        *,
        dhcp: bool,
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """Return when the host's (DHCP) generation is not ``since``, or after ``wait`` seconds."""
        if since is None or wait <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait, MAX_WAIT)
        while True:
            async with self.db.read() as conn:
                if await hoststate.generation(conn, host, dhcp=dhcp) != since:
                    return
            remaining = deadline - loop.time()
            if remaining <= 0 or (gone is not None and await gone()):
                return
            await asyncio.sleep(min(POLL_INTERVAL, remaining))

    async def desired_state(
        self,
        ctx: Context,
        host: str,
        since: int | None = None,
        wait: float = 0,
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> dict:
        _require_admin(ctx)
        await self.wait_for(host, since, wait, dhcp=False, gone=gone)
        async with self.db.read() as conn:
            # The generation first: a change committed while the body is read
            # then shows up again as a newer generation, never goes unseen.
            gen = await hoststate.generation(conn, host)
            ports, networks = await hoststate.desired_state(conn, host)
        return {"host": host, "generation": gen, "ports": ports, "networks": networks}

    async def dhcp_state(
        self,
        ctx: Context,
        host: str,
        since: int | None = None,
        wait: float = 0,
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> dict:
        _require_admin(ctx)
        await self.wait_for(host, since, wait, dhcp=True, gone=gone)
        async with self.db.read() as conn:
            gen = await hoststate.generation(conn, host, dhcp=True)
            networks = await hoststate.dhcp_state(conn, host)
        return {"host": host, "generation": gen, "networks": networks}

    # --- port status --------------------------------------------------------------------

    async def port_status(self, ctx: Context, host: str, statuses: dict[str, str]) -> list[str]:
        """Apply an agent's report for the ports bound to ``host``; the ids accepted.

        Ports not bound (to a bridge) on that host are ignored; ACTIVE is
        refused for admin-down ports. A compute port turning ACTIVE queues a
        ``network-vif-plugged`` event, one turning ERROR a failed one."""
        _require_admin(ctx)
        if not statuses:
            return []

        async def work(conn: AsyncConnection) -> list[str]:
            rows = (
                await conn.execute(
                    select(p)
                    .where(
                        p.c.id.in_(sorted(statuses)),
                        p.c.binding_host_id == host,
                        p.c.binding_vif_type == BRIDGE,
                    )
                    .order_by(p.c.id)
                    .with_for_update()
                )
            ).all()
            accepted, changed = [], False
            for row in rows:
                status = statuses[row.id]
                if status == "ACTIVE" and not row.admin_state_up:
                    continue
                accepted.append(row.id)
                if status == row.status:
                    continue
                changed = True
                await conn.execute(
                    update(p)
                    .where(p.c.id == row.id)
                    .values(status=status, revision_number=p.c.revision_number + 1, updated_at=self.clock())
                )
                if owners.is_compute(row.device_owner) and status in ("ACTIVE", "ERROR"):
                    await self.events.queue(
                        conn,
                        "network-vif-plugged",
                        row.device_id,
                        row.id,
                        "completed" if status == "ACTIVE" else "failed",
                    )
            if changed:
                await hoststate.bump(conn, [host])
            return accepted

        return await self.db.run_write(work)

    # --- what agent reports change -------------------------------------------------------

    async def agent_reported(self, conn: AsyncConnection, reported: Reported) -> None:
        after, before = reported.after, reported.before
        if after.agent_type == L2_AGENT:
            old = (before.configurations or {}) if before is not None else {}
            new = after.configurations or {}
            capable_changed = any(old.get(k) != new.get(k) for k in BINDING_KEYS)
            if before is None or not reported.was_alive or capable_changed:
                await self.rebind_failed(conn, after.host)
            if old.get("tunnel_ip") != new.get("tunnel_ip"):
                await hoststate.notify_tunnel_peers(conn, after.host)
        elif after.agent_type == DHCP_AGENT and after.admin_state_up:
            await self.schedule_unserved(conn)

    async def agent_changed(self, conn: AsyncConnection, before: Any, after: Any | None) -> None:
        """An admin changed (after) or deleted (after None) an agent."""
        if before.agent_type == L2_AGENT and after is None:
            await hoststate.notify_tunnel_peers(conn, before.host)
        elif before.agent_type == L2_AGENT and after.admin_state_up:
            await self.rebind_failed(conn, after.host)
        elif before.agent_type == DHCP_AGENT and after is not None and after.admin_state_up:
            await self.schedule_unserved(conn)

    async def rebind_failed(self, conn: AsyncConnection, host: str) -> None:
        """Bind again the host's ports whose binding failed (the agent can now serve them)."""
        rows = (
            await conn.execute(
                select(p)
                .where(p.c.binding_host_id == host, p.c.binding_vif_type == "binding_failed")
                .order_by(p.c.id)
                .with_for_update()
            )
        ).all()
        networks: dict[str, Any] = {}
        for row in rows:
            if row.network_id not in networks:
                networks[row.network_id] = (await conn.execute(select(n).where(n.c.id == row.network_id))).one()
            network = networks[row.network_id]
            result = await self.binder.bind(conn, row, network, host)
            if result.vif_type != BRIDGE:
                continue
            await conn.execute(
                update(p)
                .where(p.c.id == row.id)
                .values(
                    binding_vif_type=result.vif_type,
                    binding_vif_details=result.vif_details,
                    status=bound_status(row.admin_state_up),
                    revision_number=p.c.revision_number + 1,
                    updated_at=self.clock(),
                )
            )
            await hoststate.notify_ports(conn, network, [(row.id, "", host)], dhcp=False)

    # --- DHCP scheduling --------------------------------------------------------------------

    async def live_dhcp_host(self, conn: AsyncConnection) -> str | None:
        """The host of the least loaded live, admin-up DHCP agent, or None."""
        hosts = (
            (
                await conn.execute(
                    select(ag.c.host)
                    .where(
                        ag.c.agent_type == DHCP_AGENT,
                        ag.c.admin_state_up.is_(True),
                        ag.c.heartbeat_timestamp > self.agents.cutoff(),
                    )
                    .order_by(ag.c.host)
                )
            )
            .scalars()
            .all()
        )
        if not hosts:
            return None
        load = dict(
            (
                await conn.execute(
                    select(p.c.binding_host_id, func.count())
                    .where(p.c.device_owner == owners.DHCP, p.c.binding_host_id.in_(hosts))
                    .group_by(p.c.binding_host_id)
                )
            ).all()
        )
        return min(hosts, key=lambda h: (load.get(h, 0), h))

    async def schedule_unserved(self, conn: AsyncConnection) -> None:
        """Give DHCP ports to networks with DHCP subnets that have none."""
        needs = (
            (
                await conn.execute(
                    select(n.c.id)
                    .where(
                        exists().where(s.c.network_id == n.c.id, s.c.enable_dhcp.is_(True)),
                        ~exists().where(and_(p.c.network_id == n.c.id, p.c.device_owner == owners.DHCP)),
                    )
                    .order_by(n.c.id)
                    .limit(SCHEDULE_BATCH)
                )
            )
            .scalars()
            .all()
        )
        for network_id in needs:
            try:
                async with conn.begin_nested():  # one network that fails does not fail the report
                    await self.network_dhcp_changed(conn, network_id)
            except errors.QuarkError as exc:
                LOG.warning("no DHCP port for network %s: %s", network_id, exc)

    async def network_dhcp_changed(self, conn: AsyncConnection, network_id: str) -> None:
        """Make the network's DHCP port match its DHCP subnets: created on a
        live DHCP agent when the first one comes, given an address on each new
        one, deleted when the last one goes."""
        subnets = [
            row
            for row in await conn.execute(
                select(s)
                .where(s.c.network_id == network_id, s.c.enable_dhcp.is_(True))
                .order_by(s.c.created_at, s.c.id)
            )
        ]
        dhcp_ports = (
            await conn.execute(select(p).where(p.c.network_id == network_id, p.c.device_owner == owners.DHCP))
        ).all()
        if not subnets:
            for port in dhcp_ports:
                await self.ports.delete_in(conn, port)
            return
        stateful = [sub.id for sub in subnets if not addressing.is_auto_address(sub)]
        if dhcp_ports:
            for port in dhcp_ports:
                await self.ports.add_subnets(conn, port, stateful)
            return
        host = await self.live_dhcp_host(conn)
        if host is None:
            return
        network = (await conn.execute(select(n).where(n.c.id == network_id))).one()
        ctx = Context.admin(network.project_id)
        await self.ports.create_in(
            conn,
            ctx,
            [
                {
                    "network_id": network_id,
                    "device_owner": owners.DHCP,
                    "device_id": f"dhcp-{network_id}",
                    "binding:host_id": host,
                    "port_security_enabled": False,
                    "project_id": network.project_id,
                    "fixed_ips": [{"subnet_id": sid} for sid in stateful],
                }
            ],
        )

    async def subnet_changed(self, conn: AsyncConnection, network_id: str, *, dhcp_changed: bool) -> None:
        """A subnet of the network was created, changed or deleted."""
        if dhcp_changed:
            await self.network_dhcp_changed(conn, network_id)
        await hoststate.notify_network(conn, network_id)


def _require_admin(ctx: Context) -> None:
    if not ctx.is_admin:
        raise errors.AdminRequired(reason="the dataplane API is for agents (admin)")
