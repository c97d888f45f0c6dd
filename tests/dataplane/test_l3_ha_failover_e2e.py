"""An HA router fails over to its standby host (docs/l3.md, "HA routers"),
end to end against a real `quark serve`: both hosts of ``scenario.Dataplane``
run the L3 part (router namespaces named per host: the simulated hosts share
one kernel); an HA router between two private VXLAN networks is active on
host A, host B keeps a standby namespace without an address and with
forwarding off; VMs on host B reach each other through host A. Host A dies —
its agent killed, its underlay cut, its router namespace gone — and with no
API call host B becomes active after ``agent_down_time`` (``l3-agents`` shows
it), plugs the router's ports into its namespace, and the VMs reach each
other again."""

from __future__ import annotations

import time

import pytest

from quark import names
from tests.dataplane import kernel as k
from tests.dataplane.l3_scenario import (
    FAILOVER_DOWN_TIME,
    fetch,
    kill_host_a,
    open_group,
    two_l3_hosts,
    vm,
    wait_through_host_b,
)
from tests.dataplane.scenario import Dataplane, ip_of

pytestmark = pytest.mark.slow

DOWN_TIME = FAILOVER_DOWN_TIME


def addresses(ns: str) -> str:
    return k.run("ip", "-n", ns, "-4", "-o", "addr", "show", "scope", "global").stdout.strip()


def test_a_dead_active_hosts_ha_router_goes_on_on_the_standby(l3_failover_server, tmp_path):
    dp = Dataplane(l3_failover_server.url, tmp_path)
    try:
        dp.l3_prefixes = {"hostA": "a", "hostB": "b"}
        two_l3_hosts(dp)
        net1, sub1 = dp.network("p1", cidr="10.87.0.0/24", gateway="10.87.0.1")
        net2, sub2 = dp.network("p2", cidr="10.88.0.0/24", gateway="10.88.0.1")
        group = open_group(dp)
        p1, vm1 = vm(dp, net1, "hostB", "vm1", group)
        p2, vm2 = vm(dp, net2, "hostB", "vm2", group)

        router = dp.post("/v2.0/routers", {"router": {"name": dp.spaces.tag + "r", "ha": True}})["router"]
        assert router["ha"] is True
        for sub in (sub1, sub2):
            dp.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
        ns_a = names.router_namespace(router["id"], dp.spaces.tag + "a")
        ns_b = names.router_namespace(router["id"], dp.spaces.tag + "b")

        def states() -> dict[str, str]:
            agents = dp.get(f"/v2.0/routers/{router['id']}/l3-agents")["agents"]
            return {a["host"]: a["ha_state"] for a in agents}

        assert states() == {"hostA": "active", "hostB": "standby"}
        k.wait_for(lambda: "marker-vm2" in fetch(vm1, ip_of(p2)), 30, what="vm1 -> vm2 through host A")
        k.wait_for(lambda: ns_b in k.namespaces_with_prefix(dp.spaces.tag), 15, what="host B's standby namespace")
        assert addresses(ns_b) == ""  # the standby holds no address: no duplicate on the networks
        forwarding = k.run("ip", "netns", "exec", ns_b, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip()
        assert forwarding == "0"
        assert "10.87.0.1/24" in addresses(ns_a)

        # host A dies: no agent, no network, and its router namespace gone with it
        died = kill_host_a(dp, ns_a)
        assert "marker-vm2" not in fetch(vm1, ip_of(p2))

        k.wait_for(
            lambda: states() == {"hostA": "standby", "hostB": "active"},
            DOWN_TIME + 15,
            0.2,
            what="host B active",
        )
        failed_over = time.monotonic() - died
        wait_through_host_b(dp, vm1, p1, vm2, p2)
        recovered = time.monotonic() - died
        assert "10.87.0.1/24" in addresses(ns_b) and "10.88.0.1/24" in addresses(ns_b)  # the same namespace, now active
        ports = dp.get("/v2.0/ports", device_id=router["id"])["ports"]
        assert ports and all(p["binding:host_id"] == "hostB" for p in ports), ports
        print(
            f"host A died -> host B active {failed_over:.1f} s, VMs reach each other {recovered:.1f} s "
            f"(agent_down_time {DOWN_TIME} s)"
        )
    finally:
        dp.close()
