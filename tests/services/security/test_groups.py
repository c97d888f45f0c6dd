"""Security groups as the tables see them: each project's default group
(made once, by the first port that needs it, even under concurrency), the
groups of new ports as the ``PortsCreating`` subscriber decides them,
``check_usable`` on creates and updates, and what a group delete takes."""

from __future__ import annotations

import asyncio
import dataclasses

from sqlalchemy import select

from quark import errors
from quark.db import models
from quark.services.events import GroupChoice, PortsCreating
from tests.services.conftest import ADMIN, member

sg, rules, dsg, psg = (
    models.security_groups,
    models.security_group_rules,
    models.default_security_groups,
    models.port_security_groups,
)


async def default_group_of(env, project_id: str) -> str | None:
    rows = await env.read(select(dsg.c.security_group_id).where(dsg.c.project_id == project_id))
    return rows[0][0] if rows else None


async def groups_of(env, port_id: str) -> list[str]:
    return sorted(r.security_group_id for r in await env.read(select(psg).where(psg.c.port_id == port_id)))


async def test_the_first_port_of_a_project_makes_its_default_group_once(env):
    ctx = member()
    net, _ = await env.network_with_subnet("10.60.0.0/24", ctx, enable_dhcp=False)
    first = await env.port(net["id"], ctx)
    group_id = await default_group_of(env, ctx.project_id)
    group = await env.one(sg, group_id)
    assert (group.name, group.project_id) == ("default", ctx.project_id)
    made = await env.read(select(rules).where(rules.c.security_group_id == group_id))
    assert sorted((r.direction, r.ethertype, r.remote_group_id) for r in made) == [
        ("egress", "IPv4", None),
        ("egress", "IPv6", None),
        ("ingress", "IPv4", group_id),
        ("ingress", "IPv6", group_id),
    ]
    second = await env.port(net["id"], ctx)
    assert await groups_of(env, first["id"]) == await groups_of(env, second["id"]) == [group_id]
    assert await env.count(sg, sg.c.project_id == ctx.project_id) == 1


async def test_concurrent_first_ports_make_one_default_group(env):
    project = member().project_id
    net, _ = await env.network_with_subnet("10.61.0.0/24", member(project), enable_dhcp=False)
    # Different users: the create batcher does not put them in one transaction.
    callers = [dataclasses.replace(member(project), user_id=f"user-{i}") for i in range(4)]
    ports = await asyncio.gather(*(env.port(net["id"], ctx) for ctx in callers))
    assert await env.count(dsg, dsg.c.project_id == project) == 1
    assert await env.count(sg, sg.c.project_id == project) == 1
    group_id = await default_group_of(env, project)
    assert [await groups_of(env, port["id"]) for port in ports] == [[group_id]] * 4


async def test_ports_that_get_no_group_make_no_default_group(env):
    ctx = member()
    net, _ = await env.network_with_subnet("10.62.0.0/24", ctx, enable_dhcp=False)
    unsecured = await env.port(net["id"], ctx, port_security_enabled=False)
    dhcp = await env.port(net["id"], ADMIN, project_id=ctx.project_id, device_owner="network:dhcp")
    none_asked = await env.port(net["id"], ctx, security_groups=[])
    for port in (unsecured, dhcp, none_asked):
        assert await groups_of(env, port["id"]) == []
    assert await default_group_of(env, ctx.project_id) is None


async def test_requested_groups_are_checked_and_refusals_leave_nothing(env):
    owner, stranger = member(), member()
    net, _ = await env.network_with_subnet("10.63.0.0/24", owner, enable_dhcp=False)
    own = await env.services.security_groups.create(owner, {"name": "own"})
    foreign = await env.services.security_groups.create(stranger, {"name": "foreign"})
    ports = env.services.ports
    await env.refused(
        errors.SecurityGroupNotFound,
        ports.create(owner, {"network_id": net["id"], "security_groups": [own["id"], foreign["id"]]}),
    )
    await env.refused(
        errors.PortSecurityAndIPRequiredForSecurityGroups,
        ports.create(owner, {"network_id": net["id"], "security_groups": [own["id"]], "port_security_enabled": False}),
    )
    asked = await env.port(net["id"], owner, security_groups=[own["id"]])
    assert await groups_of(env, asked["id"]) == [own["id"]]
    # An admin may give a port any project's group.
    mixed = await env.port(net["id"], ADMIN, project_id=owner.project_id, security_groups=[own["id"], foreign["id"]])
    assert await groups_of(env, mixed["id"]) == sorted([own["id"], foreign["id"]])


