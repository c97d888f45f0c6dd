"""The L3 part's HA roles on the real kernel (docs/l3.md, "HA routers"): for
an HA router its document names ``standby``, the agent keeps the router's
namespace with forwarding off and nothing that answers, reports the ha_state
once (not again while the document shows it) and no router status (the
active host's); made ``active``, forwarding goes on and the new state is
reported; a router gone from the document loses its namespace."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

from quark.agent.client import AgentApiClient
from quark.agent.l3 import L3Agent, L3Config
from tests.dataplane import kernel as k


class Recorder:
    """The agent API client's status calls, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def l3_status(self, host: str, routers: dict, floating_ips: dict, ha_states: dict | None = None) -> dict:
        self.calls.append(("l3_status", (routers, floating_ips, ha_states)))
        return {}

    async def port_status(self, host: str, statuses: dict) -> list:
        self.calls.append(("port_status", statuses))
        return []


def entry(router_id: str, ha_state: str, reported: str | None) -> dict:
    return {
        "id": router_id,
        "admin_state_up": True,
        "status": "BUILD",
        "enable_snat": True,
        "ha": True,
        "ha_state": ha_state,
        "reported_ha_state": reported,
        "ports": [],
        "gateway": None,
        "routes": [],
        "floating_ips": [],
        "port_forwardings": [],
    }


def forwarding(ns: str) -> str:
    return k.run("ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip()


def test_standby_keeps_an_inert_namespace_and_reports_its_state(netns):
    k.require_tools("nft")
    router_id = str(uuid.uuid4())
    client = Recorder()
    agent = L3Agent(cast(AgentApiClient, client), L3Config(host="h", namespace_prefix=netns.tag))
    ns = agent.namespace(router_id)

    def converge(*routers: dict) -> list[tuple[str, Any]]:
        client.calls.clear()
        asyncio.run(agent.converge_once({"generation": 1, "routers": list(routers)}))
        return list(client.calls)

    calls = converge(entry(router_id, "standby", None))
    assert ns in k.namespaces_with_prefix(netns.tag)
    assert forwarding(ns) == "0"
    assert k.run("ip", "-n", ns, "-4", "-j", "addr", "show", "scope", "global").stdout.strip() in ("", "[]")
    assert calls == [("l3_status", ({}, {}, {router_id: "standby"}))]  # no router status: the active's
    assert converge(entry(router_id, "standby", "standby")) == []  # shown: not reported again

    calls = converge(entry(router_id, "active", "standby"))  # the server failed over to this host
    assert forwarding(ns) == "1"
    assert ("l3_status", ({}, {}, {router_id: "active"})) in calls
    assert any(kind == "l3_status" and body[0] == {router_id: "ACTIVE"} for kind, body in calls)  # its status now

    converge()  # no longer in the document (after the first pass, stale namespaces go)
    assert ns not in k.namespaces_with_prefix(netns.tag)
