"""Subnet pools (Neutron's ``subnet_allocation``, ``subnetpool-prefix-ops``,
``default-subnetpools``): the pools' rows, prefixes and scopes.

A pool's prefixes are stored merged (as Neutron's ``IPSet.compact``) and its
free space as aligned blocks (quark.ipam.prefix_allocator); subnets take
their prefixes through ``PrefixAllocator`` (quark.services.core.subnets),
and this service keeps the free space in step when prefixes are added or
removed. Every change of a pool locks its row first; joining an address
scope locks the scope's row, so two pools never enter one scope with
overlapping prefixes, whatever the concurrency. docs/subnet_pools.md.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.context import Context
from quark.db import models, pool_models
from quark.db.lookups import IDS, Lookup
from quark.ipam import prefixes as px
from quark.ipam.addressing import IPNetwork
from quark.ipam.pool_errors import (
    AddressScopePrefixConflict,
    IllegalSubnetPoolAssociationToAddressScope,
    IllegalSubnetPoolIpVersionAssociationToAddressScope,
    IllegalSubnetPoolPrefixUpdate,
    IllegalSubnetPoolUpdate,
    PrefixVersionMismatch,
    SubnetPoolDeleteError,
    SubnetPoolNotFound,
)
from quark.ipam.prefix_allocator import SqlBlocks, pool_prefixes
from quark.services.addressing.address_scopes import AddressScopeService
from quark.services.addressing.pool_rules import BOUNDS, read_bounds
from quark.services.common import base, pool_rbac, rbac
from quark.services.common.base import ResourceService, standard_columns, write_tags
from quark.services.common.listing import ListQuery
from quark.services.events import Events, ResourcesCreated

sp = pool_models.subnetpools
pp = pool_models.subnetpool_prefixes
fb = pool_models.subnetpool_free_blocks
s = models.subnets

PREFIXES = Lookup("subnetpool.prefixes", select(pp.c.subnetpool_id, pp.c.cidr).where(pp.c.subnetpool_id.in_(IDS)))


def _sorted(nets: Sequence[IPNetwork]) -> list[str]:
    return [str(n) for n in px.merge(nets)]


class SubnetPoolService(ResourceService):
    table = sp
    not_found = SubnetPoolNotFound
    not_found_key = "subnetpool_id"
    columns = {
        **standard_columns(sp),
        "ip_version": sp.c.ip_version,
        "default_prefixlen": sp.c.default_prefixlen,
        "min_prefixlen": sp.c.min_prefixlen,
        "max_prefixlen": sp.c.max_prefixlen,
        "default_quota": sp.c.default_quota,
        "shared": sp.c.shared,
        "is_default": sp.c.is_default,
        "address_scope_id": sp.c.address_scope_id,
    }
    related = (("prefixes", PREFIXES), ("tags", base.TAGS))

    def __init__(self, db, settings, scopes: AddressScopeService, events: Events | None = None) -> None:
        super().__init__(db, settings, events)
        self.scopes = scopes

    def visible(self, ctx: Context):
        return None if ctx.is_admin else pool_rbac.visible(pool_rbac.POOL, ctx.project_id)

    def visible_row(self, ctx: Context, resource_id: str):
        stmt = select(sp).where(sp.c.id == resource_id)
        return stmt if ctx.is_admin else stmt.where(pool_rbac.visible_one(pool_rbac.POOL, ctx.project_id))

    def matching(self, ctx: Context, query: ListQuery):
        """``shared``: shared with the caller's project by a policy (docs/rbac.md)."""
        values = query.filters.get("shared")
        if values is None:
            return super().matching(ctx, query)
        rest = dataclasses.replace(query, filters={k: v for k, v in query.filters.items() if k != "shared"})
        shared = pool_rbac.shared_to(pool_rbac.POOL, ctx.project_id)
        return super().matching(ctx, rest).where(rbac.flag_filter(shared, values))

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> base.Views:
        views = await super().render(conn, ctx, rows, query)
        if query.wants("shared"):
            await pool_rbac.show_shared(conn, pool_rbac.POOL, views, ctx)
        return views

    def assemble(self, rows: Sequence[Any], found: base.Found, query: ListQuery) -> base.Views:
        tags = base.tags_by_resource(found)
        prefixes: dict[str, list[IPNetwork]] = defaultdict(list)
        for row in found.get("subnetpool.prefixes", ()):
            prefixes[row.subnetpool_id].append(px.parse_prefix(row.cidr))
        out = []
        for row in rows:
            view = base.standard_view(row)
            view.update(
                {
                    "name": row.name,
                    "prefixes": _sorted(prefixes.get(row.id, [])),
                    "ip_version": row.ip_version,
                    # strings, as Neutron's views (``_make_subnetpool_dict``) and Tempest want them
                    "default_prefixlen": str(row.default_prefixlen),
                    "min_prefixlen": str(row.min_prefixlen),
                    "max_prefixlen": str(row.max_prefixlen),
                    "default_quota": row.default_quota,
                    "shared": row.shared,
                    "is_default": row.is_default,
                    "address_scope_id": row.address_scope_id,
                    "tags": tags.get(row.id, []),
                }
            )
            out.append(view)
        return out

    # --- create ----------------------------------------------------------------------

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        project_id = base.resolve_project(ctx, attrs)
        version, nets = px.read_prefixes(attrs["prefixes"])
        bounds = read_bounds(version, attrs)
        pool_id = base.new_id()
        if attrs.get("is_default"):
            await self._check_no_default(conn, version)
        scope_id = attrs.get("address_scope_id")
        if scope_id:
            await self._check_scope(conn, ctx, pool_id, scope_id, version, nets)
        await base.insert_new(
            conn,
            sp,
            attrs,
            id=pool_id,
            project_id=project_id,
            ip_version=version,
            default_prefixlen=bounds.default_prefixlen,
            min_prefixlen=bounds.min_prefixlen,
            max_prefixlen=bounds.max_prefixlen,
            default_quota=attrs.get("default_quota"),
            shared=attrs.get("shared", False),
            is_default=attrs.get("is_default", False),
            address_scope_id=scope_id or None,
        )
        await self._write_prefixes(conn, pool_id, nets)
        await px.add_space(SqlBlocks(conn, pool_id, version), nets)
        if attrs.get("shared"):
            await pool_rbac.share(conn, pool_rbac.POOL, pool_id, project_id)
        if attrs.get("tags"):
            await write_tags(conn, pool_id, base.validate_tags(attrs["tags"]))
        await self.events.publish(conn, ResourcesCreated("subnetpool", {project_id: 1}))
        return pool_id

    async def _check_no_default(self, conn: AsyncConnection, version: int) -> None:
        found = await conn.scalar(select(sp.c.id).where(sp.c.is_default == true(), sp.c.ip_version == version).limit(1))
        if found is not None:
            raise errors.InvalidInput(
                error_message="A default subnetpool for this IP family has already been set. "
                "Only one default may exist per IP family"
            )

    async def _check_scope(
        self, conn: AsyncConnection, ctx: Context, pool_id: str, scope_id: str, version: int, nets: list[IPNetwork]
    ) -> None:
        """Neutron's ``_validate_address_scope_id``: the scope is the caller's or shared,
        of the pool's IP version, and no other pool of it overlaps the pool's prefixes
        (the scope's row stays locked: pools join it one at a time)."""
        scope = await self.scopes.get_row(conn, ctx, scope_id, for_update=True)
        mine = ctx.is_admin or scope.shared or scope.project_id == ctx.project_id
        if not (mine or await pool_rbac.shared_with(conn, pool_rbac.SCOPE, scope_id, ctx.project_id)):
            raise IllegalSubnetPoolAssociationToAddressScope(subnetpool_id=pool_id, address_scope_id=scope_id)
        if scope.ip_version != version:
            raise IllegalSubnetPoolIpVersionAssociationToAddressScope(
                subnetpool_id=pool_id, address_scope_id=scope_id, ip_version=scope.ip_version
            )
        others = await conn.scalars(
            select(pp.c.cidr)
            .select_from(pp.join(sp, sp.c.id == pp.c.subnetpool_id))
            .where(sp.c.address_scope_id == scope_id, sp.c.id != pool_id)
        )
        if px.overlap(nets, [px.parse_prefix(c) for c in others]):
            raise AddressScopePrefixConflict()

    async def _write_prefixes(self, conn: AsyncConnection, pool_id: str, nets: list[IPNetwork]) -> None:
        await conn.execute(delete(pp).where(pp.c.subnetpool_id == pool_id))
        await conn.execute(insert(pp), [{"subnetpool_id": pool_id, "cidr": str(n)} for n in nets])

    # --- update ----------------------------------------------------------------------

    async def update(self, ctx: Context, pool_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.writable_row(conn, ctx, pool_id, if_match)
            await self._change(conn, ctx, row, attrs, await pool_prefixes(conn, pool_id))
            return await self.render_one(conn, ctx, pool_id)

        return await self.db.run_write(work)

    async def _change(
        self, conn: AsyncConnection, ctx: Context, row: Any, attrs: dict, current: list[IPNetwork]
    ) -> list[IPNetwork]:
        """Neutron's ``update_subnetpool`` on a locked row: the new prefixes must keep
        every old one, the bounds stay consistent, one default per IP version, and the
        (new) scope is re-checked for overlaps. Returns the pool's prefixes."""
        nets = _new_prefixes(row, attrs, current)
        bounds = read_bounds(row.ip_version, attrs, row)
        if attrs.get("is_default") and not row.is_default:
            await self._check_no_default(conn, row.ip_version)
        await self._check_scope_change(conn, ctx, row, attrs, nets)
        added = px.subtract(nets, current)
        if added:
            await self._write_prefixes(conn, row.id, nets)
            await px.add_space(SqlBlocks(conn, row.id, row.ip_version), added)
        changes = {k: attrs[k] for k in ("name", "description", "default_quota", "is_default") if k in attrs}
        changes.update({k: getattr(bounds, k) for k in BOUNDS})
        if "address_scope_id" in attrs:
            changes["address_scope_id"] = attrs["address_scope_id"] or None
        await self.bump_revision(conn, row.id, **changes)
        return nets

    async def _check_scope_change(
        self, conn: AsyncConnection, ctx: Context, row: Any, attrs: dict, nets: list[IPNetwork]
    ) -> None:
        """A pool of another project's (shared) scope is not the caller's to change; the
        scope it stays in or joins is checked again with its (new) prefixes."""
        if row.address_scope_id and not ctx.is_admin:
            scope = await self.scopes.get_row(conn, ctx, row.address_scope_id)
            if scope.project_id != ctx.project_id:
                raise IllegalSubnetPoolUpdate(
                    reason=f"subnetpool {row.id} cannot be updated when associated with shared "
                    f"address scope {row.address_scope_id}"
                )
        scope_id = attrs["address_scope_id"] if "address_scope_id" in attrs else row.address_scope_id
        if scope_id:
            await self._check_scope(conn, ctx, row.id, scope_id, row.ip_version, nets)

    # --- add_prefixes / remove_prefixes -------------------------------------------------------

    async def add_prefixes(self, ctx: Context, pool_id: str, prefixes: list[str]) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.writable_row(conn, ctx, pool_id)
            current = await pool_prefixes(conn, pool_id)
            if not prefixes:
                return {"prefixes": _sorted(current)}
            nets = await self._change(conn, ctx, row, {"prefixes": [*map(str, current), *prefixes]}, current)
            return {"prefixes": _sorted(nets)}

        return await self.db.run_write(work)

    async def remove_prefixes(self, ctx: Context, pool_id: str, prefixes: list[str]) -> dict:
        """Neutron's ``remove_prefixes``: a prefix any subnet of the pool uses cannot go
        (the removed space must be wholly free: one look at the free blocks, not the subnets)."""
        removed = [px.parse_prefix(p) for p in prefixes]

        async def work(conn: AsyncConnection) -> dict:
            row = await self.writable_row(conn, ctx, pool_id)
            current = await pool_prefixes(conn, pool_id)
            kept = px.subtract(current, removed)
            gone = px.subtract(current, kept)
            if not gone:
                return {"prefixes": _sorted(current)}
            store = SqlBlocks(conn, pool_id, row.ip_version)
            for net in gone:
                if not await _all_free(store, net):
                    raise IllegalSubnetPoolPrefixUpdate(
                        msg="One or more the prefixes to be removed is in use by a subnet."
                    )
            await px.remove_space(store, gone)
            await self._write_prefixes(conn, pool_id, kept)
            await self.bump_revision(conn, pool_id)
            return {"prefixes": _sorted(kept)}

        return await self.db.run_write(work)

    # --- delete ----------------------------------------------------------------------

    async def delete(self, ctx: Context, pool_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            await self.writable_row(conn, ctx, pool_id, if_match)
            if await conn.scalar(select(s.c.id).where(s.c.subnetpool_id == pool_id).limit(1)):
                raise SubnetPoolDeleteError(reason="Subnet pool has existing allocations")
            await conn.execute(delete(fb).where(fb.c.subnetpool_id == pool_id))
            await conn.execute(delete(pp).where(pp.c.subnetpool_id == pool_id))
            await write_tags(conn, pool_id, [])
            await rbac.remove_object(conn, pool_id)
            await conn.execute(delete(sp).where(sp.c.id == pool_id))

        await self.db.run_write(work)


def _new_prefixes(row: Any, attrs: dict, current: list[IPNetwork]) -> list[IPNetwork]:
    """The prefixes an update asks for, merged: every current one kept, one IP version."""
    if attrs.get("prefixes") is None:
        return current
    version, nets = px.read_prefixes(attrs["prefixes"])
    if version != row.ip_version:
        raise PrefixVersionMismatch()
    if px.subtract(current, nets):
        raise IllegalSubnetPoolPrefixUpdate(msg="Existing prefixes must be a subset of the new prefixes")
    return nets


async def _all_free(store: SqlBlocks, net: IPNetwork) -> bool:
    cut = px.block_of(net)
    around = await store.containing(cut.start)
    if around is not None and px.contains(around, cut, net.version):
        return True
    inside = await store.between(cut.start, px.last(cut, net.version))
    return sum(px.size(b.prefixlen, net.version) for b in inside) == px.size(cut.prefixlen, net.version)
