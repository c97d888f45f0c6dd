"""Scheduling networks onto DHCP agents: a network with DHCP subnets gets one
DHCP port, bound to the least loaded live DHCP agent's host, with an
address on each of its stateful DHCP subnets; the port goes when the last
DHCP subnet goes.

Runs as a subscriber of subnet changes (``quark.services.events``) and when
DHCP agents report or come back (``AgentChanges``), in the transaction of
that change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, owners
from quark.clock import Clock
from quark.config import Settings
from quark.context import Context
from quark.db import models
from quark.ipam import addressing
from quark.services.core import segment_hosts
from quark.services.core.ports.service import PortService
from quark.services.dataplane import liveness
from quark.services.dataplane.agents import DHCP_AGENT
from quark.services.events import SubnetCreated, SubnetDeleted, SubnetUpdated

p = models.ports
n = models.networks
s = models.subnets
ag = models.agents

LOG = logging.getLogger(__name__)

# Networks given to a DHCP agent per report (the next reports take the rest).
SCHEDULE_BATCH = 200


class DhcpScheduler:
    def __init__(self, settings: Settings, clock: Clock, ports: PortService) -> None:
        self.settings = settings
        self.clock = clock
        self.ports = ports  # DHCP ports are ports: created, given addresses and deleted by their service

    # --- subscribers --------------------------------------------------------------------

    async def on_subnet_created(self, conn: AsyncConnection, event: SubnetCreated) -> None:
        if event.subnet.enable_dhcp:
            await self.network_dhcp_changed(conn, event.subnet.network_id)

    async def on_subnet_updated(self, conn: AsyncConnection, event: SubnetUpdated) -> None:
        if "enable_dhcp" in event.changes:
            await self.network_dhcp_changed(conn, event.subnet.network_id)

    async def on_subnet_deleted(self, conn: AsyncConnection, event: SubnetDeleted) -> None:
        if event.subnet.enable_dhcp:
            await self.network_dhcp_changed(conn, event.subnet.network_id)

    # --- scheduling ---------------------------------------------------------------------

    async def live_dhcp_host(self, conn: AsyncConnection, zones: Sequence[str] = ()) -> str | None:
        """The host of the least loaded live, admin-up DHCP agent, or None; one
        in ``zones`` (the network's availability-zone hints) when there is one."""
        agents = (
            await conn.execute(
                select(ag.c.host, ag.c.availability_zone)
                .where(
                    ag.c.agent_type == DHCP_AGENT,
                    ag.c.admin_state_up.is_(True),
                    ag.c.heartbeat_timestamp > liveness.cutoff(self.settings, self.clock),
                )
                .order_by(ag.c.host)
            )
        ).all()
        hinted = [a.host for a in agents if a.availability_zone in zones]
        hosts = hinted or [a.host for a in agents]
        if not hosts:
            return None
        load: dict[str, int] = dict(
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
        one, deleted when the last one goes.

        The network row is locked first: two DHCP agents reporting at once (or
        a report and a subnet change) decide one after the other, so a network
        never gets two DHCP ports. On PostgreSQL the lock (FOR NO KEY UPDATE)
        does not hold up port creates, whose foreign-key checks take KEY SHARE.
        """
        await conn.execute(select(n.c.id).where(n.c.id == network_id).with_for_update(key_share=True))
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
        routed = segment_hosts.is_routed(subnets)
        if dhcp_ports:
            for port in dhcp_ports:
                served = await segment_hosts.reached(conn, subnets, port.binding_host_id) if routed else subnets
                await self.ports.add_subnets(conn, port, _stateful(served))
            return
        network = (await conn.execute(select(n).where(n.c.id == network_id))).one()
        host = await self.live_dhcp_host(conn, network.availability_zone_hints or ())
        if host is None:
            return
        if routed:
            # A routed network: the DHCP host serves the subnets of the segments it reaches
            # (Neutron runs DHCP per segment); one that reaches none gets no port, rather
            # than the subnet's create failing with HostNotConnectedToAnySegment.
            subnets = await segment_hosts.reached(conn, subnets, host)
            if not subnets:
                return
        stateful = _stateful(subnets)
        ctx = Context.admin(network.project_id)
        await self.ports.create_ports_in(
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
            internal=True,
        )


def _stateful(subnets: list[Any]) -> list[str]:
    """The subnets a DHCP port takes an address on (not the SLAAC ones)."""
    return [sub.id for sub in subnets if not addressing.is_auto_address(sub)]
