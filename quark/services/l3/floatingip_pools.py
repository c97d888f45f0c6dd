"""``GET /v2.0/floatingip_pools`` (Neutron's ``floatingip-pools``): the IPv4
subnets of the external networks the caller sees, each a pool a floating IP
may come from (``subnet_id`` on a floating IP create). Read only; nothing is
stored: a view over subnets and networks. As Neutron's, each pool's
``project_id`` is the caller's project. See docs/floating_ips_and_security_groups.md.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.context import Context
from quark.db import models
from quark.db.engine import Database
from quark.services.common.base import Strings
from quark.services.common.listing import ListQuery
from quark.services.core import network_rbac

n, s = models.networks, models.subnets

# attribute -> the column its filter and sort use (project_id is the caller's)
_COLUMNS = {"subnet_id": s.c.id, "subnet_name": s.c.name, "network_id": s.c.network_id, "cidr": s.c.cidr}


class FloatingIpPoolService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, ctx: Context, query: ListQuery) -> list[dict]:
        project = ctx.project_id or ""
        asked = [query.filters.get(key) for key in ("project_id", "tenant_id")]
        if any(values is not None and project not in values for values in asked):
            return []
        stmt = (
            select(s.c.id, s.c.name, s.c.network_id, s.c.cidr)
            .join(n, n.c.id == s.c.network_id)
            .where(n.c.router_external.is_(True), s.c.ip_version == 4)
        )
        if not ctx.is_admin:
            stmt = stmt.where(network_rbac.visible(ctx.project_id))
        for key, column in _COLUMNS.items():
            if key in query.filters:
                stmt = stmt.where(column.in_(query.filters[key]))
        async with self.db.read(lag_ok=True) as conn:
            rows = await self._page(conn, stmt, query)
        return [
            {
                "subnet_id": row.id,
                "subnet_name": row.name,
                "network_id": row.network_id,
                "cidr": row.cidr,
                "project_id": project,
                "tenant_id": project,
            }
            for row in rows
        ]

    @staticmethod
    async def _page(conn: AsyncConnection, stmt, query: ListQuery):
        """Sorted by the query's keys then subnet id; after the marker (a subnet id); limited."""
        order = [
            (_COLUMNS[key].desc() if direction == "desc" else _COLUMNS[key].asc())
            for key, direction in query.sorts
            if key in _COLUMNS
        ]
        rows = (await conn.execute(stmt.order_by(*order, s.c.id))).all()
        if query.marker:
            ids = [row.id for row in rows]
            rows = rows[ids.index(query.marker) + 1 :] if query.marker in ids else []
        return rows[: query.limit] if query.limit else rows

    def missing(self, subnet_id: str) -> errors.QuarkError:
        return errors.SubnetNotFound(subnet_id=subnet_id)

    async def get(self, ctx: Context, subnet_id: str, fields: Strings | None = None) -> dict:
        found = await self.list(ctx, ListQuery(filters={"subnet_id": [subnet_id]}))
        if not found:
            raise self.missing(subnet_id)
        return found[0]
