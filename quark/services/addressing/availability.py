"""Neutron's network-ip-availabilities (admin): total and used addresses per
network and subnet, from the usage counters — never by counting allocations.

total = addresses in the allocation pools (IP-policy exclusions removed);
used = addresses held (DHCP and router ports included), as in Neutron.
IPv6 totals exceed 2**64: they are Python ints, JSON numbers of any size.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from quark import errors
from quark.context import Context
from quark.db import models
from quark.db.engine import Database
from quark.ipam.pools import pool_ranges
from quark.services.common.base import Strings
from quark.services.common.listing import ListQuery

n = models.networks
s = models.subnets
u = models.ip_usage


class AvailabilityService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, ctx: Context, query: ListQuery) -> list[dict]:
        if not ctx.is_admin:
            raise errors.AdminRequired(reason="network IP availability is for admins")
        f = query.filters
        stmt = select(n.c.id, n.c.name, n.c.project_id).order_by(n.c.id)
        if f.get("network_id"):
            stmt = stmt.where(n.c.id.in_(f["network_id"]))
        if f.get("network_name"):
            stmt = stmt.where(n.c.name.in_(f["network_name"]))
        projects = (f.get("project_id") or []) + (f.get("tenant_id") or [])
        if projects:
            stmt = stmt.where(n.c.project_id.in_(projects))
        if query.marker:
            stmt = stmt.where(n.c.id > query.marker)
        if query.limit:
            stmt = stmt.limit(query.limit)
        async with self.db.read() as conn:
            networks = (await conn.execute(stmt)).all()
            if not networks:
                return []
            used = select(u.c.subnet_id, func.sum(u.c.used).label("used")).group_by(u.c.subnet_id).subquery()
            sub_stmt = (
                select(s, func.coalesce(used.c.used, 0).label("used"))
                .outerjoin(used, used.c.subnet_id == s.c.id)
                .where(s.c.network_id.in_([net.id for net in networks]))
                .order_by(s.c.created_at, s.c.id)
            )
            if f.get("ip_version"):
                sub_stmt = sub_stmt.where(s.c.ip_version.in_(f["ip_version"]))
            subnets = (await conn.execute(sub_stmt)).all()
        by_network: dict[str, list[Any]] = defaultdict(list)
        for sub in subnets:
            by_network[sub.network_id].append(sub)
        out = []
        for net in networks:
            if f.get("ip_version") and not by_network.get(net.id):
                continue
            items = [
                {
                    "subnet_id": sub.id,
                    "subnet_name": sub.name,
                    "cidr": sub.cidr,
                    "ip_version": sub.ip_version,
                    "total_ips": pool_ranges(sub).size,
                    "used_ips": int(sub.used),
                }
                for sub in by_network.get(net.id, [])
            ]
            out.append(
                {
                    "network_id": net.id,
                    "network_name": net.name,
                    "project_id": net.project_id,
                    "tenant_id": net.project_id,
                    "total_ips": sum(i["total_ips"] for i in items),
                    "used_ips": sum(i["used_ips"] for i in items),
                    "subnet_ip_availability": items,
                }
            )
        return out

    async def get(self, ctx: Context, network_id: str, fields: Strings | None = None) -> dict:
        found = await self.list(ctx, ListQuery(filters={"network_id": [network_id]}))
        if not found:
            raise errors.NetworkNotFound(net_id=network_id)
        return found[0]
