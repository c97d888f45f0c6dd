"""HA routers on L3 hosts (Neutron's ``l3-ha``), the Quark way: the database
decides which host is active, not VRRP (docs/l3.md, "HA routers").

An HA router is scheduled on up to ``max_l3_agents_per_router`` L3 hosts
(``router_ha_hosts``); ``routers.l3_host`` is the active one, the others are
standbys. Only the active host's agent gets the router's ports (they are
bound there), addresses, routes and NAT; a standby keeps the namespace with
nothing in it that answers on the networks, so no address is ever on two
hosts the server knows alive. When the active host's agent stops reporting
for ``agent_down_time``, the scheduler's check (at any agent's report and
periodically) makes a live standby active in one transaction: ``l3_host``
moves, the ports are bound there, both hosts' generations move.

A dead standby stays in the set (it is a standby again when its agent comes
back) unless a live host can take its place when the router is next placed
(a change of the router, a failover, an L3 agent turning alive).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import l3_models
from quark.services.dataplane import hoststate

rh = l3_models.router_ha_hosts

ACTIVE = "active"
STANDBY = "standby"
HA_STATES = (ACTIVE, STANDBY)


def ha_state(host: str, active: str | None) -> str:
    """The state the database gives ``host`` for a router active on ``active``."""
    return ACTIVE if host == active else STANDBY


async def hosts_of(conn: AsyncConnection, router_id: str) -> list[str]:
    """The hosts an HA router is scheduled on, sorted."""
    stmt = select(rh.c.host).where(rh.c.router_id == router_id).order_by(rh.c.host)
    return list((await conn.execute(stmt)).scalars())


def choose(active: str | None, current: list[str], candidates: list[str], live: set[str], limit: int) -> list[str]:
    """The hosts of an HA router: the active one first, then its live
    standbys, new live candidates (by load), and dead former hosts in the
    slots left (they are standbys again when they come back); at most
    ``limit`` (0: no limit). None without an active host."""
    if active is None:
        return []
    chosen = [active]
    for host in [h for h in current if h in live] + candidates + [h for h in current if h not in live]:
        if host not in chosen:
            chosen.append(host)
    return chosen[:limit] if limit > 0 else chosen


async def store(conn: AsyncConnection, router_id: str, hosts: Iterable[str]) -> set[str]:
    """Make the router's HA hosts ``hosts``; the hosts added or removed."""
    wanted = set(hosts)
    current = set(await hosts_of(conn, router_id))
    gone, new = current - wanted, wanted - current
    if gone:
        await conn.execute(delete(rh).where(rh.c.router_id == router_id, rh.c.host.in_(sorted(gone))))
    for host in sorted(new):
        await conn.execute(rh.insert().values(router_id=router_id, host=host, reported_state=None))
    return gone | new


async def routers_on(conn: AsyncConnection, host: str) -> list[str]:
    """The HA routers scheduled on the host (active or standby)."""
    stmt = select(rh.c.router_id).where(rh.c.host == host).order_by(rh.c.router_id)
    return list((await conn.execute(stmt)).scalars())


async def record_reported(conn: AsyncConnection, host: str, states: dict[str, str]) -> list[str]:
    """Store the ha_state the host's agent reports for its HA routers (shown
    in its document, so a change bumps its generation); the ids taken
    (routers not scheduled on the host are ignored)."""
    if not states:
        return []
    stmt = select(rh.c.router_id, rh.c.reported_state).where(rh.c.host == host, rh.c.router_id.in_(sorted(states)))
    rows = (await conn.execute(stmt.order_by(rh.c.router_id))).all()
    changed = False
    for router_id, reported in rows:
        if reported != states[router_id]:
            changed = True
            await conn.execute(
                update(rh)
                .where(rh.c.router_id == router_id, rh.c.host == host)
                .values(reported_state=states[router_id])
            )
    if changed:  # the reported states are in the host's document
        await hoststate.bump(conn, [host])
    return [router_id for router_id, _ in rows]
