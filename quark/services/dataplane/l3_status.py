"""What an L3 host's agent reports of its routers and floating IPs
(``PUT /v2.0/hosts/{host}/l3_status``, docs/l3.md).

Only routers scheduled to that host are taken (others are ignored and listed
nowhere), and only floating IPs through such a router. A router is
``ACTIVE`` when its namespace and every port of it are in place, a floating
IP when its NAT rules are. Both statuses are in the host's document: a
report that changes one bumps the host's generation.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.clock import Clock
from quark.db import l3_models, models
from quark.services.dataplane import hoststate

r = l3_models.routers
f = models.floatingips

ROUTER_STATUSES = ("ACTIVE", "DOWN", "ERROR")
FLOATING_IP_STATUSES = ("ACTIVE", "DOWN", "ERROR")


async def apply(
    conn: AsyncConnection, clock: Clock, host: str, routers: dict[str, str], floating_ips: dict[str, str]
) -> dict[str, list[str]]:
    """Store the statuses of the host's routers and their floating IPs; the ids taken."""
    mine = set()
    if routers or floating_ips:
        mine = set((await conn.execute(select(r.c.id).where(r.c.l3_host == host))).scalars())
    taken_routers, changed = [], 0
    for router_id in sorted(set(routers) & mine):
        taken_routers.append(router_id)
        changed += await _set(
            conn,
            update(r)
            .where(r.c.id == router_id, r.c.status != routers[router_id])
            .values(status=routers[router_id], revision_number=r.c.revision_number + 1, updated_at=clock()),
        )
    taken_fips = []
    if floating_ips and mine:
        rows = await conn.execute(
            select(f.c.id, f.c.router_id).where(f.c.id.in_(sorted(floating_ips))).order_by(f.c.id)
        )
        for fip_id, router_id in rows:
            if router_id not in mine:
                continue
            taken_fips.append(fip_id)
            changed += await _set(
                conn,
                update(f)
                .where(f.c.id == fip_id, f.c.status != floating_ips[fip_id])
                .values(status=floating_ips[fip_id], revision_number=f.c.revision_number + 1, updated_at=clock()),
            )
    if changed:
        await hoststate.bump(conn, [host])
    return {"routers": taken_routers, "floatingips": taken_fips}


async def _set(conn: AsyncConnection, stmt) -> int:
    """Run an UPDATE; how many rows it changed."""
    return int((await conn.execute(stmt)).rowcount or 0)
