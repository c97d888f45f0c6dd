"""Networks: provider attributes, sharing, MTU, and delete-with-cleanup.

Publishes ``NetworkUpdated`` and ``NetworkDeleting`` (quark.services.events):
what hangs on a network (its DHCP ports, IP policy targets, host state)
follows through their subscribers.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, exists, false, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, extension_errors, owners
from quark.clock import utcnow
from quark.context import Context
from quark.db import models, pool_models
from quark.db.lookups import IDS, Lookup
from quark.drivers import loading
from quark.ipam.segments import RANGE_TYPES, SegmentAllocator
from quark.services.common import availability_zones, base, rbac
from quark.services.common.base import ResourceService, check_revision, standard_columns, write_tags
from quark.services.common.idempotency import answered
from quark.services.common.listing import ListQuery
from quark.services.core import network_rbac, network_services, segment_rules
from quark.services.core.mtu import check_subnet_fits, network_mtu
from quark.services.core.network_services import KINDS
from quark.services.core.segment_rules import segment_key, validate_provider
from quark.services.core.subnets import SubnetService
from quark.services.events import (
    Events,
    NetworkClearing,
    NetworkDeleting,
    NetworkUpdated,
    ResourcesCreated,
    ResourcesWritten,
    Written,
)

n = models.networks

# The subnet ids of the networks shown, oldest first (as Neutron lists them).
NETWORK_SUBNETS = Lookup(
    "network.subnets",
    select(models.subnets.c.network_id, models.subnets.c.id, models.subnets.c.created_at).where(
        models.subnets.c.network_id.in_(IDS)
    ),
    order=("created_at", "id"),
)

_pools = pool_models.subnetpools
# The address scopes of the networks shown: those of their subnets' pools (Neutron's
# ``ipv4_address_scope`` / ``ipv6_address_scope``).
NETWORK_SCOPES = Lookup(
    "network.scopes",
    select(models.subnets.c.network_id, _pools.c.ip_version, _pools.c.address_scope_id)
    .select_from(models.subnets.join(_pools, _pools.c.id == models.subnets.c.subnetpool_id))
    .where(models.subnets.c.network_id.in_(IDS), _pools.c.address_scope_id.is_not(None)),
)


async def _check_one_default(conn: AsyncConnection, network_id: str | None) -> None:
    """One default external network at a time (Neutron's 409)."""
    stmt = select(n.c.id).where(n.c.is_default.is_(True), n.c.router_external.is_(True))
    if network_id is not None:
        stmt = stmt.where(n.c.id != network_id)
    other = await conn.scalar(stmt.limit(1))
    if other is not None:
        raise extension_errors.DefaultExternalNetworkExists(net_id=other)


async def _default_change(conn: AsyncConnection, row: Any, attrs: dict, changes: dict) -> None:
    """``is_default`` counts on external networks only (Neutron keeps it with the
    external flag): ignored on others, dropped when the network stops being external."""
    external = attrs.get("router:external", row.router_external)
    if not external:
        if row.is_default:
            changes["is_default"] = None
        return
    if "is_default" in attrs and bool(attrs["is_default"]) != bool(row.is_default):
        if attrs["is_default"]:
            await _check_one_default(conn, row.id)
        changes["is_default"] = attrs["is_default"] or None


class NetworkService(ResourceService):
    table = n
    not_found = errors.NetworkNotFound
    not_found_key = "net_id"
    columns = {
        **standard_columns(n),
        "admin_state_up": n.c.admin_state_up,
        "status": n.c.status,
        "shared": n.c.shared,
        "router:external": n.c.router_external,
        "mtu": n.c.mtu,
        "provider:network_type": n.c.network_type,
        "provider:physical_network": n.c.physical_network,
        "provider:segmentation_id": n.c.segmentation_id,
        "ipam_strategy": n.c.ipam_strategy,
        "network_plugin": n.c.network_plugin,
    }
    related = (
        ("subnets", NETWORK_SUBNETS),
        ("ipv4_address_scope", NETWORK_SCOPES),
        ("ipv6_address_scope", NETWORK_SCOPES),
        ("availability_zones", availability_zones.NETWORK_ZONES),
        ("segments", segment_rules.NETWORK_SEGMENTS),
        ("tags", base.TAGS),
    )

    def __init__(self, db, settings, events: Events, segments: SegmentAllocator, subnets: SubnetService) -> None:
        super().__init__(db, settings, events)
        self.segments = segments
        self.subnets = subnets  # nested create: a network with its subnets in one request

    def visible(self, ctx: Context):
        if ctx.is_admin:
            return None
        return network_rbac.visible(ctx.project_id)

    def visible_row(self, ctx: Context, resource_id: str):
        """One network: the policies of that id alone (an EXISTS), not the caller's whole set."""
        stmt = select(n).where(n.c.id == resource_id)
        return stmt if ctx.is_admin else stmt.where(network_rbac.visible_one(ctx.project_id))

    def matching(self, ctx: Context, query: ListQuery):
        """``shared`` filters on what the caller is shown: shared with it (docs/rbac.md)."""
        values = query.filters.get("shared")
        if values is None:
            return super().matching(ctx, query)
        rest = dataclasses.replace(query, filters={k: v for k, v in query.filters.items() if k != "shared"})
        return super().matching(ctx, rest).where(rbac.flag_filter(network_rbac.shared_to(ctx.project_id), values))

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> list[dict]:
        views = await super().render(conn, ctx, rows, query)
        if query.wants("shared"):
            # Targeted policies for the caller's project make it shared to the caller.
            targeted = await rbac.granted_ids(conn, [r.id for r in rows if not r.shared], ctx.project_id, rbac.SHARED)
            for view in views:
                view["shared"] = view["shared"] or view["id"] in targeted
        return views

    async def facts(self, ids: Iterable[str], names: Sequence[str], ctx: Context | None = None) -> dict[str, dict]:
        found = await super().facts(ids, names)
        if ctx is not None and "shared" in names:
            async with self.db.read() as conn:
                pending = [i for i, f in found.items() if not f["shared"]]
                targeted = await rbac.granted_ids(conn, pending, ctx.project_id, rbac.SHARED)
            for network_id in targeted:
                found[network_id]["shared"] = True
        return found

    def assemble(self, rows: Sequence[Any], found: dict[str, list[Any]], query: ListQuery) -> list[dict]:
        subnet_ids: dict[str, list[str]] = defaultdict(list)
        for sub in found.get("network.subnets", ()):
            subnet_ids[sub.network_id].append(sub.id)
        scopes: dict[tuple[str, int], str] = {}
        for sub in found.get("network.scopes", ()):
            scopes[(sub.network_id, sub.ip_version)] = sub.address_scope_id
        tags = base.tags_by_resource(found)
        views = [self._view(r, subnet_ids.get(r.id, []), tags.get(r.id, [])) for r in rows]
        zones = availability_zones.zones_by(found.get("network.zones", ()), "network_id")
        segments = segment_rules.segments_by_network(found.get("network.segments", ()))
        for view in views:
            if view["id"] in segments:  # multi-provider: a network of several segments
                view["segments"] = segments[view["id"]]
            view["availability_zones"] = zones.get(view["id"], [])
            view["ipv4_address_scope"] = scopes.get((view["id"], 4))
            view["ipv6_address_scope"] = scopes.get((view["id"], 6))
        return views

    def _view(self, row: Any, subnet_ids: list[str], tags: list[str]) -> dict:
        view = base.standard_view(row)
        view.update(
            {
                "name": row.name,
                "admin_state_up": row.admin_state_up,
                "status": row.status,
                "subnets": subnet_ids,
                "shared": row.shared,
                "router:external": row.router_external,
                "mtu": row.mtu,
                "port_security_enabled": row.port_security_enabled,
                "provider:network_type": row.network_type,
                "provider:physical_network": row.physical_network,
                "provider:segmentation_id": row.segmentation_id,
                "availability_zone_hints": row.availability_zone_hints or [],
                "availability_zones": [],
                "dns_domain": row.dns_domain,
                "ipv4_address_scope": None,
                "ipv6_address_scope": None,
                "l2_adjacency": True,
                "is_default": bool(row.is_default and row.router_external),
                "qos_policy_id": None,
                "ipam_strategy": row.ipam_strategy,
                "network_plugin": row.network_plugin or self.settings.backend_driver,
                "tags": tags,
            }
        )
        return view

    # --- create ----------------------------------------------------------------

    async def create_bulk(self, ctx: Context, items: list[dict]) -> list[dict]:
        async def work(conn: AsyncConnection) -> list[dict]:
            ids = []
            for attrs in items:
                attrs = dict(attrs)
                nested = attrs.pop("subnets", None) or []
                network_id = await self.create_in(conn, ctx, attrs)
                if nested:  # Quark nested create: same transaction, same checks as POST /subnets
                    network = (await conn.execute(select(n).where(n.c.id == network_id))).one()
                    for subnet in nested:
                        owner = {} if {"project_id", "tenant_id"} & set(subnet) else {"project_id": network.project_id}
                        await self.subnets.create_in(conn, ctx, {**owner, **subnet, "network_id": network_id}, network)
                ids.append(network_id)
            return await self.render_ids(conn, ctx, ids)

        return await self.db.run_write(answered(ctx, work))

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        """Insert one network inside the caller's transaction; returns its id."""
        project_id = base.resolve_project(ctx, attrs)
        extra_segments = segment_rules.split_multi_provider(attrs)
        network_type, physnet, seg_id, plugin, service = await self._kind(conn, project_id, attrs)
        mtu = network_mtu(attrs.get("mtu"), network_type, self.settings.global_physnet_mtu)
        await availability_zones.check_hints(conn, "network", attrs.get("availability_zone_hints"))
        is_default = bool(attrs.get("is_default") and attrs.get("router:external"))
        if is_default:
            await _check_one_default(conn, None)
        now = utcnow()
        network_id = attrs.get("id") or base.new_id()  # an id given: an external IPAM registration
        if network_type in RANGE_TYPES:
            # From the segment allocation ranges (docs/segments.md); an explicit
            # id outside every range is held too, so no range hands it out later.
            if seg_id is None:
                range_physnet, seg_id = await self.segments.allocate(
                    conn, network_type, physnet, network_id, project_id
                )
                physnet = range_physnet or None
            else:
                await self.segments.allocate_specific(conn, network_type, physnet, seg_id, network_id)
        key = segment_key(network_type, physnet, seg_id)
        values = dict(
            id=network_id,
            project_id=project_id,
            name=attrs.get("name", ""),
            description=attrs.get("description", ""),
            admin_state_up=attrs.get("admin_state_up", True),
            status="ACTIVE",
            shared=attrs.get("shared", False),
            router_external=attrs.get("router:external", False),
            mtu=mtu,
            port_security_enabled=attrs.get("port_security_enabled", True),
            network_type=network_type,
            physical_network=physnet,
            segmentation_id=seg_id,
            segment_key=key,
            dns_domain=attrs.get("dns_domain", ""),
            availability_zone_hints=attrs.get("availability_zone_hints", []),
            is_default=is_default or None,
            ipam_strategy=attrs.get("ipam_strategy") or self.settings.default_ipam_strategy,
            network_plugin=plugin,
            network_service_id=None if service is None else service.id,
            created_at=now,
            updated_at=now,
            revision_number=0,
        )
        try:
            await conn.execute(insert(n).values(**values))
            await segment_rules.add_primary(conn, values)  # its segment key is unique there too
        except IntegrityError:
            raise errors.SegmentationIdInUse(network_type=network_type, segment=key) from None
        holder = SimpleNamespace(id=network_id, project_id=project_id)
        for index, segment in enumerate(extra_segments, start=1):  # multi-provider
            await segment_rules.add_segment(conn, self.segments, holder, index, segment)
        for flag, action in (("shared", rbac.SHARED), ("router:external", rbac.EXTERNAL)):
            if attrs.get(flag):  # Neutron: the wildcard policy of the flag
                await rbac.add_wildcard(conn, network_rbac.TYPE, network_id, project_id, action)
        await self.events.publish(
            conn, ResourcesWritten("network", "create", (Written(network_id, 0, project_id, driver=plugin),), ctx)
        )
        await self.events.publish(conn, ResourcesCreated("network", {project_id: 1}))
        return network_id

    async def _kind(self, conn: AsyncConnection, project_id: str, attrs: dict) -> tuple:
        """(network_type, physical_network, segmentation_id, driver, network service row
        or None): the provider attributes asked for, else the project's network service,
        else the deployment default (docs/network_services.md). A driver named or given
        by the service must declare the type (400)."""
        network_type = attrs.get("provider:network_type")
        physnet = attrs.get("provider:physical_network")
        seg_id = attrs.get("provider:segmentation_id")
        service = None
        if network_type is None:
            if physnet is not None or seg_id is not None:
                raise errors.InvalidInput(error_message="provider:network_type required")
            service = await network_services.of_project(conn, project_id)
            network_type = self.settings.tenant_network_type if service is None else KINDS[service.kind].network_type
            physnet = None if service is None else service.physical_network or None
        else:
            validate_provider(network_type, physnet, seg_id)
        plugin = self._plugin(attrs.get("network_plugin") or (service.driver if service else None))
        if service is not None or attrs.get("network_plugin"):
            network_services.check_driver(plugin, network_type)
        return network_type, physnet, seg_id, plugin, service

    def _plugin(self, requested: str | None) -> str:
        """The network's backend driver: the one asked for, or the deployment's (docs/drivers.md)."""
        name = requested or self.settings.backend_driver
        if name not in loading.names():
            raise errors.InvalidInput(error_message=f"network_plugin {name!r} is not an installed driver")
        return name

    # --- update ----------------------------------------------------------------

    async def update(self, ctx: Context, network_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.get_row(conn, ctx, network_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            changes: dict[str, Any] = {}
            for attr, column in (
                ("name", "name"),
                ("description", "description"),
                ("admin_state_up", "admin_state_up"),
                ("shared", "shared"),
                ("router:external", "router_external"),
                ("port_security_enabled", "port_security_enabled"),
                ("dns_domain", "dns_domain"),
                ("ipam_strategy", "ipam_strategy"),
            ):
                if attr in attrs and attrs[attr] != getattr(row, column):
                    changes[column] = attrs[attr]
            await _default_change(conn, row, attrs, changes)
            await self._follow_flags(conn, row, changes)
            if "mtu" in attrs:
                await self._check_mtu_change(conn, row, attrs["mtu"], changes)
            await self.bump_revision(conn, network_id, **changes)
            await self.events.publish(conn, NetworkUpdated(network_id, changes))
            driver = row.network_plugin or self.settings.backend_driver
            written = Written(network_id, row.revision_number + 1, row.project_id, driver=driver)
            await self.events.publish(conn, ResourcesWritten("network", "update", (written,), ctx))
            return await self.render_one(conn, ctx, network_id)

        return await self.db.run_write(work)

    @staticmethod
    async def _follow_flags(conn: AsyncConnection, row: Any, changes: dict) -> None:
        """``shared`` / ``router:external`` changed: their wildcard policies follow (Neutron)."""
        if changes.get("shared") is False:
            await network_rbac.unshare(conn, row)
        elif changes.get("shared"):
            await rbac.add_wildcard(conn, network_rbac.TYPE, row.id, row.project_id, rbac.SHARED)
        if changes.get("router_external") is False:
            await network_rbac.unexternal(conn, row.id)
        elif changes.get("router_external"):
            await rbac.add_wildcard(conn, network_rbac.TYPE, row.id, row.project_id, rbac.EXTERNAL)

    async def _check_mtu_change(self, conn: AsyncConnection, row: Any, requested: int, changes: dict) -> None:
        """Neutron: the new MTU must carry the network's subnets (409) and fit its segment (400); 0 is the maximum."""
        s = models.subnets
        versions = (await conn.execute(select(s.c.ip_version).where(s.c.network_id == row.id).distinct())).scalars()
        check_subnet_fits(row.id, requested, versions)
        mtu = network_mtu(requested, row.network_type, self.settings.global_physnet_mtu)
        if mtu != row.mtu:
            changes["mtu"] = mtu

    # --- delete ----------------------------------------------------------------

    async def delete(self, ctx: Context, network_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, network_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            await self.events.publish(conn, NetworkClearing(row))
            p, s, a = models.ports, models.subnets, models.ip_allocations
            in_use = await conn.scalar(
                select(exists().where(p.c.network_id == network_id, p.c.device_owner.not_in(owners.AUTO_DELETE)))
            )
            if in_use:
                raise errors.NetworkInUse(net_id=network_id)
            # Addresses held by no port (ip_addresses reserved for other devices, or
            # shared ones) keep the network in use until they are deleted.
            reserved = await conn.scalar(
                select(exists().where(a.c.network_id == network_id, a.c.deallocated == false(), a.c.port_id.is_(None)))
            )
            if reserved:
                raise errors.NetworkInUse(net_id=network_id)
            subnet_ids = tuple((await conn.execute(select(s.c.id).where(s.c.network_id == network_id))).scalars())
            # The ports left are the auto-delete ones (DHCP): they go first, with
            # everything that hangs on them and on the network.
            await self.events.publish(conn, NetworkDeleting(row, subnet_ids))
            driver = row.network_plugin or self.settings.backend_driver
            gone = [Written(i, 0, row.project_id, network_id, driver) for i in subnet_ids]
            await self.events.publish(conn, ResourcesWritten("subnet", "delete", tuple(gone)))
            written = Written(network_id, row.revision_number, row.project_id, driver=driver)
            await self.events.publish(conn, ResourcesWritten("network", "delete", (written,), ctx))
            if subnet_ids:
                await conn.execute(delete(a).where(a.c.subnet_id.in_(subnet_ids)))
                await conn.execute(delete(models.ip_usage).where(models.ip_usage.c.subnet_id.in_(subnet_ids)))
                await conn.execute(delete(models.tags).where(models.tags.c.resource_id.in_(subnet_ids)))
                pooled = (
                    await conn.execute(
                        select(s.c.subnetpool_id, s.c.cidr)
                        .where(s.c.id.in_(subnet_ids), s.c.subnetpool_id.is_not(None))
                        .order_by(s.c.subnetpool_id)  # pools locked in one order
                    )
                ).all()
                await conn.execute(delete(s).where(s.c.id.in_(subnet_ids)))
                for pool_id, cidr in pooled:  # their prefixes back to their pools
                    await self.subnets.prefixes.release(conn, pool_id, ipaddress.ip_network(cidr))
            await write_tags(conn, network_id, [])
            await rbac.remove_object(conn, network_id)
            await segment_rules.remove_network_segments(conn, self.segments, network_id)
            await conn.execute(delete(n).where(n.c.id == network_id))
            if row.network_type in RANGE_TYPES and row.segmentation_id is not None:
                await self.segments.release(conn, row.network_type, row.physical_network, row.segmentation_id)

        await self.db.run_write(work)
