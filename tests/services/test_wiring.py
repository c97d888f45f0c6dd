"""The wiring table (quark.services.wiring) held to account, and the event bus itself.

Every event type has a subscriber; the handlers of every event are exactly
the ones listed here, in this order (where the order matters the reason is
given); a subscription after the freeze is refused; publishing runs the
handlers in order in the publisher's connection, and a handler that fails
takes the publisher's writes with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import insert, select

from quark import errors
from quark.db import models
from quark.services import wiring
from quark.services.addressing import ip_policies
from quark.services.core.subnets import SubnetService
from quark.services.dataplane import filter_hosts, hoststate
from quark.services.events import (
    EVENT_TYPES,
    AddressGroupsChanged,
    AgentChanged,
    AgentReported,
    Events,
    FloatingIpAssociating,
    FloatingIpDeleting,
    InTransaction,
    NetworkClearing,
    NetworkDeleting,
    NetworkUpdated,
    PortAddressesChanged,
    PortDeleting,
    PortForwardingsChanged,
    PortGroupsChanging,
    PortsChanged,
    PortsCreating,
    ResourcesCreated,
    ResourcesWritten,
    RoutersChanged,
    SecurityGroupRulesChanged,
    SubnetCreated,
    SubnetDeleted,
    SubnetUpdated,
)
from quark.services.l3 import routers
from tests.services.conftest import ADMIN


def qualified(handler) -> str:
    """A handler's name as the table lists it: module and qualified name."""
    return f"{handler.__module__}.{handler.__qualname__}"


def wired(services):
    """Every handler of the process, by event type, as the wiring must declare them."""
    s = services
    return {
        # Quotas: a refused create rolls back whole.
        ResourcesCreated: (s.quotas.on_resources_created,),
        # A backend driver's job in the change's transaction (docs/jobs.md).
        ResourcesWritten: (s.outbox.on_resources_written,),
        NetworkUpdated: (hoststate.on_network_updated,),
        # Before the in-use check: unassociated floating IPs go with their network.
        NetworkClearing: (s.floating_ips.on_network_clearing,),
        # The DHCP ports go (with what hangs on them) before the IP policies let go.
        NetworkDeleting: (s.ports.on_network_deleting, ip_policies.on_network_deleting),
        # EUI-64 addresses of the ports first, then route rows, IP-policy
        # exclusions, the DHCP port, and host generations last.
        SubnetCreated: (
            s.ports.on_subnet_created,
            s.routes.on_subnet_created,
            ip_policies.on_subnet_created,
            s.dhcp_scheduler.on_subnet_created,
            hoststate.on_subnet_changed,
        ),
        SubnetUpdated: (s.routes.on_subnet_updated, s.dhcp_scheduler.on_subnet_updated, hoststate.on_subnet_changed),
        SubnetDeleted: (ip_policies.on_subnet_deleted, s.dhcp_scheduler.on_subnet_deleted, hoststate.on_subnet_changed),
        PortsCreating: (s.security_groups.on_ports_creating,),
        PortGroupsChanging: (s.security_groups.on_port_groups_changing, filter_hosts.on_port_groups_changing),
        PortsChanged: (hoststate.on_ports_changed, filter_hosts.on_ports_changed),
        # The L3 hosts of floating IPs about to be disassociated hear of it first.
        PortAddressesChanged: (
            s.l3_scheduler.on_port_addresses_changed,
            s.floating_ips.on_port_addresses_changed,
            s.port_forwardings.on_port_addresses_changed,
        ),
        # The associations and port forwardings are dropped while the port row can
        # still be read; the hosts that showed the port are told.
        PortDeleting: (
            s.l3_scheduler.on_port_deleting,
            s.floating_ips.on_port_deleting,
            s.port_forwardings.on_port_deleting,
            routers.on_port_deleting,
            hoststate.on_port_deleting,
            filter_hosts.on_port_deleting,
        ),
        # A floating IP with port forwardings is neither associated nor deleted.
        FloatingIpAssociating: (s.port_forwardings.on_floatingip_associating,),
        FloatingIpDeleting: (s.port_forwardings.on_floatingip_deleting,),
        # Revisions first, then the routers' L3 hosts (their DNAT rules).
        PortForwardingsChanged: (
            s.port_forwardings.on_port_forwardings_changed,
            s.l3_scheduler.on_port_forwardings_changed,
        ),
        SecurityGroupRulesChanged: (filter_hosts.on_rules_changed,),
        AddressGroupsChanged: (filter_hosts.on_address_groups_changed,),
        # Routers: their L3 host (scheduled, ports bound there) and its generation.
        RoutersChanged: (s.l3_scheduler.on_routers_changed,),
        AgentReported: (s.agent_changes.on_agent_reported, s.l3_scheduler.on_agent_reported),
        AgentChanged: (s.agent_changes.on_agent_changed, s.l3_scheduler.on_agent_changed),
    }


