"""Neutron's network-ip-availabilities (admin): total and used addresses per
network and subnet, from the usage counters — never by counting allocations.

total = addresses in the allocation pools (IP-policy exclusions removed);
used = addresses held (DHCP and router ports included), as in Neutron.
IPv6 totals exceed 2**64: they are Python ints, JSON numbers of any size.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, func, select

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
        versions = query.filters.get("ip_version")
        async with self.db.read(lag_ok=True) as conn:
            networks = (await conn.execute(_networks_matching(query))).all()
            if not networks:
                return []
            subnets = (await conn.execute(_subnets_with_use([net.id for net in networks], versions))).all()
        by_network: dict[str, list[Any]] = defaultdict(list)
        for sub in subnets:
            by_network[sub.network_id].append(sub)
        # With an ip_version filter, networks without such subnets are left out.
        return [_network_view(net, by_network[net.id]) for net in networks if by_network.get(net.id) or not versions]

    def missing(self, network_id: str) -> errors.QuarkError:
        return errors.NetworkNotFound(net_id=network_id)

    async def get(self, ctx: Context, network_id: str, fields: Strings | None = None) -> dict:
        found = await self.list(ctx, ListQuery(filters={"network_id": [network_id]}))
        if not found:
            raise errors.NetworkNotFound(net_id=network_id)
        return found[0]


def _networks_matching(query: ListQuery) -> Select:
    """The networks a query asks for, by id, in pages keyed on the id."""
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
    return stmt


def _subnets_with_use(network_ids: list[str], versions: list[int] | None) -> Select:
    used = select(u.c.subnet_id, func.sum(u.c.used).label("used")).group_by(u.c.subnet_id).subquery()
    stmt = (
        select(s, func.coalesce(used.c.used, 0).label("used"))
        .outerjoin(used, used.c.subnet_id == s.c.id)
        .where(s.c.network_id.in_(network_ids))
        .order_by(s.c.created_at, s.c.id)
    )
    return stmt.where(s.c.ip_version.in_(versions)) if versions else stmt


def _network_view(net: Any, subnets: list[Any]) -> dict:
    items = [
        {
            "subnet_id": sub.id,
            "subnet_name": sub.name,
            "cidr": sub.cidr,
            "ip_version": sub.ip_version,
            "total_ips": pool_ranges(sub).size,
            "used_ips": int(sub.used),
        }
        for sub in subnets
    ]
    return {
        "network_id": net.id,
        "network_name": net.name,
        "project_id": net.project_id,
        "tenant_id": net.project_id,
        "total_ips": sum(i["total_ips"] for i in items),
        "used_ips": sum(i["used_ips"] for i in items),
        "subnet_ip_availability": items,
    }
