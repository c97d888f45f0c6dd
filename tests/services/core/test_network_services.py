"""Network services at the service level, read from the tables: a refused
service or association leaves nothing behind; a network made from a service
records it; and a service deleted while its project creates networks is
either refused (409: a network was made from it) or gone with no network
naming it — never a foreign-key error, never a failed network create."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from quark import errors
from quark.db import models
from quark.services.core.network_services import (
    NetworkServiceAssociationExists,
    NetworkServiceInUse,
    NetworkServiceNotFound,
)
from tests.services.conftest import ADMIN, member

n = models.networks


async def test_refusals_leave_nothing(env):
    services = env.services
    await env.refused(
        errors.InvalidInput, services.network_services.create(ADMIN, {"kind": "vlan", "driver": "no-such-driver"})
    )
    await env.refused(errors.InvalidInput, services.network_services.create(ADMIN, {"kind": "flat", "driver": "agent"}))
    made = await services.network_services.create(ADMIN, {"kind": "vxlan", "driver": "unmanaged"})
    await env.refused(
        NetworkServiceNotFound,
        services.network_service_associations.create(ADMIN, {"project_id": "p1", "network_service_id": "nope"}),
    )
    await services.network_service_associations.create(ADMIN, {"project_id": "p1", "network_service_id": made["id"]})
    await env.refused(
        NetworkServiceAssociationExists,
        services.network_service_associations.create(ADMIN, {"project_id": "p1", "network_service_id": made["id"]}),
    )
    await env.refused(NetworkServiceInUse, services.network_services.delete(ADMIN, made["id"]))


async def test_a_network_records_its_service_and_the_default_records_none(env):
    services = env.services
    made = await services.network_services.create(ADMIN, {"kind": "vxlan", "driver": "unmanaged"})
    ctx = member()
    await services.network_service_associations.create(
        ADMIN, {"project_id": ctx.project_id, "network_service_id": made["id"]}
    )
    from_service = await env.network(ctx)
    default = await env.network(member())
    assert (await env.one(n, from_service["id"])).network_service_id == made["id"]
    assert (await env.one(n, from_service["id"])).network_plugin == "unmanaged"
    assert (await env.one(n, default["id"])).network_service_id is None


@pytest.mark.parametrize("creates", [8])
async def test_deleting_a_service_while_its_project_creates_networks(env, creates):
    services = env.services
    made = await services.network_services.create(ADMIN, {"kind": "vxlan", "driver": "unmanaged"})
    ctx = member()
    await services.network_service_associations.create(
        ADMIN, {"project_id": ctx.project_id, "network_service_id": made["id"]}
    )

    async def take_it_away() -> str:
        await services.network_service_associations.delete(ADMIN, ctx.project_id)
        try:
            await services.network_services.delete(ADMIN, made["id"])
        except NetworkServiceInUse:
            return "in use"
        return "deleted"

    outcome, *nets = await asyncio.gather(take_it_away(), *(env.network(ctx) for _ in range(creates)))
    assert len(nets) == creates  # every create succeeded, with the service or the default
    naming = await env.read(select(n.c.id).where(n.c.network_service_id == made["id"]))
    if outcome == "deleted":
        assert naming == []
        assert {net["network_plugin"] for net in nets} == {"agent"}
    else:
        assert naming, "409 only when a network was made from it"
