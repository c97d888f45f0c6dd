"""Address groups (Neutron's ``address-group``): a project's named set of
CIDRs that security-group rules name as ``remote_address_group_id``
(docs/address_groups.md).

Addresses are kept as their networks (``10.0.0.5/24`` is ``10.0.0.0/24``),
each once. ``add_addresses`` refuses addresses already there (400
``AddressesAlreadyExist``), ``remove_addresses`` addresses not there (404
``AddressesNotFound``), each naming them all, nothing changed; either change
publishes ``AddressGroupsChanged``, so the hosts whose ports' rules name the
group reload their filters. A group a rule names cannot be deleted (409
``AddressGroupInUse``). Shareable by RBAC policies (``address_group_rbac``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.context import Context
from quark.db import address_group_models, models
from quark.db.lookups import IDS, Lookup
from quark.services.common import base, rbac
from quark.services.common.base import ResourceService, standard_columns, write_tags
from quark.services.common.listing import ListQuery
from quark.services.events import AddressGroupsChanged, ResourcesCreated
from quark.services.security import address_group_rbac
from quark.services.security.address_group_errors import AddressesAlreadyExist, AddressesNotFound, AddressGroupInUse

ag = address_group_models.address_groups
aga = address_group_models.address_group_addresses
rules = models.security_group_rules

ADDRESSES = Lookup(
    "addresses",
    select(aga.c.address_group_id, aga.c.address).where(aga.c.address_group_id.in_(IDS)),
    order=("address",),
)


def normalise(addresses: Iterable[str]) -> set[str]:
    """Each CIDR as its network (``network/prefixlen``), as Neutron stores it."""
    return {str(ipaddress.ip_network(a, strict=False)) for a in addresses}


def _ordered(addresses: Iterable[str]) -> list[str]:
    """IPv4 first, then by address and prefix length."""
    nets = sorted((ipaddress.ip_network(a) for a in addresses), key=lambda n: (n.version, n))
    return [str(n) for n in nets]


class AddressGroupService(ResourceService):
    table = ag
    not_found = errors.AddressGroupNotFound
    not_found_key = "address_group_id"
    columns = standard_columns(ag)
    related = (("tags", base.TAGS), ("addresses", ADDRESSES))

    def visible(self, ctx: Context):
        return None if ctx.is_admin else address_group_rbac.visible(ctx.project_id)

    def visible_row(self, ctx: Context, resource_id: str):
        stmt = select(ag).where(ag.c.id == resource_id)
        return stmt if ctx.is_admin else stmt.where(address_group_rbac.visible_one(ctx.project_id))

    def matching(self, ctx: Context, query: ListQuery):
        """``shared``: shared with the caller's project by a policy (docs/rbac.md)."""
        values = query.filters.get("shared")
        if values is None:
            return super().matching(ctx, query)
        rest = dataclasses.replace(query, filters={k: v for k, v in query.filters.items() if k != "shared"})
        shared = address_group_rbac.shared_to(ctx.project_id)
        return super().matching(ctx, rest).where(rbac.flag_filter(shared, values))

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> base.Views:
        views = await super().render(conn, ctx, rows, query)
        if query.wants("shared"):
            shared = await rbac.granted_ids(conn, [v["id"] for v in views], ctx.project_id, rbac.SHARED)
            for view in views:
                view["shared"] = view["id"] in shared
        return views

    def assemble(self, rows: Sequence[Any], found: base.Found, query: ListQuery) -> base.Views:
        tags = base.tags_by_resource(found)
        addresses: dict[str, list[str]] = defaultdict(list)
        for row in found.get("addresses", ()):
            addresses[row.address_group_id].append(row.address)
        out = []
        for row in rows:
            view = base.standard_view(row)
            view.update(
                {"name": row.name, "addresses": _ordered(addresses.get(row.id, ())), "tags": tags.get(row.id, [])}
            )
            out.append(view)
        return out

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        project_id = base.resolve_project(ctx, attrs)
        group_id = await base.insert_new(conn, ag, attrs, project_id=project_id)
        if attrs.get("tags"):
            await write_tags(conn, group_id, base.validate_tags(attrs["tags"]))
        await self._insert(conn, group_id, normalise(attrs.get("addresses") or ()))
        await self.events.publish(conn, ResourcesCreated("address_group", {project_id: 1}))
        return group_id

    async def update(self, ctx: Context, group_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            await self.writable_row(conn, ctx, group_id, if_match)
            await self.bump_revision(conn, group_id, **{k: attrs[k] for k in ("name", "description") if k in attrs})
            return await self.render_one(conn, ctx, group_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, group_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            await self.writable_row(conn, ctx, group_id, if_match)
            if await conn.scalar(select(rules.c.id).where(rules.c.remote_address_group_id == group_id).limit(1)):
                raise AddressGroupInUse(address_group_id=group_id)
            await write_tags(conn, group_id, [])
            await rbac.remove_object(conn, group_id)
            await conn.execute(delete(aga).where(aga.c.address_group_id == group_id))
            await conn.execute(delete(ag).where(ag.c.id == group_id))

        await self.db.run_write(work)

    async def add_addresses(self, ctx: Context, group_id: str, addresses: list[str]) -> dict:
        async def change(conn: AsyncConnection, wanted: set[str], have: set[str]) -> None:
            if present := wanted & have:
                raise AddressesAlreadyExist(addresses=_ordered(present), address_group_id=group_id)
            await self._insert(conn, group_id, wanted)

        return await self._change_addresses(ctx, group_id, addresses, change)

    async def remove_addresses(self, ctx: Context, group_id: str, addresses: list[str]) -> dict:
        async def change(conn: AsyncConnection, wanted: set[str], have: set[str]) -> None:
            if missing := wanted - have:
                raise AddressesNotFound(addresses=_ordered(missing), address_group_id=group_id)
            if wanted:
                await conn.execute(delete(aga).where(aga.c.address_group_id == group_id, aga.c.address.in_(wanted)))

        return await self._change_addresses(ctx, group_id, addresses, change)

    async def _change_addresses(self, ctx: Context, group_id: str, addresses: list[str], change: Any) -> dict:
        """One add or remove: the group locked, its addresses compared, changed,
        a new revision, the hosts told; answered as ``{"address_group": view}``."""

        async def work(conn: AsyncConnection) -> dict:
            await self.writable_row(conn, ctx, group_id)
            have = set((await conn.execute(select(aga.c.address).where(aga.c.address_group_id == group_id))).scalars())
            await change(conn, normalise(addresses), have)
            await self.bump_revision(conn, group_id)
            await self.events.publish(conn, AddressGroupsChanged((group_id,)))
            return {"address_group": await self.render_one(conn, ctx, group_id)}

        return await self.db.run_write(work)

    async def _insert(self, conn: AsyncConnection, group_id: str, addresses: set[str]) -> None:
        if addresses:
            await conn.execute(insert(aga), [{"address_group_id": group_id, "address": a} for a in sorted(addresses)])