def test_every_event_type_has_a_subscriber(services):
    silent = [kind.__name__ for kind in EVENT_TYPES if not services.events.handlers(kind)]
    assert silent == []


def test_every_event_type_is_listed_and_every_listed_type_is_an_event():
    assert len(set(EVENT_TYPES)) == len(EVENT_TYPES)
    assert all(issubclass(kind, InTransaction) for kind in EVENT_TYPES)
    # The names of the events module's event classes are all in EVENT_TYPES.
    from quark.services import events as module

    declared = {
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, InTransaction) and obj is not InTransaction
    }
    assert declared == set(EVENT_TYPES)


def test_the_handlers_of_every_event_in_order(services):
    expected = wired(services)
    assert set(expected) == set(EVENT_TYPES)
    for kind in EVENT_TYPES:
        # Identity: the bound methods are those of this process's services.
        assert services.events.handlers(kind) == expected[kind], kind.__name__


def test_order_where_it_matters_by_name(services):
    names = {kind: [qualified(h) for h in services.events.handlers(kind)] for kind in EVENT_TYPES}
    assert names[SubnetCreated] == [
        "quark.services.core.ports.service.PortService.on_subnet_created",
        "quark.services.addressing.routes.RouteService.on_subnet_created",
        "quark.services.addressing.ip_policies.on_subnet_created",
        "quark.services.dataplane.dhcp_scheduling.DhcpScheduler.on_subnet_created",
        "quark.services.dataplane.hoststate.on_subnet_changed",
    ]
    assert names[NetworkDeleting] == [
        "quark.services.core.ports.service.PortService.on_network_deleting",
        "quark.services.addressing.ip_policies.on_network_deleting",
    ]
    assert names[PortDeleting] == [
        "quark.services.dataplane.l3_scheduling.L3Scheduler.on_port_deleting",
        "quark.services.l3.floating_ips.FloatingIpService.on_port_deleting",
        "quark.services.l3.port_forwardings.PortForwardingService.on_port_deleting",
        "quark.services.l3.routers.on_port_deleting",
        "quark.services.dataplane.hoststate.on_port_deleting",
        "quark.services.dataplane.filter_hosts.on_port_deleting",
    ]


def test_publishers_share_the_process_bus(services):
    """A publisher built with an Events of its own would publish to no one."""
    publishers = [
        services.networks,
        services.subnets,
        services.ports,
        services.ports.updater,
        services.routes,
        services.agents,
        services.security_groups,
        services.security_group_rules,
    ]
    assert all(publisher.events is services.events for publisher in publishers)


def test_subscribe_after_freeze_is_refused(services):
    async def late(conn, event):  # pragma: no cover - never subscribed
        raise AssertionError

    with pytest.raises(RuntimeError, match="subscriptions are closed"):
        services.events.subscribe(NetworkUpdated, late)
    assert late not in services.events.handlers(NetworkUpdated)


@dataclass(frozen=True)
class Poked(InTransaction):
    value: str


@dataclass(frozen=True)
class PokedMore(Poked):
    """A subclass: handlers run for an event's exact type only."""


