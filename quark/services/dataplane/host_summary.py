"""What each host runs, for the dashboard's hosts page (docs/dashboard.md).

Per host: the routers scheduled there (``routers.l3_host``), the networks
its DHCP ports serve (ports bound there with device owner ``network:dhcp``)
and, on a host's own page, the networks of the ports bound there, a page at
a time. Every read is an index lookup by host and bounded by a limit; the
caller decides (the policy's ``get_agent``) who may ask.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import distinct, func, select

from quark import owners
from quark.db import l3_models, models
from quark.db.engine import Database

p = models.ports
r = l3_models.routers
n = models.networks

# Routers and DHCP networks listed on a host's page.
DETAIL_LIMIT = 100


@dataclass
class HostRuns:
    routers: int = 0
    dhcp_networks: int = 0


@dataclass
class HostDetail:
    host: str
    routers: list[dict] = field(default_factory=list)
    dhcp_networks: list[dict] = field(default_factory=list)
    networks: list[dict] = field(default_factory=list)  # a page of the networks of ports bound there
    next_marker: str | None = None


class HostSummaryService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def runs(self, hosts: list[str]) -> dict[str, HostRuns]:
        """Routers and DHCP networks per host, for a page of hosts."""
        out = {h: HostRuns() for h in hosts}
        if not hosts:
            return out
        routers = select(r.c.l3_host, func.count()).where(r.c.l3_host.in_(hosts)).group_by(r.c.l3_host)
        dhcp = (
            select(p.c.binding_host_id, func.count(distinct(p.c.network_id)))
            .where(p.c.binding_host_id.in_(hosts), p.c.device_owner == owners.DHCP)
            .group_by(p.c.binding_host_id)
        )
        async with self.db.read(lag_ok=True) as conn:
            for host, count in (await conn.execute(routers)).all():
                out[host].routers = int(count)
            for host, count in (await conn.execute(dhcp)).all():
                out[host].dhcp_networks = int(count)
        return out

    async def detail(self, host: str, marker: str | None, limit: int) -> HostDetail:
        """A host's routers and DHCP networks (at most ``DETAIL_LIMIT`` each) and a page
        of the networks its bound ports are on, keyed on the network id."""
        routers = select(r.c.id, r.c.name, r.c.status).where(r.c.l3_host == host).order_by(r.c.id).limit(DETAIL_LIMIT)
        dhcp = (
            select(n.c.id, n.c.name)
            .where(
                n.c.id.in_(select(p.c.network_id).where(p.c.binding_host_id == host, p.c.device_owner == owners.DHCP))
            )
            .order_by(n.c.id)
            .limit(DETAIL_LIMIT)
        )
        bound = select(p.c.network_id).where(p.c.binding_host_id == host)
        if marker:
            bound = bound.where(p.c.network_id > marker)
        page = select(n.c.id, n.c.name).where(n.c.id.in_(bound)).order_by(n.c.id).limit(limit + 1)
        async with self.db.read(lag_ok=True) as conn:
            detail = HostDetail(
                host,
                [dict(row._mapping) for row in (await conn.execute(routers)).all()],
                [dict(row._mapping) for row in (await conn.execute(dhcp)).all()],
                [dict(row._mapping) for row in (await conn.execute(page)).all()],
            )
        if len(detail.networks) > limit:
            detail.networks = detail.networks[:limit]
            detail.next_marker = detail.networks[-1]["id"]
        return detail
