"""A dead L3 host's router is realised by another (docs/l3.md), end to end
against a real `quark serve`: both hosts of ``scenario.Dataplane`` run the L3
part; a router between two private VXLAN networks lands on host A (a tie:
the first by name); VMs on host B reach each other through it. Host A dies —
its agent killed and its underlay cut, so its old router namespace can route
nothing — and with no API call the router moves to host B after
``agent_down_time``, host B's agents plug and realise it, and the VMs reach
each other again."""

from __future__ import annotations

import time

import pytest

from tests.dataplane import kernel as k
from tests.dataplane.l3_scenario import (
    FAILOVER_DOWN_TIME,
    fetch,
    kill_host_a,
    open_group,
    router_namespace,
    two_l3_hosts,
    vm,
    wait_through_host_b,
)
from tests.dataplane.scenario import Dataplane, ip_of

pytestmark = pytest.mark.slow

DOWN_TIME = FAILOVER_DOWN_TIME


def test_a_dead_l3_hosts_router_is_realised_by_another(l3_failover_server, tmp_path):
    dp = Dataplane(l3_failover_server.url, tmp_path)
    try:
        two_l3_hosts(dp)
        net1, sub1 = dp.network("p1", cidr="10.83.0.0/24", gateway="10.83.0.1")
        net2, sub2 = dp.network("p2", cidr="10.84.0.0/24", gateway="10.84.0.1")
        group = open_group(dp)
        p1, vm1 = vm(dp, net1, "hostB", "vm1", group)
        p2, vm2 = vm(dp, net2, "hostB", "vm2", group)

        router = dp.post("/v2.0/routers", {"router": {"name": dp.spaces.tag + "r"}})["router"]
        for sub in (sub1, sub2):
            dp.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
        [agent] = dp.get(f"/v2.0/routers/{router['id']}/l3-agents")["agents"]
        assert agent["host"] == "hostA"
        k.wait_for(lambda: "marker-vm2" in fetch(vm1, ip_of(p2)), 30, what="vm1 -> vm2 through host A")

        # host A dies: no agent, no network, and its router namespace gone with it (the
        # simulated hosts share one kernel's namespace names: host B makes its own)
        died = kill_host_a(dp, router_namespace(dp, router["id"]))
        assert "marker-vm2" not in fetch(vm1, ip_of(p2))

        def moved() -> bool:
            agents = dp.get(f"/v2.0/routers/{router['id']}/l3-agents")["agents"]
            return [a["host"] for a in agents] == ["hostB"]

        k.wait_for(moved, DOWN_TIME + 15, 0.2, what="the router rescheduled to host B")
        wait_through_host_b(dp, vm1, p1, vm2, p2)
        recovered = time.monotonic() - died
        ports = dp.get("/v2.0/ports", device_id=router["id"])["ports"]
        assert ports and all(p["binding:host_id"] == "hostB" for p in ports), ports
        k.wait_for(
            lambda: dp.get(f"/v2.0/routers/{router['id']}")["router"]["status"] == "ACTIVE",
            15,
            what="router ACTIVE on host B",
        )
        assert router_namespace(dp, router["id"]) in k.run("ip", "netns", "list").stdout  # host B's
        print(f"host A died -> VMs reach each other through host B: {recovered:.1f} s (agent_down_time {DOWN_TIME} s)")
    finally:
        dp.close()