async def test_publish_runs_the_handlers_in_order_in_the_callers_connection(env):
    events = Events()
    seen: list[tuple[str, object, str]] = []
    t = models.tags

    def handler(name: str):
        async def run(conn, event: Poked) -> None:
            seen.append((name, conn, event.value))
            await conn.execute(insert(t).values(resource_id=event.value, tag=name))

        return run

    events.subscribe(Poked, handler("first"))
    events.subscribe(Poked, handler("second"))
    events.subscribe(PokedMore, handler("more"))
    events.freeze()

    async def work(conn):
        await events.publish(conn, Poked("r-1"))
        return conn

    conn = await env.in_transaction(work)
    assert [(name, value) for name, _, value in seen] == [("first", "r-1"), ("second", "r-1")]
    assert all(used is conn for _, used, _ in seen)
    assert sorted(row.tag for row in await env.read(select(t).where(t.c.resource_id == "r-1"))) == ["first", "second"]


async def test_a_failing_handler_stops_the_rest_and_rolls_the_transaction_back(env):
    events = Events()
    ran: list[str] = []
    t = models.tags

    async def writes(conn, event: Poked) -> None:
        ran.append("writes")
        await conn.execute(insert(t).values(resource_id=event.value, tag="written"))

    async def fails(conn, event: Poked) -> None:
        ran.append("fails")
        raise errors.InvalidInput(error_message="no")

    async def after(conn, event: Poked) -> None:  # pragma: no cover - must not run
        ran.append("after")

    for handler in (writes, fails, after):
        events.subscribe(Poked, handler)
    events.freeze()

    async def work(conn):
        await conn.execute(insert(t).values(resource_id="r-2", tag="publisher"))
        await events.publish(conn, Poked("r-2"))

    with pytest.raises(errors.InvalidInput):
        await env.in_transaction(work)
    assert ran == ["writes", "fails"]
    assert await env.count(t, t.c.resource_id == "r-2") == 0


async def test_a_failing_subscriber_rolls_back_a_subnet_create_and_every_other_subscriber(env):
    """The real wiring plus one failing handler last: the subnet row, its
    counters, its route rows, the EUI-64 addresses of the ports, the DHCP
    port and the host generations all go with the failure."""
    s = env.services
    events = Events()
    wiring.subscribe(
        events,
        ports=s.ports,
        routes=s.routes,
        security_groups=s.security_groups,
        dhcp_scheduler=s.dhcp_scheduler,
        agent_changes=s.agent_changes,
        l3_scheduler=s.l3_scheduler,
        quotas=s.quotas,
        floating_ip_service=s.floating_ips,
        port_forwardings=s.port_forwardings,
        outbox=s.outbox,
    )
    reached: list[str] = []

    async def fails(conn, event: SubnetCreated) -> None:
        reached.append(event.subnet.id)
        raise errors.InvalidInput(error_message="a subscriber refuses")

    events.subscribe(SubnetCreated, fails)
    events.freeze()
    subnets = SubnetService(env.db, env.settings, events, s.ports.ips)

    await env.report_dhcp("dhcp-host")
    await env.report_l2("l2-host")
    net = await env.network()
    await env.subnet(net["id"], "10.9.0.0/24", enable_dhcp=False)
    bound = await env.port(net["id"], **{"binding:host_id": "l2-host"})
    assert bound["binding:vif_type"] == "bridge"
    body = {
        "network_id": net["id"],
        "ip_version": 6,
        "cidr": "2001:db8:9::/64",
        "ipv6_ra_mode": "slaac",
        "ipv6_address_mode": "slaac",
        "host_routes": [{"destination": "2001:db8:ff::/64", "nexthop": "2001:db8:9::1"}],
    }

    await env.refused(errors.InvalidInput, subnets.create(ADMIN, dict(body)))
    assert len(reached) == 1  # every real subscriber ran before the failing one
    assert await env.one(models.subnets, reached[0]) is None

    # The same create through the process's own wiring writes what was rolled back.
    generations = await env.generations()
    subnet = await s.subnets.create(ADMIN, dict(body))
    p, a = models.ports, models.ip_allocations
    assert await env.count(models.routes, models.routes.c.subnet_id == subnet["id"]) == 1
    assert [row.device_owner for row in await env.read(select(p).where(p.c.network_id == net["id"]))].count(
        "network:dhcp"
    ) == 1
    assert await env.count(a, a.c.port_id == bound["id"], a.c.subnet_id == subnet["id"]) == 1
    after = await env.generations()
    assert after["l2-host"][0] > generations["l2-host"][0]
    assert after["dhcp-host"][1] > generations.get("dhcp-host", (0, 0))[1]
