"""What agent reports and admin changes of agents mean for ports and hosts,
in the transaction of the report or change (subscribers of
``AgentReported`` and ``AgentChanged``):

- an L2 agent that is new, back alive, or able to serve more: the host's
  ports whose binding failed are bound again;
- an L2 agent's tunnel address changed, or the agent is deleted: the hosts
  sharing a VXLAN network with it get new peers;
- a DHCP agent alive and admin-up: networks without a DHCP port get one;
- an agent whose physical networks changed (or new, or deleted): the host's
  segment mappings follow (routed networks, ``segment_hosts``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.clock import Clock
from quark.db import models
from quark.services.core import segment_hosts
from quark.services.core.binding import Binder, bound_status
from quark.services.dataplane import hoststate
from quark.services.dataplane.agents import DHCP_AGENT
from quark.services.dataplane.binding import BRIDGE, L2_AGENT
from quark.services.dataplane.dhcp_scheduling import DhcpScheduler
from quark.services.events import AgentChanged, AgentReported, PortChange

p = models.ports
n = models.networks

# Capabilities that decide whether an L2 agent can bind a network.
BINDING_KEYS = ("bridge_mappings", "tunnel_types", "tunnel_ip", "vlan_supported")


class AgentChanges:
    def __init__(self, binder: Binder, scheduler: DhcpScheduler, clock: Clock) -> None:
        self.binder = binder
        self.scheduler = scheduler
        self.clock = clock

    async def on_agent_reported(self, conn: AsyncConnection, event: AgentReported) -> None:
        after, before = event.after, event.before
        await self._map_segments(conn, before, after)
        if after.agent_type == L2_AGENT:
            old = (before.configurations or {}) if before is not None else {}
            new = after.configurations or {}
            capable_changed = any(old.get(k) != new.get(k) for k in BINDING_KEYS)
            if before is None or not event.was_alive or capable_changed:
                await self.rebind_failed(conn, after.host)
            if old.get("tunnel_ip") != new.get("tunnel_ip"):
                await hoststate.notify_tunnel_peers(conn, after.host)
        elif after.agent_type == DHCP_AGENT and after.admin_state_up:
            await self.scheduler.schedule_unserved(conn)

    async def on_agent_changed(self, conn: AsyncConnection, event: AgentChanged) -> None:
        """An admin changed (after) or deleted (after None) an agent."""
        before, after = event.before, event.after
        if after is None:
            await self._map_segments(conn, before, None)
        if before.agent_type == L2_AGENT and after is None:
            await hoststate.notify_tunnel_peers(conn, before.host)
        elif before.agent_type == L2_AGENT and after.admin_state_up:
            await self.rebind_failed(conn, after.host)
        elif before.agent_type == DHCP_AGENT and after is not None and after.admin_state_up:
            await self.scheduler.schedule_unserved(conn)

    @staticmethod
    async def _map_segments(conn: AsyncConnection, before: Any, after: Any) -> None:
        """The host's segment mappings, when the agent's physical networks change
        (first report, new mappings, agent deleted); the physical networks of the
        host's other agents count as well."""
        old = segment_hosts.physnets_of(before.configurations) if before is not None else None
        new = segment_hosts.physnets_of(after.configurations) if after is not None else frozenset()
        if old == new:
            return
        host = (after or before).host
        ag = models.agents
        others = select(ag.c.configurations).where(ag.c.host == host, ag.c.id != (after or before).id)
        physnets = set(new)
        for configurations in (await conn.execute(others)).scalars():
            physnets |= segment_hosts.physnets_of(configurations)
        await segment_hosts.map_host(conn, host, physnets)

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
            await hoststate.notify_ports(conn, network, [PortChange(row.id, "", host)], dhcp=False)
