"""Routers with Neutron's API (``router``, ``ext-gw-mode``, ``extraroute``,
``extraroute-atomic``): the router rows, their gateway (``gateways``), their
interfaces (``interfaces``) and their extra routes (``extra_routes``).

A router is created ``ACTIVE`` (as Neutron's ML2 without an agent shows
it); every change publishes ``RoutersChanged``, whose subscriber schedules it
to an L3 host (``BUILD`` until that host reports it realised; docs/l3.md).
What it routes is the dataplane's job. Every change of
a router locks its row first, so interface, gateway and route changes of one
router run one after the other (the atomic extra-route updates rely on it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import owners
from quark.context import Context
from quark.db import l3_models, models
from quark.db.lookups import IDS, Lookup
from quark.services.common import availability_zones, base
from quark.services.common.base import ResourceService, standard_columns, write_tags
from quark.services.common.idempotency import answered
from quark.services.common.listing import ListQuery
from quark.services.core.ports.service import PortService
from quark.services.events import Events, PortDeleting, ResourcesCreated, ResourcesWritten, RoutersChanged, Written
from quark.services.l3 import extra_routes, router_flags, router_flavors, router_ports
from quark.services.l3.gateways import Gateways, gateway_view, wanted_gateway
from quark.services.l3.interfaces import Interfaces
from quark.services.l3.router_errors import RouterBadRequest, RouterInUse, RouterNotFound

r = l3_models.routers
rr = l3_models.router_routes
rh = l3_models.router_ha_hosts
p = models.ports
a = models.ip_allocations

GATEWAY_NETWORKS = Lookup(
    "router.gateway_network",
    select(r.c.gw_port_id.label("port_id"), p.c.network_id)
    .select_from(r.join(p, p.c.id == r.c.gw_port_id))
    .where(r.c.id.in_(IDS)),
)
GATEWAY_ADDRESSES = Lookup(
    "router.gateway_address",
    select(a.c.port_id, a.c.subnet_id, a.c.address)
    .select_from(r.join(a, a.c.port_id == r.c.gw_port_id))
    .where(r.c.id.in_(IDS), a.c.deallocated.is_(False)),
    order=("port_id", "subnet_id", "address"),
)
ROUTES = Lookup(
    "router.routes",
    select(rr.c.router_id, rr.c.destination, rr.c.nexthop).where(rr.c.router_id.in_(IDS)),
    order=("router_id", "destination", "nexthop"),
)


class RouterService(ResourceService):
    table = r
    not_found = RouterNotFound
    not_found_key = "router_id"
    columns = {
        **standard_columns(r),
        "admin_state_up": r.c.admin_state_up,
        "status": r.c.status,
        "ha": r.c.ha,
        "distributed": r.c.distributed,
        "flavor_id": r.c.flavor_id,
    }
    related = (
        ("external_gateway_info", GATEWAY_NETWORKS),
        ("external_gateway_info", GATEWAY_ADDRESSES),
        ("routes", ROUTES),
        ("availability_zones", availability_zones.ROUTER_ZONES),
        ("tags", base.TAGS),
    )

    def __init__(self, db, settings, ports: PortService, events: Events | None = None) -> None:
        super().__init__(db, settings, events)
        self.ports = ports  # gateway and interface ports are internal ports
        self.gateways = Gateways(ports)
        self.interfaces = Interfaces(self, ports)

    def assemble(self, rows: Sequence[Any], found: dict[str, list[Any]], query: ListQuery) -> list[dict]:
        networks = {row.port_id: row.network_id for row in found.get("router.gateway_network", ())}
        addresses: dict[str, list[Any]] = defaultdict(list)
        for row in found.get("router.gateway_address", ()):
            addresses[row.port_id].append(row)
        routes: dict[str, list[dict]] = defaultdict(list)
        for row in found.get("router.routes", ()):
            routes[row.router_id].append({"destination": row.destination, "nexthop": row.nexthop})
        tags = base.tags_by_resource(found)
        zones = availability_zones.zones_by(found.get("router.zones", ()), "router_id")
        out = []
        for row in rows:
            view = base.standard_view(row)
            view.update(
                {
                    "name": row.name,
                    "admin_state_up": row.admin_state_up,
                    "status": row.status,
                    "external_gateway_info": gateway_view(row, networks, addresses.get(row.gw_port_id or "", [])),
                    "routes": routes.get(row.id, []),
                    "distributed": row.distributed,
                    "ha": row.ha,
                    "availability_zone_hints": row.availability_zone_hints or [],
                    "flavor_id": row.flavor_id,
                    "availability_zones": zones.get(row.id, []),
                    "tags": tags.get(row.id, []),
                }
            )
            out.append(view)
        return out

    # --- writes ------------------------------------------------------------------------

    async def create_bulk(self, ctx: Context, items: list[dict]) -> list[dict]:
        async def work(conn: AsyncConnection) -> list[dict]:
            return await self.render_ids(conn, ctx, [await self._create_one(conn, ctx, dict(attrs)) for attrs in items])

        # a gateway port each, at most (its MAC reserved before the transaction)
        gateways: list[dict] = [{} for item in items if item.get("external_gateway_info")]
        return await self.ports.run_creating(gateways, answered(ctx, work))

    async def _create_one(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        hints = attrs.get("availability_zone_hints") or []
        await availability_zones.check_hints(conn, "router", hints)
        if attrs.get("flavor_id"):  # l3-flavors: the flavor's provider sets the flags
            flags = await router_flavors.router_flags(conn, attrs, self.settings.backend_driver)
        else:
            flags = router_flags.initial(attrs, self.settings)
        project_id = base.resolve_project(ctx, attrs)
        router_id = await base.insert_new(
            conn,
            r,
            attrs,
            id=attrs.get("id") or base.new_id(),  # an id given: an import (quark import neutron)
            project_id=project_id,
            admin_state_up=attrs.get("admin_state_up", True),
            status="ACTIVE",
            gw_port_id=None,
            enable_snat=True,
            availability_zone_hints=hints or None,
            **flags,
            flavor_id=attrs.get("flavor_id"),
        )
        if attrs.get("tags"):
            await write_tags(conn, router_id, base.validate_tags(attrs["tags"]))
        gateway = wanted_gateway(attrs.get("external_gateway_info"))
        if gateway is not None:
            router = await self._locked(conn, router_id)
            await self.gateways.set(conn, ctx, router, gateway)
        written = (Written(router_id, 0, project_id),)
        await self.events.publish(conn, ResourcesWritten("router", "create", written, ctx))
        await self.events.publish(conn, RoutersChanged((router_id,)))  # scheduled to an L3 host
        await self.events.publish(conn, ResourcesCreated("router", {project_id: 1}))
        return router_id

    async def update(self, ctx: Context, router_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.writable_row(conn, ctx, router_id, if_match)
            flags = router_flags.changes(row, attrs)  # checked before anything is written
            if "external_gateway_info" in attrs:
                await self.gateways.set(conn, ctx, row, wanted_gateway(attrs["external_gateway_info"]))
            if "routes" in attrs:
                routes = extra_routes.parse_routes(attrs["routes"])
                extra_routes.check_routes(router_id, routes, await router_ports.interfaces(conn, router_id))
                await extra_routes.store(conn, router_id, routes)
            changes = {k: attrs[k] for k in ("name", "description", "admin_state_up") if k in attrs}
            changes.update(flags)
            await self.bump_revision(conn, router_id, **changes)
            await self.written(conn, ctx, row, "update")
            await self.events.publish(conn, RoutersChanged((router_id,)))
            return await self.render_one(conn, ctx, router_id)

        needs_port = bool(attrs.get("external_gateway_info"))
        return await self.ports.run_creating([{}] if needs_port else [], work)

    async def change_routes(self, ctx: Context, router_id: str, body: Any, *, add: bool) -> dict:
        """``add_extraroutes`` / ``remove_extraroutes``: the union with, or the
        difference from, the current routes, checked and written under the
        router's lock (concurrent calls apply one after the other)."""
        if not isinstance(body, dict) or "routes" not in body:
            raise RouterBadRequest(msg="the body must be {'router': {'routes': [...]}}")
        asked = extra_routes.parse_routes(body["routes"])

        async def work(conn: AsyncConnection) -> dict:
            await self.writable_row(conn, ctx, router_id)
            current = await extra_routes.load(conn, router_id)
            if add:
                routes = current + [route for route in asked if route not in current]
            else:
                routes = [route for route in current if route not in asked]
            if routes != current:
                extra_routes.check_routes(router_id, routes, await router_ports.interfaces(conn, router_id))
                await extra_routes.store(conn, router_id, routes)
                await self.bump_revision(conn, router_id)
                await self.written(conn, ctx, await self._locked(conn, router_id), "update")
                await self.events.publish(conn, RoutersChanged((router_id,)))
            return await self.render_one(conn, ctx, router_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, router_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.writable_row(conn, ctx, router_id, if_match)
            if await router_ports.interfaces(conn, router_id):
                raise RouterInUse(router_id=router_id, reason="still has ports")
            await self.gateways.drop(conn, row)
            await conn.execute(delete(rr).where(rr.c.router_id == router_id))
            await write_tags(conn, router_id, [])
            # its hosts (the active one, and an HA router's standbys) drop its namespace
            standbys = (await conn.execute(select(rh.c.host).where(rh.c.router_id == router_id))).scalars()
            hosts = sorted({*standbys, *((row.l3_host,) if row.l3_host else ())})
            await conn.execute(delete(r).where(r.c.id == router_id))
            await self.written(conn, ctx, row, "delete")
            await self.events.publish(conn, RoutersChanged((), hosts=tuple(hosts)))

        await self.db.run_write(work)

    async def written(self, conn: AsyncConnection, ctx: Context, row: Any, operation: str) -> None:
        """The backend's job (quark.services.backends.outbox): at the revision after an update."""
        revision = row.revision_number + (1 if operation == "update" else 0)
        written = (Written(row.id, revision, row.project_id),)
        await self.events.publish(conn, ResourcesWritten("router", operation, written, ctx))

    async def _locked(self, conn: AsyncConnection, router_id: str) -> Any:
        return (await conn.execute(select(r).where(r.c.id == router_id).with_for_update())).one()

    # --- interfaces (quark.services.l3.interfaces) ----------------------------------------

    async def add_interface(self, ctx: Context, router_id: str, body: Any) -> dict:
        return await self.interfaces.add(ctx, router_id, body)

    async def remove_interface(self, ctx: Context, router_id: str, body: Any) -> dict:
        return await self.interfaces.remove(ctx, router_id, body)


# --- subscribers ------------------------------------------------------------------------


async def on_port_deleting(conn: AsyncConnection, event: PortDeleting) -> None:
    """A gateway port going away (the router API's own removals, or its
    network's deletion by an admin) leaves its router without a gateway
    rather than pointing at a port that no longer exists."""
    if event.port.device_owner == owners.ROUTER_GATEWAY:
        await conn.execute(r.update().where(r.c.gw_port_id == event.port.id).values(gw_port_id=None))
