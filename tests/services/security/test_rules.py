"""Security-group rules name groups as their project sees them: another
project's group is as missing as one that does not exist."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from quark import errors
from quark.db import models
from tests.services.conftest import ADMIN, member

rules = models.security_group_rules


def ingress(group_id: str, **extra) -> dict:
    return {"security_group_id": group_id, "direction": "ingress", "protocol": "tcp", **extra}


async def test_a_remote_group_of_another_project_is_not_found(env):
    a, b = member(), member()
    own = await env.services.security_groups.create(a, {"name": "own"})
    other = await env.services.security_groups.create(b, {"name": "other"})
    service = env.services.security_group_rules
    for remote in (other["id"], str(uuid.uuid4())):  # another project's group, and one that never was
        refused = await env.refused(
            errors.SecurityGroupNotFound, service.create(a, ingress(own["id"], remote_group_id=remote))
        )
        assert str(refused) == f"Security group {remote} does not exist"
    assert not await env.read(select(rules).where(rules.c.remote_group_id == other["id"]))
    made = await service.create(a, ingress(own["id"], remote_group_id=own["id"]))
    assert made["remote_group_id"] == own["id"]
    # An admin names any project's group, as in Neutron.
    crossed = await service.create(
        ADMIN, ingress(own["id"], remote_group_id=other["id"], port_range_min=80, port_range_max=80)
    )
    assert (crossed["remote_group_id"], crossed["project_id"]) == (other["id"], a.project_id)


async def test_a_missing_remote_address_group_is_not_found(env):
    ctx = member()
    group = await env.services.security_groups.create(ctx, {"name": "g"})
    missing = str(uuid.uuid4())
    refused = await env.refused(
        errors.AddressGroupNotFound,
        env.services.security_group_rules.create(ctx, ingress(group["id"], remote_address_group_id=missing)),
    )
    assert str(refused) == f"Address group {missing} could not be found."
