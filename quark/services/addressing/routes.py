"""Quark's ``/v2.0/routes``: a subnet's host routes, one row each.

The route rows and the subnet's ``host_routes`` are one set of routes with
two representations, written together in the same transaction under the
subnet's row lock, whichever API changes them:

- ``POST/PUT/DELETE /v2.0/routes`` add, change or remove one row and the
  matching ``host_routes`` entry (subnet revision bumped);
- a subnet create or a ``host_routes`` update replaces the rows with the
  list (``replace_subnet_routes``; unchanged routes keep their ids).

So subnet reads, DHCP and Nova see every route in ``host_routes`` without a
join, and ``/v2.0/routes`` gives each an id. A destination appears at most
once per subnet (``uq_routes_subnet_cidr``; 409 ``DuplicateRouteConflict``).
Routes created here are checked more strictly than Neutron's host_routes:
the gateway must be a host address inside the subnet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.ipam import addressing
from quark.services.common import base
from quark.services.common.base import ResourceService, check_revision, standard_columns
from quark.services.common.listing import ListQuery
from quark.services.core.subnets import SubnetService, visible_subnets
from quark.services.events import Events, SubnetCreated, SubnetUpdated

r = models.routes
s = models.subnets
n = models.networks


def _entry(cidr: str, gateway: str) -> dict:
    return {"destination": cidr, "nexthop": gateway}


async def replace_subnet_routes(
    conn: AsyncConnection, subnet_id: str, project_id: str, host_routes: list[dict]
) -> None:
    """Make the subnet's route rows equal ``host_routes`` (already validated and normalised).

    Called with the subnet row written or locked (a subnet created or its
    ``host_routes`` changed). Raises DuplicateRouteConflict for two routes to
    one destination.
    """
    wanted: dict[str, str] = {}
    for route in host_routes:
        if route["destination"] in wanted:
            raise errors.DuplicateRouteConflict(subnet_id=subnet_id, cidr=route["destination"])
        wanted[route["destination"]] = route["nexthop"]
    current = {row.cidr: row for row in await conn.execute(select(r).where(r.c.subnet_id == subnet_id))}
    gone = [row.id for cidr, row in current.items() if cidr not in wanted]
    if gone:
        await conn.execute(delete(r).where(r.c.id.in_(gone)))
    now = utcnow()
    for cidr, gateway in wanted.items():
        row = current.get(cidr)
        if row is not None and row.gateway != gateway:
            await conn.execute(
                update(r)
                .where(r.c.id == row.id)
                .values(gateway=gateway, updated_at=now, revision_number=r.c.revision_number + 1)
            )
    new = [
        {
            "id": base.new_id(),
            "subnet_id": subnet_id,
            "project_id": project_id,
            "cidr": cidr,
            "gateway": gateway,
            "description": "",
            "created_at": now,
            "updated_at": now,
            "revision_number": 0,
        }
        for cidr, gateway in wanted.items()
        if cidr not in current
    ]
    if new:
        await conn.execute(insert(r), new)


class RouteService(ResourceService):
    table = r
    not_found = errors.RouteNotFound
    not_found_key = "route_id"
    columns = {**standard_columns(r), "subnet_id": r.c.subnet_id, "cidr": r.c.cidr, "gateway": r.c.gateway}

    def __init__(self, db, settings, events: Events, subnets: SubnetService) -> None:
        super().__init__(db, settings, events)
        self.subnets = subnets  # a route's visibility and write rights are its subnet's

    # --- subscribers: the rows follow the subnets' host_routes ------------------------

    async def on_subnet_created(self, conn: AsyncConnection, event: SubnetCreated) -> None:
        if event.subnet.host_routes:
            await replace_subnet_routes(conn, event.subnet.id, event.subnet.project_id, event.subnet.host_routes)

    async def on_subnet_updated(self, conn: AsyncConnection, event: SubnetUpdated) -> None:
        if "host_routes" in event.changes:
            await replace_subnet_routes(conn, event.subnet.id, event.subnet.project_id, event.changes["host_routes"])

    def visible(self, ctx: Context):
        """As subnets: a project's own, and those of shared and external networks."""
        if ctx.is_admin:
            return None
        return or_(r.c.project_id == ctx.project_id, visible_subnets(r.c.subnet_id, ctx.project_id))

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> list[dict]:
        out = []
        for row in rows:
            view = base.standard_view(row)
            view.update({"subnet_id": row.subnet_id, "cidr": row.cidr, "gateway": row.gateway})
            out.append(view)
        return out

    # --- validation ----------------------------------------------------------------

    def _validate(self, subnet: Any, cidr: str, gateway: str) -> tuple[str, str]:
        """Canonical (destination, gateway) of a route on ``subnet``, or 400."""
        try:
            if "%" in cidr:
                raise ValueError(cidr)
            dest = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise errors.InvalidCIDR(input=cidr) from None
        if dest.version != subnet.ip_version:
            raise errors.InvalidRoute(
                reason=f"destination {cidr} is not an IPv{subnet.ip_version} CIDR like subnet {subnet.id}"
            )
        hop = ipaddress.ip_address(gateway)
        net = ipaddress.ip_network(subnet.cidr)
        if hop.version != net.version:
            raise errors.InvalidRoute(
                reason=f"gateway {gateway} is not an IPv{net.version} address like subnet {subnet.id}"
            )
        if hop not in net:
            raise errors.InvalidRoute(reason=f"gateway {gateway} is outside the subnet's CIDR {net}")
        if net.version == 4 and net.prefixlen <= 30 and hop in (net.network_address, net.broadcast_address):
            raise errors.InvalidRoute(reason=f"gateway {gateway} is the network or broadcast address of {net}")
        return addressing.canonical_cidr(dest), str(hop)

    async def _subnet_for_write(self, conn: AsyncConnection, ctx: Context, subnet_id: str) -> Any:
        """The route's subnet, row-locked: every route change of a subnet is serialised on it."""
        subnet = await self.subnets.get_row(conn, ctx, subnet_id, for_update=True)
        await self.subnets.authorize_write(conn, ctx, subnet)
        return subnet

    async def _taken(self, conn: AsyncConnection, subnet_id: str, cidr: str, other_than: str | None = None) -> bool:
        stmt = select(r.c.id).where(r.c.subnet_id == subnet_id, r.c.cidr == cidr)
        if other_than is not None:
            stmt = stmt.where(r.c.id != other_than)
        return (await conn.scalar(stmt)) is not None

    async def _set_host_routes(self, conn: AsyncConnection, subnet: Any, host_routes: list[dict]) -> None:
        """Write the subnet's ``host_routes`` after a route row changed, and tell
        whoever shows them (DHCP) as for any host_routes update."""
        await conn.execute(
            update(s)
            .where(s.c.id == subnet.id)
            .values(host_routes=host_routes, revision_number=s.c.revision_number + 1, updated_at=utcnow())
        )
        # The rows are already equal to the list (this service keeps both), so
        # the routes' own subscriber finds nothing to do; DHCP hosts are told.
        await self.events.publish(conn, SubnetUpdated(subnet, {"host_routes": host_routes}))

    # --- writes --------------------------------------------------------------------

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        subnet = await self._subnet_for_write(conn, ctx, attrs["subnet_id"])
        cidr, gateway = self._validate(subnet, attrs["cidr"], attrs["gateway"])
        if await self._taken(conn, subnet.id, cidr):
            raise errors.DuplicateRouteConflict(subnet_id=subnet.id, cidr=cidr)
        count = await conn.scalar(select(func.count()).select_from(r).where(r.c.subnet_id == subnet.id)) or 0
        if count >= self.settings.max_subnet_host_routes:
            raise errors.HostRoutesExhausted(subnet_id=subnet.id, quota=self.settings.max_subnet_host_routes)
        route_id, now = base.new_id(), utcnow()
        try:
            await conn.execute(
                insert(r).values(
                    id=route_id,
                    subnet_id=subnet.id,
                    project_id=subnet.project_id,
                    cidr=cidr,
                    gateway=gateway,
                    description=attrs.get("description", ""),
                    created_at=now,
                    updated_at=now,
                    revision_number=0,
                )
            )
        except IntegrityError:  # only if a row appeared without the subnet lock (never through Quark)
            raise errors.DuplicateRouteConflict(subnet_id=subnet.id, cidr=cidr) from None
        host_routes = [e for e in subnet.host_routes or [] if e["destination"] != cidr]
        await self._set_host_routes(conn, subnet, [*host_routes, _entry(cidr, gateway)])
        return route_id

    async def update(self, ctx: Context, route_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.get_row(conn, ctx, route_id)
            subnet = await self._subnet_for_write(conn, ctx, row.subnet_id)
            row = await self.get_row(conn, ctx, route_id, for_update=True)
            check_revision(row, if_match)
            cidr, gateway = self._validate(subnet, attrs.get("cidr", row.cidr), attrs.get("gateway", row.gateway))
            if cidr != row.cidr and await self._taken(conn, subnet.id, cidr, other_than=row.id):
                raise errors.DuplicateRouteConflict(subnet_id=subnet.id, cidr=cidr)
            changes = {"cidr": cidr, "gateway": gateway}
            if "description" in attrs:
                changes["description"] = attrs["description"]
            await self.bump_revision(conn, route_id, **changes)
            if (cidr, gateway) != (row.cidr, row.gateway):
                host_routes = [
                    _entry(cidr, gateway) if e["destination"] == row.cidr else e
                    for e in subnet.host_routes or []
                    if e["destination"] != cidr or cidr == row.cidr
                ]
                await self._set_host_routes(conn, subnet, host_routes)
            return await self.render_one(conn, ctx, route_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, route_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, route_id)
            subnet = await self._subnet_for_write(conn, ctx, row.subnet_id)
            row = await self.get_row(conn, ctx, route_id, for_update=True)
            check_revision(row, if_match)
            await conn.execute(delete(r).where(r.c.id == route_id))
            await self._set_host_routes(
                conn, subnet, [e for e in subnet.host_routes or [] if e["destination"] != row.cidr]
            )

        await self.db.run_write(work)
