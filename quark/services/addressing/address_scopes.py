"""Address scopes (Neutron's ``address-scope``): a namespace of addresses that
subnet pools join. Within one scope no two pools overlap (checked by the
subnet pool service, quark.services.addressing.subnet_pools); a network shows
the scope of its subnets' pools as ``ipv4_address_scope`` / ``ipv6_address_scope``.

Quark gives scopes Neutron's standard attributes (description, tags,
timestamps, revision number) as it does every resource.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.context import Context
from quark.db import pool_models
from quark.ipam.pool_errors import AddressScopeInUse, AddressScopeNotFound, AddressScopeUpdateError
from quark.services.common import base, pool_rbac, rbac
from quark.services.common.base import ResourceService, standard_columns, write_tags
from quark.services.common.listing import ListQuery
from quark.services.common.pool_rbac import SCOPE

a = pool_models.address_scopes
sp = pool_models.subnetpools


class AddressScopeService(ResourceService):
    table = a
    not_found = AddressScopeNotFound
    not_found_key = "address_scope_id"
    columns = {
        **standard_columns(a),
        "shared": a.c.shared,
        "ip_version": a.c.ip_version,
    }
    related = (("tags", base.TAGS),)

    def visible(self, ctx: Context):
        return None if ctx.is_admin else pool_rbac.visible(SCOPE, ctx.project_id)

    def visible_row(self, ctx: Context, resource_id: str):
        stmt = select(a).where(a.c.id == resource_id)
        return stmt if ctx.is_admin else stmt.where(pool_rbac.visible_one(SCOPE, ctx.project_id))

    def matching(self, ctx: Context, query: ListQuery):
        """``shared``: shared with the caller's project by a policy (docs/rbac.md)."""
        values = query.filters.get("shared")
        if values is None:
            return super().matching(ctx, query)
        rest = dataclasses.replace(query, filters={k: v for k, v in query.filters.items() if k != "shared"})
        return super().matching(ctx, rest).where(rbac.flag_filter(pool_rbac.shared_to(SCOPE, ctx.project_id), values))

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> base.Views:
        views = await super().render(conn, ctx, rows, query)
        if query.wants("shared"):
            await pool_rbac.show_shared(conn, SCOPE, views, ctx)
        return views

    def assemble(self, rows: Sequence[Any], found: base.Found, query: ListQuery) -> base.Views:
        tags = base.tags_by_resource(found)
        out = []
        for row in rows:
            view = base.standard_view(row)
            view.update(
                {"name": row.name, "shared": row.shared, "ip_version": row.ip_version, "tags": tags.get(row.id, [])}
            )
            out.append(view)
        return out

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        project_id = base.resolve_project(ctx, attrs)
        scope_id = await base.insert_new(
            conn, a, attrs, project_id=project_id, shared=attrs.get("shared", False), ip_version=attrs["ip_version"]
        )
        if attrs.get("tags"):
            await write_tags(conn, scope_id, base.validate_tags(attrs["tags"]))
        if attrs.get("shared"):
            await pool_rbac.share(conn, SCOPE, scope_id, project_id)
        return scope_id

    async def update(self, ctx: Context, scope_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.writable_row(conn, ctx, scope_id, if_match)
            if row.shared and attrs.get("shared", True) is False:
                raise AddressScopeUpdateError(
                    address_scope_id=scope_id, reason="Shared address scope can't be unshared"
                )
            if attrs.get("shared") and not row.shared:
                await pool_rbac.share(conn, SCOPE, scope_id, row.project_id)
            changes = {k: attrs[k] for k in ("name", "description", "shared") if k in attrs}
            await self.bump_revision(conn, scope_id, **changes)
            return await self.render_one(conn, ctx, scope_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, scope_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            await self.writable_row(conn, ctx, scope_id, if_match)
            if await conn.scalar(select(sp.c.id).where(sp.c.address_scope_id == scope_id).limit(1)):
                raise AddressScopeInUse(address_scope_id=scope_id)
            await write_tags(conn, scope_id, [])
            await rbac.remove_object(conn, scope_id)
            await conn.execute(delete(a).where(a.c.id == scope_id))

        await self.db.run_write(work)

    async def usable(self, conn: AsyncConnection, ctx: Context, scope_id: str) -> Any:
        """The scope a pool of the caller may join, locked: its own, or shared (admins: any).
        A scope the caller cannot see is not found."""
        row = await self.get_row(conn, ctx, scope_id, for_update=True)
        return row