async def test_group_changes_of_a_port_are_checked(env):
    owner, stranger = member(), member()
    net, _ = await env.network_with_subnet("10.64.0.0/24", owner, enable_dhcp=False)
    port = await env.port(net["id"], owner)
    default = await groups_of(env, port["id"])
    own = await env.services.security_groups.create(owner, {"name": "own"})
    foreign = await env.services.security_groups.create(stranger, {"name": "foreign"})
    ports = env.services.ports

    await env.refused(
        errors.SecurityGroupNotFound, ports.update(owner, port["id"], {"security_groups": [foreign["id"]]})
    )
    assert await groups_of(env, port["id"]) == default
    await env.refused(
        errors.PortSecurityAndIPRequiredForSecurityGroups,
        ports.update(owner, port["id"], {"security_groups": [own["id"]], "port_security_enabled": False}),
    )
    await env.refused(
        errors.PortSecurityPortHasSecurityGroup, ports.update(owner, port["id"], {"port_security_enabled": False})
    )

    await ports.update(owner, port["id"], {"security_groups": [own["id"]]})
    assert await groups_of(env, port["id"]) == [own["id"]]
    await ports.update(owner, port["id"], {"security_groups": [], "port_security_enabled": False})
    assert await groups_of(env, port["id"]) == []


async def test_the_subscriber_uses_a_default_group_already_read(env):
    """``known_default`` (read with the network by the port service) is used as
    it is: the subscriber then reads and writes nothing."""
    choices = [
        GroupChoice(project_id="p-known", device_owner="", port_security=True, requested=None, known_default="g-1"),
        GroupChoice(project_id="p-new", device_owner="compute:nova", port_security=True, requested=None),
        GroupChoice(project_id="p-new", device_owner="network:router_interface", port_security=True, requested=None),
    ]

    async def decide(conn):
        await env.services.security_groups.on_ports_creating(conn, PortsCreating(ADMIN, choices))

    await env.in_transaction(decide)
    made = await default_group_of(env, "p-new")
    assert [c.groups for c in choices] == [["g-1"], [made], []]
    assert await default_group_of(env, "p-known") is None


async def test_check_usable(env):
    owner = member()
    own = await env.services.security_groups.create(owner, {"name": "own"})
    other = await env.services.security_groups.create(member(), {"name": "other"})
    usable = env.services.security_groups.check_usable

    async def check(ctx, ids):
        return await env.in_transaction(lambda conn: usable(conn, ctx, owner.project_id, ids))

    await check(owner, [])
    await check(owner, [own["id"]])
    await check(ADMIN, [own["id"], other["id"]])
    for ids in ([other["id"]], [own["id"], "no-such-group"]):
        raised = await env.refused(errors.SecurityGroupNotFound, check(owner, ids))
        assert raised.kwargs["id"] == ids[-1]


async def test_a_group_delete_takes_the_rules_that_point_at_it(env):
    ctx = member()
    target = await env.services.security_groups.create(ctx, {"name": "target"})
    pointing = await env.services.security_groups.create(ctx, {"name": "pointing"})
    await env.services.security_group_rules.create(
        ctx,
        {
            "security_group_id": pointing["id"],
            "direction": "ingress",
            "ethertype": "IPv4",
            "remote_group_id": target["id"],
        },
    )
    assert await env.count(rules, rules.c.security_group_id == pointing["id"]) == 3

    await env.services.security_groups.delete(ctx, target["id"])

    assert await env.count(rules, rules.c.remote_group_id == target["id"]) == 0
    assert await env.count(rules, rules.c.security_group_id == pointing["id"]) == 2  # its own egress rules
    assert await env.one(sg, target["id"]) is None


async def test_default_and_used_groups_cannot_go(env):
    ctx = member()
    net, _ = await env.network_with_subnet("10.65.0.0/24", ctx, enable_dhcp=False)
    await env.port(net["id"], ctx)
    default = await default_group_of(env, ctx.project_id)
    groups = env.services.security_groups
    await env.refused(errors.SecurityGroupCannotRemoveDefault, groups.delete(ctx, default))
    await env.refused(errors.SecurityGroupInUse, groups.delete(ADMIN, default))
