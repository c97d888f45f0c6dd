"""What a flavor's service profiles resolve to, and routers made with a
flavor (``l3-flavors``; docs/flavors.md), as Neutron's ``FlavorsPlugin`` and
its L3 driver controller.

A profile's ``driver`` names a service provider (``GET /v2.0/service-providers``):
in Quark an installed backend driver (``agent``, ``ovn``, …), or Neutron's
``single_node.SingleNodeDriver``, ``ha.HaDriver``, ``dvr.DvrDriver`` and
``dvrha.DvrHaDriver`` paths, which stand for the deployment's default driver
and give a router made with the flavor its ``ha`` / ``distributed`` flags, as
Neutron's L3 driver controller does (single node: neither; the others what
their names say). A router with a flavor may not also ask for the flags (400).

A flavor's next provider is its first bound profile's (Neutron's
``get_flavor_next_provider``): 404 ``FlavorServiceProfileBindingNotFound``
without one, 503 ``ServiceProfileDisabled``, 404 ``ServiceProfileDriverNotFound``
for a profile with metainfo only. A router's ``flavor_id`` must name a flavor of
``L3_ROUTER_NAT`` (400 ``InvalidFlavorServiceType``), enabled (503
``FlavorDisabled``) and with a next provider; a flavor routers use cannot be
deleted (409 ``FlavorInUse``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import extension_errors
from quark.db import flavor_models, l3_models
from quark.drivers import loading
from quark.services.l3.router_errors import RouterBadRequest

f = flavor_models.flavors
sp = flavor_models.service_profiles
b = flavor_models.flavor_service_profile_bindings

L3 = "L3_ROUTER_NAT"
_NEUTRON_L3 = "neutron.services.l3_router.service_providers."
SINGLE_NODE = _NEUTRON_L3 + "single_node.SingleNodeDriver"
# Neutron's L3 drivers -> the flags of the routers they make (ha, distributed).
NEUTRON_L3_DRIVERS = {
    SINGLE_NODE: (False, False),
    _NEUTRON_L3 + "ha.HaDriver": (True, False),
    _NEUTRON_L3 + "dvr.DvrDriver": (False, True),
    _NEUTRON_L3 + "dvrha.DvrHaDriver": (True, True),
}
FLAGS_WITH_FLAVOR = "Cannot specify both 'flavor_id' and 'ha' or 'distributed': the flavor's provider sets them"


def provider_of(driver: str, default_driver: str) -> str | None:
    """The provider a profile's ``driver`` names, None when it names none."""
    if driver in NEUTRON_L3_DRIVERS:
        return default_driver
    return driver if driver in loading.names() else None


def check_driver(driver: str, default_driver: str) -> None:
    if provider_of(driver, default_driver) is None:
        raise extension_errors.ServiceProfileDriverNotFound(driver=driver)


async def next_providers(conn: AsyncConnection, flavor_id: str, default_driver: str) -> list[dict[str, Any]]:
    """The provider of the flavor's first bound profile (by profile id, as stored)."""
    stmt = (
        select(sp.c.driver, sp.c.enabled)
        .select_from(b.join(sp, sp.c.id == b.c.service_profile_id))
        .where(b.c.flavor_id == flavor_id)
        .order_by(sp.c.id)
        .limit(1)
    )
    profile = (await conn.execute(stmt)).first()
    if profile is None:
        raise extension_errors.FlavorServiceProfileBindingNotFound(sp_id="", fl_id=flavor_id)
    if not profile.enabled:
        raise extension_errors.ServiceProfileDisabled()
    provider = provider_of(profile.driver or "", default_driver)
    if provider is None:
        raise extension_errors.ServiceProfileDriverNotFound(driver=profile.driver or "")
    return [{"driver": profile.driver, "provider": provider}]


async def router_flags(conn: AsyncConnection, attrs: dict, default_driver: str) -> dict[str, bool]:
    """The ``ha`` / ``distributed`` flags of a new router made with ``attrs["flavor_id"]``:
    its provider's (400 when the request also gives them)."""
    if attrs.get("ha") is not None or attrs.get("distributed") is not None:
        raise RouterBadRequest(msg=FLAGS_WITH_FLAVOR)
    await check_router_flavor(conn, attrs["flavor_id"], default_driver)
    [provider] = await next_providers(conn, attrs["flavor_id"], default_driver)
    ha, distributed = NEUTRON_L3_DRIVERS.get(provider["driver"], (False, False))
    return {"ha": ha, "distributed": distributed}


async def check_router_flavor(conn: AsyncConnection, flavor_id: str, default_driver: str) -> None:
    """A new router's ``flavor_id`` (the flavor row locked shared, so a concurrent delete waits)."""
    flavor = (await conn.execute(select(f).where(f.c.id == flavor_id).with_for_update(read=True))).first()
    if flavor is None:
        raise extension_errors.FlavorNotFound(flavor_id=flavor_id)
    if flavor.service_type != L3:
        raise extension_errors.InvalidFlavorServiceType(service_type=flavor.service_type)
    if not flavor.enabled:
        raise extension_errors.FlavorDisabled()
    await next_providers(conn, flavor_id, default_driver)


async def check_unused(conn: AsyncConnection, flavor_id: str) -> None:
    routers = l3_models.routers
    if await conn.scalar(select(exists().where(routers.c.flavor_id == flavor_id))):
        raise extension_errors.FlavorInUse(flavor_id=flavor_id)
