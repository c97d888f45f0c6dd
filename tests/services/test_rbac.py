"""RBAC policies without HTTP: the rows a change leaves (networks' ``shared`` and
``router_external`` equal to their policies in the same transaction), refused
changes leaving nothing, who loses access, and the object-type registry."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import String, literal, select

from quark import errors
from quark.db import models
from quark.db.rbac_models import rbac_policies as rb
from quark.services.common import rbac
from quark.services.common.rbac import RbacTypes
from quark.services.core.network_rbac import NETWORK
from tests.services.conftest import ADMIN, member


def target() -> str:
    return uuid.uuid4().hex


async def policies_of(env, object_id: str) -> list[tuple[str, str]]:
    rows = await env.read(select(rb).where(rb.c.object_id == object_id).order_by(rb.c.action, rb.c.target_project))
    return [(r.action, r.target_project) for r in rows]


async def flags(env, network_id: str) -> tuple[bool, bool]:
    row = await env.one(models.networks, network_id)
    return row.shared, row.router_external


async def test_shared_and_external_flags_are_the_wildcard_policies(env):
    owner = member()
    net = await env.network(owner, **{"shared": True})
    assert await policies_of(env, net["id"]) == [("access_as_shared", "*")]
    await env.services.networks.update(ADMIN, net["id"], {"router:external": True})
    assert await policies_of(env, net["id"]) == [("access_as_external", "*"), ("access_as_shared", "*")]
    assert await flags(env, net["id"]) == (True, True)
    await env.services.networks.update(ADMIN, net["id"], {"shared": False, "router:external": False})
    assert await policies_of(env, net["id"]) == []
    assert await flags(env, net["id"]) == (False, False)


async def test_a_targeted_external_policy_makes_the_network_external_until_the_last_goes(env):
    owner, guest = member(), target()
    net = await env.network(owner)
    made = await env.services.rbac_policies.create(
        ADMIN,
        {"object_type": "network", "object_id": net["id"], "action": "access_as_external", "target_tenant": guest},
    )
    assert await flags(env, net["id"]) == (False, True)
    await env.services.rbac_policies.update(ADMIN, made["id"], {"target_tenant": "*"})
    assert await policies_of(env, net["id"]) == [("access_as_external", "*")]
    await env.services.rbac_policies.delete(ADMIN, made["id"])
    assert await flags(env, net["id"]) == (False, False)


async def test_refused_removals_leave_every_row(env):
    owner, guest = member(), member(target())
    net = await env.network(owner)
    await env.subnet(net["id"], "10.61.0.0/24", owner)
    made = await env.services.rbac_policies.create(
        owner,
        {
            "object_type": "network",
            "object_id": net["id"],
            "action": "access_as_shared",
            "target_tenant": guest.project_id,
        },
    )
    await env.port(net["id"], guest)
    await env.refused(errors.RbacPolicyInUse, env.services.rbac_policies.delete(owner, made["id"]))
    await env.refused(
        errors.RbacPolicyInUse, env.services.rbac_policies.update(owner, made["id"], {"target_tenant": target()})
    )
    # Retargeting to everyone keeps the port's access: allowed.
    await env.services.rbac_policies.update(ADMIN, made["id"], {"target_tenant": "*"})
    assert await flags(env, net["id"]) == (True, False)
    await env.refused(errors.InvalidSharedSetting, env.services.networks.update(ADMIN, net["id"], {"shared": False}))


async def test_who_loses_access(env):
    owner, kept = member(), target()
    net = await env.network(owner, shared=True)
    await env.services.rbac_policies.create(
        ADMIN, {"object_type": "network", "object_id": net["id"], "action": "access_as_shared", "target_tenant": kept}
    )

    async def losing(loss: rbac.Loss) -> set[str] | None:
        async def work(conn):
            clause = await loss.losers(conn)
            if clause is None:
                return None
            candidates = [owner.project_id, kept, "stranger", ""]
            return {c for c in candidates if await conn.scalar(select(clause(literal(c, String))))}

        return await env.in_transaction(work)

    # A targeted policy beside a wildcard: nobody loses.
    assert await losing(rbac.Loss(net["id"], owner.project_id, rbac.SHARED, kept)) is None
    # Self-sharing: nobody.
    assert await losing(rbac.Loss(net["id"], owner.project_id, rbac.SHARED, owner.project_id)) is None
    # The wildcard: everyone but the owner, the targeted projects and network-owned ports ('').
    assert await losing(rbac.Loss(net["id"], owner.project_id, rbac.SHARED, "*")) == {"stranger"}
    # ... and a retarget keeps its new target in.
    assert await losing(rbac.Loss(net["id"], owner.project_id, rbac.SHARED, "*", "stranger")) == set()


def test_the_registry_refuses_unknown_and_repeated_types():
    types = RbacTypes()
    types.register(NETWORK)
    assert types.get(" Network ") is NETWORK
    assert types.names() == ("network",)
    with pytest.raises(errors.InvalidInput):
        types.get("subnetpool")
    with pytest.raises(ValueError):
        types.register(NETWORK)
