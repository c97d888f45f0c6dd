"""Scheduling routers onto L3 hosts (docs/l3.md): a network-node design.

Every router is realised on one host whose agent reports the ``"L3 agent"``
role (``quark agent --l3``): the alive, admin-up one with the fewest routers
(``routers.l3_host``). Its ports (interfaces and gateway) are bound to that
host like any port, so the host's L2 agent plugs them into their networks'
bridges (and the VXLAN peers of every other host include it); the host's L3
part moves them into the router's namespace.

Runs in the transaction of every router change (``RoutersChanged``) and of
every agent's report (``AgentReported``): a router whose host is dead (its
last report older than ``agent_down_time``) moves to another alive L3 host
at the next report of any agent (``DOWN``, without a host, when no L3 host
is alive). The check is one indexed query per report when nothing moves. Each run bumps the generation of the
hosts concerned (old and new), so their agents see the change at once.

An HA router (``routers.ha``) is also scheduled on standby hosts, up to
``max_l3_agents_per_router`` (``l3_ha``); ``l3_host`` is its active one, and
the same checks make a live standby active when the active host dies.

A router no live L3 host ever took keeps the status it was created with
(``ACTIVE``, as Neutron without L3 agents shows it); a scheduled one is
``BUILD`` until its host reports it realised, ``DOWN`` when it lost its host
and no other can take it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import owners
from quark.clock import Clock
from quark.config import Settings
from quark.db import l3_models, models
from quark.services.common import availability_zones
from quark.services.core.binding import Binder, bound_host, bound_status
from quark.services.dataplane import hoststate, l3_ha, liveness
from quark.services.dataplane.binding import BRIDGE
from quark.services.events import (
    AgentChanged,
    AgentReported,
    PortAddressesChanged,
    PortChange,
    PortDeleting,
    PortForwardingsChanged,
    RoutersChanged,
)

r = l3_models.routers
rh = l3_models.router_ha_hosts
p = models.ports
n = models.networks
ag = models.agents
f = models.floatingips

L3_AGENT = availability_zones.L3_AGENT
# Routers moved per report (the next reports take the rest).
SCHEDULE_BATCH = 200


class L3Scheduler:
    def __init__(self, settings: Settings, clock: Clock, binder: Binder) -> None:
        self.settings = settings
        self.clock = clock
        self.binder = binder

    # --- subscribers ----------------------------------------------------------------------

    async def on_routers_changed(self, conn: AsyncConnection, event: RoutersChanged) -> None:
        hosts = set(event.hosts)
        live = await self.live_hosts(conn)
        for router_id in sorted(set(event.router_ids)):
            hosts |= await self.place(conn, router_id, live)
        await hoststate.bump(conn, hosts)

    @staticmethod
    async def on_port_forwardings_changed(conn: AsyncConnection, event: PortForwardingsChanged) -> None:
        """The L3 hosts of the routers realising the forwardings (before and after)
        get a new generation; a floating IP left without forwardings (nor router,
        nor port) is ``DOWN`` again, as an unassociated one."""
        await conn.execute(
            update(f)
            .where(
                f.c.id.in_(sorted(event.floatingip_ids)),
                f.c.router_id.is_(None),
                f.c.port_id.is_(None),
                f.c.status != "DOWN",
            )
            .values(status="DOWN")
        )
        await hoststate.notify_routers(conn, event.router_ids)

    async def on_port_deleting(self, conn: AsyncConnection, event: PortDeleting) -> None:
        """Before its floating IPs are disassociated: their routers' hosts hear of it."""
        await self._fip_hosts(conn, [event.port.id])

    async def on_port_addresses_changed(self, conn: AsyncConnection, event: PortAddressesChanged) -> None:
        await self._fip_hosts(conn, list(event.port_ids))

    async def _fip_hosts(self, conn: AsyncConnection, port_ids: list[str]) -> None:
        routers = (
            await conn.execute(select(f.c.router_id).where(f.c.port_id.in_(port_ids), f.c.router_id.is_not(None)))
        ).scalars()
        await hoststate.notify_routers(conn, routers)

    async def on_agent_reported(self, conn: AsyncConnection, event: AgentReported) -> None:
        """Any agent's heartbeat (every host's L2 agent reports every few seconds)
        checks for routers whose L3 host is dead: they move to a live one, or
        are ``DOWN`` when none is left. An L3 agent that comes alive (new, or
        back) also gives the HA routers short of standbys one more."""
        await self.reschedule(conn)
        if event.after.agent_type == L3_AGENT and not event.was_alive:
            await self.refill_ha(conn)

    async def refill_ha(self, conn: AsyncConnection) -> None:
        """Place the hosted HA routers with fewer hosts than
        ``max_l3_agents_per_router`` (0: than there are live L3 hosts), so a
        live host joins them as a standby (quark.services.dataplane.l3_ha).
        Runs only when an L3 agent turns alive, a rare event: no index needed."""
        live = await self.live_hosts(conn)
        limit = self.settings.max_l3_agents_per_router or len(live)
        count = select(func.count()).select_from(rh).where(rh.c.router_id == r.c.id).scalar_subquery()
        stmt = select(r.c.id).where(r.c.ha.is_(True), r.c.l3_host.is_not(None), count < limit)
        hosts: set[str] = set()
        for router_id in (await conn.execute(stmt.order_by(r.c.id).limit(SCHEDULE_BATCH))).scalars():
            hosts |= await self.place(conn, router_id, live, automatic=True)
        await hoststate.bump(conn, hosts)

    async def on_agent_changed(self, conn: AsyncConnection, event: AgentChanged) -> None:
        """An L3 agent changed or deleted: its routers may be on a host no L3
        agent row names any more, which only the whole check finds."""
        if event.before.agent_type == L3_AGENT:
            await self.reschedule(conn, thorough=True)

    # --- scheduling ------------------------------------------------------------------------

    async def live_hosts(self, conn: AsyncConnection) -> list[str]:
        """Hosts of the alive, admin-up L3 agents, sorted."""
        return (await self.l3_hosts(conn))[0]

    async def l3_hosts(self, conn: AsyncConnection) -> tuple[list[str], list[str]]:
        """(live, dead) hosts of the L3 agents, each sorted: live ones are alive
        and admin-up; the agents table's few L3 rows, read once."""
        rows = await conn.execute(
            select(ag.c.host, ag.c.admin_state_up, ag.c.heartbeat_timestamp)
            .where(ag.c.agent_type == L3_AGENT)
            .order_by(ag.c.host)
        )
        live: list[str] = []
        dead: list[str] = []
        for row in rows:
            alive = row.admin_state_up and liveness.is_alive(row.heartbeat_timestamp, self.settings, self.clock)
            (live if alive else dead).append(row.host)
        return live, dead

    async def reschedule(self, conn: AsyncConnection, *, thorough: bool = False) -> int:
        """Routers without a live host get one (if any is alive); how many were
        looked at. Routers an admin took off their agent stay unhosted.

        Run at every agent's heartbeat and periodically, it searches the
        routers by host (the ``l3_host`` index): those without one (when a
        live host can take them) and those on the host of a dead L3 agent.
        ``thorough`` (an L3 agent changed or deleted) also finds routers on a
        host no L3 agent row names, scanning the routers, until none is left."""
        live, dead = await self.l3_hosts(conn)
        automatic = or_(r.c.l3_unhosted.is_(None), r.c.l3_unhosted.is_(False))
        unhosted = and_(r.c.l3_host.is_(None), automatic)
        if thorough:
            stranded = or_(unhosted, r.c.l3_host.not_in(live)) if live else r.c.l3_host.is_not(None)
        else:
            searched = ([unhosted] if live else []) + ([r.c.l3_host.in_(dead)] if dead else [])
            if not searched:
                return 0
            stranded = or_(*searched)
        hosts: set[str] = set()
        done: set[str] = set()
        looked = 0
        while True:
            ids = list(
                (await conn.execute(select(r.c.id).where(stranded).order_by(r.c.id).limit(SCHEDULE_BATCH))).scalars()
            )
            looked += len(ids)
            for router_id in ids:
                hosts |= await self.place(conn, router_id, live, automatic=True)
            if not thorough or len(ids) < SCHEDULE_BATCH or done.issuperset(ids):
                break
            done.update(ids)
        await hoststate.bump(conn, hosts)
        return len(ids)

    async def _least_loaded(self, conn: AsyncConnection, live: list[str]) -> str | None:
        ordered = await self._by_load(conn, live)
        return ordered[0] if ordered else None

    @staticmethod
    async def _by_load(conn: AsyncConnection, live: list[str]) -> list[str]:
        """The hosts by the number of routers active on them (ties by name)."""
        if not live:
            return []
        load: dict[str, int] = dict(
            (
                await conn.execute(select(r.c.l3_host, func.count()).where(r.c.l3_host.in_(live)).group_by(r.c.l3_host))
            ).all()
        )
        return sorted(live, key=lambda h: (load.get(h, 0), h))

    async def _hinted(self, conn: AsyncConnection, router: Any, live: list[str]) -> list[str]:
        """The live hosts in the router's availability-zone hints, if it has hints
        and any is live there; else every live host."""
        hints = router.availability_zone_hints
        if not hints or not live:
            return live
        stmt = select(ag.c.host).where(
            ag.c.agent_type == L3_AGENT, ag.c.host.in_(live), ag.c.availability_zone.in_(list(hints))
        )
        return sorted((await conn.execute(stmt)).scalars()) or live

    async def place(
        self, conn: AsyncConnection, router_id: str, live: list[str], *, automatic: bool = False
    ) -> set[str]:
        """Keep the router on its live host or move it to the least loaded live
        one, and bind its ports there; the hosts whose documents changed.

        A change of the router (``automatic`` false) schedules it even if an
        admin took it off its agent; the automatic checks leave such a router
        alone (another worker's check may have placed it meanwhile: the row is
        read again under its lock)."""
        router = (await conn.execute(select(r).where(r.c.id == router_id).with_for_update())).first()
        if router is None or (automatic and router.l3_host is None and router.l3_unhosted):
            return set()
        if router.ha:
            return await self._place_ha(conn, router, live)
        touched = await l3_ha.store(conn, router.id, ())  # no longer HA: its standbys drop it
        host = (
            router.l3_host
            if router.l3_host in live
            else await self._least_loaded(conn, await self._hinted(conn, router, live))
        )
        return touched | await self.move(conn, router, host)

    async def _place_ha(self, conn: AsyncConnection, router: Any, live: list[str]) -> set[str]:
        """An HA router (quark.services.dataplane.l3_ha): its live active host
        stays; else a live standby becomes active (the failover), else the
        least loaded live host; standbys fill up to ``max_l3_agents_per_router``."""
        current = await l3_ha.hosts_of(conn, router.id)
        hinted = await self._hinted(conn, router, live)
        if router.l3_host in live:
            active = router.l3_host
        else:
            standby = next((h for h in current if h in live), None)
            active = standby or await self._least_loaded(conn, hinted)
        candidates = await self._by_load(conn, hinted)
        hosts = l3_ha.choose(active, current, candidates, set(live), self.settings.max_l3_agents_per_router)
        touched = await l3_ha.store(conn, router.id, hosts)
        return touched | await self.move(conn, router, active)

    async def move(self, conn: AsyncConnection, router: Any, host: str | None, *, unhosted: bool = False) -> set[str]:
        """Put the (locked) router on ``host`` (None: no host; ``unhosted``: an
        admin's choice) and bind its ports there; the hosts concerned."""
        touched = {h for h in (router.l3_host, host) if h}
        if host != router.l3_host or bool(router.l3_unhosted) != unhosted:
            status = "BUILD" if host else "DOWN"
            values = {"l3_host": host, "l3_unhosted": unhosted or None}
            if host != router.l3_host:
                values["status"] = status
            await conn.execute(update(r).where(r.c.id == router.id).values(**values))
        if host:
            await self.bind_ports(conn, router.id, host)
        return touched

    async def bind_ports(self, conn: AsyncConnection, router_id: str, host: str) -> None:
        """Bind the router's ports not yet bound to ``host`` there."""
        rows = (
            await conn.execute(
                select(p)
                .where(
                    p.c.device_id == router_id,
                    p.c.device_owner.in_(owners.ROUTER),
                    or_(p.c.binding_host_id != host, p.c.binding_vif_type != BRIDGE),
                )
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
            await conn.execute(
                update(p)
                .where(p.c.id == row.id)
                .values(
                    binding_host_id=host,
                    binding_vif_type=result.vif_type,
                    binding_vif_details=result.vif_details,
                    status=bound_status(row.admin_state_up) if result.bound else "DOWN",
                    revision_number=p.c.revision_number + 1,
                    updated_at=self.clock(),
                )
            )
            before = bound_host(row.binding_host_id, row.binding_vif_type)
            after = host if result.bound else ""
            await hoststate.notify_ports(conn, network, [PortChange(row.id, before, after)], dhcp=False)
