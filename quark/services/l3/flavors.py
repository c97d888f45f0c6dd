"""Service flavors and service profiles (alias ``flavors``; docs/flavors.md), as
Neutron's ``FlavorsDbMixin``: admin-managed, owned by no project.

- a flavor names a service type Quark implements (``L3_ROUTER_NAT``,
  ``FLAVORS``; else 400 ``InvalidServiceType``);
- a service profile needs a driver or metainfo (400 ``ServiceProfileEmpty``);
  a driver must name a service provider (``router_flavors``; else 404
  ``ServiceProfileDriverNotFound``);
- ``POST /v2.0/flavors/{id}/service_profiles`` binds a profile to a flavor
  (409 ``FlavorServiceProfileBindingExists`` twice), ``DELETE`` unbinds it
  (404 ``FlavorServiceProfileBindingNotFound``); a bound profile is in use:
  no update or delete (409 ``ServiceProfileInUse``);
- a flavor routers were made with cannot be deleted (409 ``FlavorInUse``);
  ``GET /v2.0/flavors/{id}/next_providers`` names the provider its first
  profile resolves to (``router_flavors``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import extension_errors
from quark.context import Context
from quark.db import flavor_models
from quark.db.lookups import IDS, Lookup
from quark.services.common import base
from quark.services.common.base import ResourceService
from quark.services.common.idempotency import answered
from quark.services.common.listing import ListQuery
from quark.services.l3 import router_flavors

f = flavor_models.flavors
sp = flavor_models.service_profiles
b = flavor_models.flavor_service_profile_bindings

# The service plugins Quark implements (Neutron's ``type:service_plugin_type``).
SERVICE_TYPES = ("FLAVORS", "L3_ROUTER_NAT")

PROFILES_OF = Lookup(
    "flavor.profiles",
    select(b.c.flavor_id, b.c.service_profile_id).where(b.c.flavor_id.in_(IDS)),
    order=("service_profile_id",),
)
FLAVORS_OF = Lookup(
    "profile.flavors",
    select(b.c.service_profile_id, b.c.flavor_id).where(b.c.service_profile_id.in_(IDS)),
    order=("flavor_id",),
)


def _grouped(rows: Sequence[Any], key: str, value: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        out[getattr(row, key)].append(getattr(row, value))
    return out


class _AdminOwned(ResourceService):
    """Rows of no project: every caller the policy lets through sees them all."""

    # the columns a view shows as they are (also the filter and sort keys)
    fields: ClassVar[tuple[str, ...]]

    def view_of(self, row: Any) -> dict[str, Any]:
        return {name: getattr(row, name) for name in self.fields}

    def visible(self, ctx: Context):
        return None

    async def _write(self, ctx: Context, row_id: str, attrs: dict, names: tuple[str, ...]) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            await self.get_row(conn, ctx, row_id, for_update=True)
            await self.check_update(conn, row_id, attrs)
            changes = {k: attrs[k] for k in names if k in attrs}
            if changes:
                await conn.execute(update(self.table).where(self.table.c.id == row_id).values(**changes))
            return await self.render_one(conn, ctx, row_id)

        return await self.db.run_write(work)

    async def check_update(self, conn: AsyncConnection, row_id: str, attrs: dict) -> None:
        return None


class FlavorService(_AdminOwned):
    table = f
    not_found = extension_errors.FlavorNotFound
    not_found_key = "flavor_id"
    fields = ("id", "name", "description", "service_type", "enabled")
    columns = {name: f.c[name] for name in fields}
    related = (("service_profiles", PROFILES_OF),)

    def assemble(self, rows: Sequence[Any], found: dict[str, list[Any]], query: ListQuery) -> list[dict]:
        profiles = _grouped(found.get("flavor.profiles", ()), "flavor_id", "service_profile_id")
        return [{**self.view_of(row), "service_profiles": profiles.get(row.id, [])} for row in rows]

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        # Neutron ignores ``service_profiles`` here: profiles are bound through the sub-resource.
        if attrs["service_type"] not in SERVICE_TYPES:
            raise extension_errors.InvalidServiceType(service_type=attrs["service_type"])
        return await base.insert_new(
            conn, f, attrs, service_type=attrs["service_type"], enabled=attrs.get("enabled", True)
        )

    async def update(self, ctx: Context, flavor_id: str, attrs: dict, if_match: int | None = None) -> dict:
        return await self._write(ctx, flavor_id, attrs, ("name", "description", "enabled"))

    async def delete(self, ctx: Context, flavor_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            await self.get_row(conn, ctx, flavor_id, for_update=True)
            await router_flavors.check_unused(conn, flavor_id)
            await conn.execute(delete(b).where(b.c.flavor_id == flavor_id))
            await conn.execute(delete(f).where(f.c.id == flavor_id))

        await self.db.run_write(work)

    async def next_providers(self, ctx: Context, flavor_id: str) -> list[dict]:
        async with self.db.read() as conn:
            await self.get_row(conn, ctx, flavor_id)
            return await router_flavors.next_providers(conn, flavor_id, self.settings.backend_driver)

    # --- the flavor's service profiles (a sub-resource) ------------------------------------

    async def bind(self, ctx: Context, flavor_id: str, profile_id: str) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            await self.get_row(conn, ctx, flavor_id, for_update=True)
            if await conn.scalar(select(sp.c.id).where(sp.c.id == profile_id)) is None:
                raise extension_errors.ServiceProfileNotFound(sp_id=profile_id)
            if await _bound(conn, flavor_id, profile_id):
                raise extension_errors.FlavorServiceProfileBindingExists(sp_id=profile_id, fl_id=flavor_id)
            await conn.execute(insert(b).values(flavor_id=flavor_id, service_profile_id=profile_id))
            return {"id": profile_id}

        return await self.db.run_write(answered(ctx, work))

    async def binding(self, ctx: Context, flavor_id: str, profile_id: str) -> dict:
        async with self.db.read() as conn:
            if not await _bound(conn, flavor_id, profile_id):
                raise extension_errors.FlavorServiceProfileBindingNotFound(sp_id=profile_id, fl_id=flavor_id)
        return {"service_profile_id": profile_id, "flavor_id": flavor_id}

    async def unbind(self, ctx: Context, flavor_id: str, profile_id: str) -> None:
        async def work(conn: AsyncConnection) -> None:
            gone = await conn.execute(delete(b).where(b.c.flavor_id == flavor_id, b.c.service_profile_id == profile_id))
            if gone.rowcount == 0:
                raise extension_errors.FlavorServiceProfileBindingNotFound(sp_id=profile_id, fl_id=flavor_id)

        await self.db.run_write(work)


async def _bound(conn: AsyncConnection, flavor_id: str, profile_id: str) -> bool:
    stmt = select(exists().where(b.c.flavor_id == flavor_id, b.c.service_profile_id == profile_id))
    return bool(await conn.scalar(stmt))


class ServiceProfileService(_AdminOwned):
    table = sp
    not_found = extension_errors.ServiceProfileNotFound
    not_found_key = "sp_id"
    fields = ("id", "description", "driver", "enabled", "metainfo")
    columns = {name: sp.c[name] for name in fields}
    related = (("flavors", FLAVORS_OF),)

    def assemble(self, rows: Sequence[Any], found: dict[str, list[Any]], query: ListQuery) -> list[dict]:
        flavors = _grouped(found.get("profile.flavors", ()), "service_profile_id", "flavor_id")
        return [{**self.view_of(row), "flavors": flavors.get(row.id, [])} for row in rows]

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        driver = attrs.get("driver") or ""
        if driver:
            router_flavors.check_driver(driver, self.settings.backend_driver)
        elif not attrs.get("metainfo"):
            raise extension_errors.ServiceProfileEmpty()
        return await base.insert_new(
            conn, sp, attrs, driver=driver, enabled=attrs.get("enabled", True), metainfo=attrs.get("metainfo") or ""
        )

    async def check_update(self, conn: AsyncConnection, row_id: str, attrs: dict) -> None:
        if attrs.get("driver"):
            router_flavors.check_driver(attrs["driver"], self.settings.backend_driver)
        await _not_in_use(conn, row_id)

    async def update(self, ctx: Context, profile_id: str, attrs: dict, if_match: int | None = None) -> dict:
        return await self._write(ctx, profile_id, attrs, ("description", "driver", "enabled", "metainfo"))

    async def delete(self, ctx: Context, profile_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            await self.get_row(conn, ctx, profile_id, for_update=True)
            await _not_in_use(conn, profile_id)
            await conn.execute(delete(sp).where(sp.c.id == profile_id))

        await self.db.run_write(work)


async def _not_in_use(conn: AsyncConnection, profile_id: str) -> None:
    if await conn.scalar(select(exists().where(b.c.service_profile_id == profile_id))):
        raise extension_errors.ServiceProfileInUse(sp_id=profile_id)
