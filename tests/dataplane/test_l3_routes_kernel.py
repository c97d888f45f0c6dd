"""The L3 part's routes in a router namespace on the real kernel: the
default route via the external gateway and the extra routes (``proto
static``), IPv4 and IPv6, host routes and defaults alike. A pass with
nothing to change changes nothing (``ip monitor route`` sees no message),
and a route gone from the plan is the only one removed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from quark import names
from quark.agent import l3_plan as plan
from quark.agent.client import AgentApiClient
from quark.agent.l3 import L3Agent, L3Config
from quark.agent.l3_plan import Device
from quark.agent.netlink import Netlink
from tests.dataplane import kernel as k

GW, IF = "c" * 8 + "-gw", "d" * 8 + "-if"
V4_HOST = ("10.8.0.5/32", "10.0.0.9")
V6_DEFAULT = ("::/0", "2001:db8:2::9")
V6_PREFIX = ("2001:db8:77::/48", "2001:db8:2::9")
V6_HOST = ("2001:db8:88::5/128", "2001:db8:2::9")
EXTRA = (V4_HOST, V6_DEFAULT, V6_PREFIX, V6_HOST)


def router(routes) -> plan.Router:
    port = {"mac_address": "fa:16:3e:00:00:01", "mtu": 1500}
    return plan.Router.from_api(
        {
            "id": "r1",
            "ports": [
                {**port, "id": GW, "kind": "gateway", "network_id": "ext", "fixed_ips": []},
                {**port, "id": IF, "kind": "interface", "network_id": "priv", "fixed_ips": []},
            ],
            "gateway": {"port_id": GW, "addresses": ["203.0.113.5"], "next_hop": "203.0.113.1"},
            "routes": [{"destination": d, "nexthop": h} for d, h in routes],
        }
    )


def kernel_routes(ns: str) -> set[tuple[str, str]]:
    """(destination, next hop) of the namespace's ``proto static`` routes, destinations as networks."""
    found = set()
    for family, zero in (("-4", "0.0.0.0/0"), ("-6", "::/0")):
        for route in json.loads(k.run("ip", "-n", ns, "-j", family, "route", "show", "proto", "static").stdout or "[]"):
            dst = zero if route["dst"] == "default" else route["dst"]
            found.add((str(ipaddress.ip_network(dst)), route.get("gateway", "")))
    return found


@contextmanager
def route_messages(ns: str) -> Iterator[list[str]]:
    """The messages about ``proto static`` routes the kernel sends while the
    block runs (``ip monitor route``; the kernel's own, like the link-local
    routes IPv6 adds when a device comes up, are not the agent's)."""
    lines: list[str] = []
    mon = subprocess.Popen(["ip", "-n", ns, "monitor", "route"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)  # listening
        yield lines
        time.sleep(0.3)  # the last messages delivered
    finally:
        mon.terminate()
        out, _ = mon.communicate(timeout=10)
        lines.extend(line for line in out.splitlines() if "proto static" in line)


def test_routes_converge_without_churn_and_only_the_dropped_route_goes(netns):
    ns = netns.add("rt")
    gw_dev, if_dev = names.vm_name(GW), names.vm_name(IF)
    k.run("ip", "-n", ns, "link", "add", gw_dev, "type", "veth", "peer", "name", if_dev)
    for dev, cidrs in ((gw_dev, ("203.0.113.5/24",)), (if_dev, ("10.0.0.1/24", "2001:db8:2::1/64"))):
        for cidr in cidrs:
            k.run("ip", "-n", ns, "addr", "add", cidr, "dev", dev, *(("nodad",) if ":" in cidr else ()))
        k.run("ip", "-n", ns, "link", "set", dev, "up")
    agent = L3Agent(cast(AgentApiClient, None), L3Config(host="h", namespace_prefix=netns.tag))
    devices = {gw_dev: Device(gw_dev), if_dev: Device(if_dev)}

    async def routes_pass(routes) -> None:
        async with Netlink(ns) as nl:
            await agent._routes(nl, router(routes), devices)

    def converge(routes) -> list[str]:
        with route_messages(ns) as messages:
            asyncio.run(routes_pass(routes))
        return messages

    converge(EXTRA)
    everything = {("0.0.0.0/0", "203.0.113.1"), *EXTRA}
    assert kernel_routes(ns) == everything

    assert converge(EXTRA) == []  # nothing removed, nothing added again
    assert kernel_routes(ns) == everything

    dropped = converge((V4_HOST, V6_PREFIX, V6_HOST))  # the IPv6 default goes, the IPv4 one stays
    assert kernel_routes(ns) == everything - {V6_DEFAULT}
    assert len(dropped) == 1 and dropped[0].startswith("Deleted default via 2001:db8:2::9"), dropped

    dropped = converge((V6_PREFIX, V6_HOST))
    assert kernel_routes(ns) == everything - {V6_DEFAULT, V4_HOST}
    assert len(dropped) == 1 and dropped[0].startswith("Deleted 10.8.0.5 via 10.0.0.9"), dropped

    assert converge((V6_PREFIX, V6_HOST)) == []
