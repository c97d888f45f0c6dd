"""``quark purge --project``: removes exactly the project's resources (another
project's and the admin's stay, row for row), in dependency order; ``--dry-run``
changes nothing; without ``--yes`` it asks, and a "no" changes nothing."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from quark import errors
from quark.db import models
from quark.services.operations.purge import Step, execute
from tests.services.conftest import ADMIN, member

P, Q = "aaaaaaaa00000000000000000000000a", "bbbbbbbb00000000000000000000000b"  # UUID-like: RBAC targets


async def project_world(env, project: str, external_id: str, cidr: str) -> dict[str, str]:
    """A project with one of (nearly) everything: network, subnet, ports, router with a
    gateway and an interface, a floating IP, groups, an address group, a pool, a scope,
    an RBAC policy, quotas of its own."""
    s, ctx = env.services, member(project)
    net, sub = await env.network_with_subnet(cidr, ctx)
    port = await env.port(net["id"], ctx, name="vm")
    router = await s.routers.create(ctx, {"name": "r", "external_gateway_info": {"network_id": external_id}})
    await s.routers.add_interface(ctx, router["id"], {"subnet_id": sub["id"]})
    fip = await s.floating_ips.create(ctx, {"floating_network_id": external_id, "port_id": port["id"]})
    group = await s.security_groups.create(ctx, {"name": "web"})
    await s.address_groups.create(ctx, {"name": "ag", "addresses": ["192.0.2.0/28"]})
    scope = await s.address_scopes.create(ctx, {"name": "scope", "ip_version": 4})
    await s.subnet_pools.create(
        ctx, {"name": "pool", "prefixes": [cidr.replace("10.", "172.")], "default_prefixlen": 26,
              "address_scope_id": scope["id"]}
    )  # fmt: skip
    other = Q if project == P else P
    await s.rbac_policies.create(
        ctx, {"object_type": "network", "object_id": net["id"], "action": "access_as_shared", "target_tenant": other}
    )
    await s.quotas.update(ADMIN, project, {"network": 50})
    return {"network": net["id"], "router": router["id"], "floatingip": fip["id"], "security_group": group["id"]}


async def build(env) -> dict[str, dict[str, str]]:
    external = await env.network(**{"router:external": True, "name": "public"})
    await env.subnet(external["id"], "203.0.113.0/24")
    return {
        P: await project_world(env, P, external["id"], "10.1.0.0/24"),
        Q: await project_world(env, Q, external["id"], "10.2.0.0/24"),
        "admin": {"network": external["id"]},
    }


async def owned(env, project: str) -> dict[str, int]:
    """Rows of every table with a project_id column that are ``project``'s (live addresses only)."""
    out = {}
    async with env.db.read() as conn:
        for table in models.Base.metadata.sorted_tables:
            # quota_locks: a project's lock rows, no resource (its next create would make them again)
            if "project_id" not in table.c or table.name == "quota_locks":
                continue
            where = [table.c.project_id == project]
            if table.name == "ip_allocations":  # released addresses stay in quarantine
                where.append(table.c.deallocated.is_(False))
            count = await conn.scalar(select(func.count()).select_from(table).where(*where))
            if count:
                out[table.name] = int(count)
    return out


def snapshot(world) -> dict[str, int]:
    return world.do(lambda env: env.snapshot())


def test_purge_removes_exactly_the_project(world):
    world.do(build)
    kept_before = world.do(lambda env: owned(env, Q))
    admin_before = world.do(lambda env: owned(env, ADMIN.project_id))
    assert world.do(lambda env: owned(env, P)).keys() >= {"networks", "ports", "routers", "floatingips", "quotas"}

    result = world.quark("purge", "--project", P, "--yes", "-f", "json")
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)
    assert {s["outcome"] for s in steps} <= {"deleted", "gone"}
    kinds = [s["kind"] for s in steps]
    # dependency order: a floating IP before the router, interfaces before routers before networks
    assert kinds.index("floatingip") < kinds.index("router_interface") < kinds.index("router")
    assert kinds.index("router") < kinds.index("port") < kinds.index("subnet") < kinds.index("network")
    assert kinds[-1] == "quota"

    assert world.do(lambda env: owned(env, P)) == {}
    assert world.do(lambda env: owned(env, Q)) == kept_before
    assert world.do(lambda env: owned(env, ADMIN.project_id)) == admin_before
    # a second purge finds nothing to do
    again = world.quark("purge", "--project", P, "--yes", "-f", "json")
    assert again.exit_code == 0 and again.stdout.strip() == "[]"


@pytest.mark.parametrize("fmt", ["json", "yaml", "table"])
def test_dry_run_lists_and_changes_nothing(world, fmt):
    ids = world.do(build)
    before = snapshot(world)
    result = world.quark("purge", "--project", P, "--dry-run", "-f", fmt)
    assert result.exit_code == 0, result.output
    for resource_id in ids[P].values():
        assert resource_id in result.stdout
    assert ids[Q]["network"] not in result.stdout and ids["admin"]["network"] not in result.stdout
    assert snapshot(world) == before


def test_without_yes_it_asks_and_no_changes_nothing(world):
    ids = world.do(build)
    before = snapshot(world)
    refused = world.quark("purge", "--project", P, input="n\n")
    assert refused.exit_code == 1 and "Delete these" in refused.output and "Aborted" in refused.output
    assert snapshot(world) == before
    accepted = world.quark("purge", "--project", P, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert ids[P]["router"] in accepted.stdout and "deleted" in accepted.stdout
    assert world.do(lambda env: owned(env, P)) == {}


def test_a_refused_delete_is_reported_and_the_rest_goes(world):
    """Q's port on P's shared network keeps that network: the purge says so (exit 1)."""

    async def shared_use(env):
        made = await build(env)
        await env.port(made[P]["network"], member(Q))
        return made

    ids = world.do(shared_use)
    result = world.quark("purge", "--project", P, "--yes", "-f", "json")
    assert result.exit_code == 1
    steps = {s["id"]: s for s in json.loads(result.stdout)}
    assert steps[ids[P]["network"]]["outcome"] == "failed" and "InUse" in steps[ids[P]["network"]]["error"]
    assert steps[ids[P]["router"]]["outcome"] == "deleted"
    assert world.do(lambda env: owned(env, P)).keys() <= {
        "networks",
        "subnets",
        "ip_allocations",
        "ip_usage",
        "rbac_policies",
    }


def test_batches_fall_back_to_one_by_one_when_refused():
    """A refused batch (one port may not go) runs each step alone, so the result names
    the one that failed; a batch that finds a row gone says ``gone`` for it."""
    ran: list[str] = []

    async def refuse(ids):
        raise errors.L3PortInUse(port_id=ids[1], device_owner="network:router_interface")

    async def take(ids):
        return ids[:-1]  # the last was gone already

    def one(i: str):
        async def run():
            ran.append(i)
            if i == "b":
                raise errors.L3PortInUse(port_id=i, device_owner="network:router_interface")

        return run

    refused = [Step("port", i, "", one(i), batch=refuse) for i in "abc"]
    taken = [Step("port", i, "", one(i), batch=take) for i in "xyz"]
    advanced: list[int] = []
    asyncio.run(execute([*refused, *taken], advanced.append))
    assert [s.outcome for s in refused] == ["deleted", "failed", "deleted"] and ran == ["a", "b", "c"]
    assert [s.outcome for s in taken] == ["deleted", "deleted", "gone"]
    assert sum(advanced) == 6 and advanced[-1] == 3  # the batch advanced the bar by three at once
