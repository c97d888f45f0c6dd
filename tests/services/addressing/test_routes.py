"""Routes as the tables see them: the route rows and ``subnets.host_routes``
stay one set whichever service changes them, a route change is a subnet
change for the hosts (``SubnetUpdated``: DHCP and L2 generations), rows are
updated in place, and refused changes leave nothing."""

from __future__ import annotations

from sqlalchemy import select

from quark import errors
from quark.db import models
from quark.services.addressing.routes import RouteService
from quark.services.events import EVENT_TYPES, Events, SubnetUpdated
from tests.services.conftest import ADMIN

r, s = models.routes, models.subnets


async def route_rows(env, subnet_id: str) -> dict[str, object]:
    return {row.cidr: row for row in await env.read(select(r).where(r.c.subnet_id == subnet_id))}


async def assert_one_set(env, subnet_id: str) -> set[tuple[str, str]]:
    """The rows and host_routes of the subnet are the same routes; returns them."""
    rows = {(row.cidr, row.gateway) for row in (await route_rows(env, subnet_id)).values()}
    listed = {(e["destination"], e["nexthop"]) for e in (await env.one(s, subnet_id)).host_routes}
    assert rows == listed
    return rows


async def test_rows_and_host_routes_stay_one_set_through_both_services(env):
    _, subnet = await env.network_with_subnet(
        "10.50.0.0/24", enable_dhcp=False, host_routes=[{"destination": "192.168.1.0/24", "nexthop": "10.50.0.5"}]
    )
    sid = subnet["id"]
    assert await assert_one_set(env, sid) == {("192.168.1.0/24", "10.50.0.5")}
    added = await env.services.routes.create(
        ADMIN, {"subnet_id": sid, "cidr": "192.168.2.0/24", "gateway": "10.50.0.6"}
    )
    assert await assert_one_set(env, sid) == {("192.168.1.0/24", "10.50.0.5"), ("192.168.2.0/24", "10.50.0.6")}
    await env.services.routes.update(ADMIN, added["id"], {"cidr": "192.168.3.0/24"})
    assert await assert_one_set(env, sid) == {("192.168.1.0/24", "10.50.0.5"), ("192.168.3.0/24", "10.50.0.6")}
    await env.services.subnets.update(
        ADMIN, sid, {"host_routes": [{"destination": "192.168.3.0/24", "nexthop": "10.50.0.6"}]}
    )
    assert await assert_one_set(env, sid) == {("192.168.3.0/24", "10.50.0.6")}
    assert (await route_rows(env, sid))["192.168.3.0/24"].id == added["id"]  # an unchanged route keeps its row
    await env.services.routes.delete(ADMIN, added["id"])
    assert await assert_one_set(env, sid) == set()


async def test_a_changed_nexthop_updates_the_row_in_place(env):
    routes = [{"destination": "192.168.4.0/24", "nexthop": "10.51.0.5"}]
    _, subnet = await env.network_with_subnet("10.51.0.0/24", enable_dhcp=False, host_routes=routes)
    before = (await route_rows(env, subnet["id"]))["192.168.4.0/24"]
    await env.services.subnets.update(
        ADMIN, subnet["id"], {"host_routes": [{"destination": "192.168.4.0/24", "nexthop": "10.51.0.9"}]}
    )
    after = (await route_rows(env, subnet["id"]))["192.168.4.0/24"]
    assert (after.id, after.gateway, after.revision_number) == (before.id, "10.51.0.9", before.revision_number + 1)


async def test_a_route_change_publishes_the_subnets_new_routes(env):
    events = Events()
    published: list = []

    async def record(conn, event) -> None:
        published.append(event)

    for kind in EVENT_TYPES:
        events.subscribe(kind, record)
    events.freeze()
    routes = RouteService(env.db, env.settings, events, env.services.subnets)
    _, subnet = await env.network_with_subnet("10.52.0.0/24", enable_dhcp=False)
    before = await env.one(s, subnet["id"])

    await routes.create(ADMIN, {"subnet_id": subnet["id"], "cidr": "192.168.5.0/24", "gateway": "10.52.0.5"})

    assert published == [
        SubnetUpdated(before, {"host_routes": [{"destination": "192.168.5.0/24", "nexthop": "10.52.0.5"}]})
    ]


async def test_route_changes_tell_the_networks_dhcp_and_l2_hosts(env):
    await env.report_l2("host-r")
    await env.report_dhcp("dhcp-r")
    net, subnet = await env.network_with_subnet("10.53.0.0/24")
    await env.port(net["id"], **{"binding:host_id": "host-r"})
    routes = env.services.routes

    async def bumped(change) -> tuple[int, int]:
        before = await env.generations()
        await change
        after = await env.generations()
        return after["host-r"][0] - before["host-r"][0], after["dhcp-r"][1] - before["dhcp-r"][1]

    route = await routes.create(ADMIN, {"subnet_id": subnet["id"], "cidr": "192.168.6.0/24", "gateway": "10.53.0.5"})
    assert await bumped(routes.update(ADMIN, route["id"], {"gateway": "10.53.0.6"})) == (1, 1)
    assert await bumped(routes.delete(ADMIN, route["id"])) == (1, 1)
    assert await bumped(
        routes.create(ADMIN, {"subnet_id": subnet["id"], "cidr": "192.168.7.0/24", "gateway": "10.53.0.5"})
    ) == (1, 1)


async def test_refused_route_changes_leave_nothing(make_env):
    env = await make_env(max_subnet_host_routes=2)
    routes = [{"destination": "192.168.8.0/24", "nexthop": "10.54.0.5"}]
    _, subnet = await env.network_with_subnet("10.54.0.0/24", enable_dhcp=False, host_routes=routes)
    sid = subnet["id"]
    service = env.services.routes
    await env.refused(
        errors.DuplicateRouteConflict,
        service.create(ADMIN, {"subnet_id": sid, "cidr": "192.168.8.0/24", "gateway": "10.54.0.6"}),
    )
    await env.refused(
        errors.InvalidRoute, service.create(ADMIN, {"subnet_id": sid, "cidr": "192.168.9.0/24", "gateway": "10.99.0.1"})
    )
    # Two in one bulk create: the second is over the limit, the first goes back with it.
    await env.refused(
        errors.HostRoutesExhausted,
        service.create_bulk(
            ADMIN,
            [
                {"subnet_id": sid, "cidr": "192.168.10.0/24", "gateway": "10.54.0.5"},
                {"subnet_id": sid, "cidr": "192.168.11.0/24", "gateway": "10.54.0.5"},
            ],
        ),
    )
    # The route subscriber refuses a duplicate destination: the subnet update goes back too.
    duplicate = [
        {"destination": "192.168.12.0/24", "nexthop": "10.54.0.5"},
        {"destination": "192.168.12.0/24", "nexthop": "10.54.0.6"},
    ]
    await env.refused(
        errors.DuplicateRouteConflict, env.services.subnets.update(ADMIN, sid, {"name": "x", "host_routes": duplicate})
    )
    row = await env.one(s, sid)
    assert (row.name, row.revision_number, await assert_one_set(env, sid)) == (
        "",
        subnet["revision_number"],
        {("192.168.8.0/24", "10.54.0.5")},
    )
