"""Neutron's ``l3_agent_scheduler`` and the periodic move off dead L3 agents,
over HTTP against a real two-worker server on every database (docs/l3.md),
and through the unmodified `openstack` CLI.

The server here has its own short ``agent_down_time`` and a half-second
rescheduling check, so no other test's agents are in its way."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.api.test_dataplane import desired, new_host
from tests.api.test_l3_hosts import l3_report
from tests.api.test_openstack_cli import osc, osc_json
from tests.dbs import migrated_database, selected_backends
from tests.servers import quark_server

DOWN_TIME = 6


@pytest.fixture(scope="module", params=selected_backends())
def server(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory) as url:
        env = {"QUARK_AGENT_DOWN_TIME": str(DOWN_TIME), "QUARK_L3_RESCHEDULE_INTERVAL": "0.5"}
        with quark_server(url, workers=2, env=env) as running:
            yield running


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def agent_of(http, host: str, agent_type: str = "L3 agent") -> dict:
    [agent] = http.get("/v2.0/agents", params={"host": host, "agent_type": agent_type}).json()["agents"]
    return agent


def only_live(http, *hosts: str) -> list[dict]:
    """``hosts`` report an L3 agent; every other L3 agent of this server is set down."""
    for host in hosts:
        l3_report(http, host)
    for agent in http.get("/v2.0/agents", params={"agent_type": "L3 agent"}).json()["agents"]:
        if agent["host"] not in hosts and agent["admin_state_up"]:
            assert http.put(f"/v2.0/agents/{agent['id']}", json={"agent": {"admin_state_up": False}}).status_code == 200
    return [agent_of(http, host) for host in hosts]


def new_router(http) -> dict:
    r = http.post("/v2.0/routers", json={"router": {"name": f"r-{uuid.uuid4().hex[:6]}"}})
    assert r.status_code == 201, r.text
    return r.json()["router"]


def hosting(http, router_id: str) -> list[str]:
    r = http.get(f"/v2.0/routers/{router_id}/l3-agents")
    assert r.status_code == 200, r.text
    return [a["id"] for a in r.json()["agents"]]


def error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    return r.json()["NeutronError"]


def test_add_list_remove_with_neutrons_errors(http):
    a, b = only_live(http, new_host(), new_host())
    router = new_router(http)
    [first] = hosting(http, router["id"])
    held, other = (a, b) if first == a["id"] else (b, a)
    # (the module's other tests' routers without a host may be placed on these agents too)
    routers = {x["id"]: x for x in http.get(f"/v2.0/agents/{held['id']}/l3-routers").json()["routers"]}
    assert routers[router["id"]]["name"] == router["name"]
    assert router["id"] not in {x["id"] for x in http.get(f"/v2.0/agents/{other['id']}/l3-routers").json()["routers"]}

    e = error(http.post(f"/v2.0/agents/{other['id']}/l3-routers", json={"router_id": router["id"]}), 409)
    assert e["type"] == "RouterHostedByL3Agent"
    assert e["message"] == f"The router {router['id']} has been already hosted by the L3 Agent {held['id']}."
    r = http.post(f"/v2.0/agents/{held['id']}/l3-routers", json={"router_id": router["id"]})
    assert r.status_code == 201 and r.json() is None  # already there: nothing changes

    # removal: unhosted, DOWN, off the host's document, and it stays so
    assert http.delete(f"/v2.0/agents/{held['id']}/l3-routers/{router['id']}").status_code == 204
    assert hosting(http, router["id"]) == []
    assert http.get(f"/v2.0/routers/{router['id']}").json()["router"]["status"] == "DOWN"
    assert router["id"] not in {x["id"] for x in desired(http, held["host"])["routers"]}
    l3_report(http, other["host"])
    time.sleep(1.2)  # a report and two periodic checks later
    assert hosting(http, router["id"]) == []

    r = http.post(f"/v2.0/agents/{other['id']}/l3-routers", json={"router_id": router["id"]})
    assert r.status_code == 201, r.text
    assert hosting(http, router["id"]) == [other["id"]]
    assert router["id"] in {x["id"] for x in desired(http, other["host"])["routers"]}
    assert http.get(f"/v2.0/routers/{router['id']}").json()["router"]["status"] == "BUILD"
    # removing it from an agent that does not host it changes nothing (Neutron's)
    assert http.delete(f"/v2.0/agents/{held['id']}/l3-routers/{router['id']}").status_code == 204
    assert hosting(http, router["id"]) == [other["id"]]


def test_bad_requests_and_policy(http, server):
    [agent] = only_live(http, new_host())
    router = new_router(http)
    missing = str(uuid.uuid4())
    assert error(http.get(f"/v2.0/routers/{missing}/l3-agents"), 404)["type"] == "RouterNotFound"
    assert error(http.get(f"/v2.0/agents/{missing}/l3-routers"), 404)["type"] == "AgentNotFound"
    assert (
        error(http.post(f"/v2.0/agents/{missing}/l3-routers", json={"router_id": router["id"]}), 404)["type"]
        == "AgentNotFound"
    )
    e = error(http.post(f"/v2.0/agents/{agent['id']}/l3-routers", json={"router_id": missing}), 404)
    assert e["type"] == "RouterNotFound"
    assert error(http.delete(f"/v2.0/agents/{agent['id']}/l3-routers/{missing}"), 404)["type"] == "RouterNotFound"
    assert error(http.post(f"/v2.0/agents/{agent['id']}/l3-routers", json={"router": router["id"]}), 400)
    assert error(http.post(f"/v2.0/agents/{agent['id']}/l3-routers", json={"router_id": 7}), 400)
    # an L2 agent, or a disabled L3 agent, cannot host routers: Neutron's InvalidL3Agent (404)
    l2 = http.post(
        "/v2.0/agents/report", json={"agent": {"host": agent["host"], "agent_type": "Quark L2 agent"}}
    ).json()["agent"]
    e = error(http.post(f"/v2.0/agents/{l2['id']}/l3-routers", json={"router_id": router["id"]}), 404)
    assert e == {
        "type": "InvalidL3Agent",
        "message": f"Agent {l2['id']} is not a L3 Agent or has been disabled",
        "detail": "",
    }
    assert http.get(f"/v2.0/agents/{l2['id']}/l3-routers").json() == {"routers": []}
    assert hosting(http, router["id"]) == [agent["id"]]  # nothing changed

    with httpx.Client(base_url=server.url, headers={"X-Project-Id": "p1", "X-Roles": "member"}) as member:
        for method, path, rule in (
            ("GET", f"/v2.0/routers/{router['id']}/l3-agents", "get_l3-agents"),
            ("GET", f"/v2.0/agents/{agent['id']}/l3-routers", "get_l3-routers"),
            ("POST", f"/v2.0/agents/{agent['id']}/l3-routers", "create_l3-router"),
            ("DELETE", f"/v2.0/agents/{agent['id']}/l3-routers/{router['id']}", "delete_l3-router"),
        ):
            r = member.request(method, path, json={"router_id": router["id"]} if method == "POST" else None)
            assert error(r, 403)["message"] == f"(rule:{rule}) is disallowed by policy.", (method, path)
    assert hosting(http, router["id"]) == [agent["id"]]
    aliases = {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}
    assert "l3_agent_scheduler" in aliases


def test_a_dead_agents_routers_move_by_the_periodic_check(http):
    """No report happens after the hosting agent dies: only the servers'
    periodic check can move the router, and the new host's document has it."""
    a, b = only_live(http, new_host(), new_host())
    router = new_router(http)
    if hosting(http, router["id"]) != [a["id"]]:
        assert http.delete(f"/v2.0/agents/{b['id']}/l3-routers/{router['id']}").status_code == 204
        assert http.post(f"/v2.0/agents/{a['id']}/l3-routers", json={"router_id": router["id"]}).status_code == 201
    l3_report(http, a["host"])
    a_reported = time.monotonic()
    time.sleep(DOWN_TIME - 2)
    l3_report(http, b["host"])  # a is still alive: nothing moves; b stays alive until after a dies
    assert hosting(http, router["id"]) == [a["id"]]
    b_reported = time.monotonic()
    while hosting(http, router["id"]) == [a["id"]]:
        assert time.monotonic() < b_reported + DOWN_TIME, "not moved while b was alive"
        time.sleep(0.2)
    moved = time.monotonic()
    assert hosting(http, router["id"]) == [b["id"]]
    assert moved > a_reported + DOWN_TIME - 1  # not before a was dead (whole-second heartbeats)
    assert router["id"] in {x["id"] for x in desired(http, b["host"])["routers"]}
    assert router["id"] not in {x["id"] for x in desired(http, a["host"])["routers"]}
    assert http.get(f"/v2.0/routers/{router['id']}").json()["router"]["status"] == "BUILD"
    agent = http.get(f"/v2.0/routers/{router['id']}/l3-agents").json()["agents"][0]
    assert agent["host"] == b["host"] and agent["alive"] is True and agent["agent_type"] == "L3 agent"


@pytest.mark.slow
def test_openstack_cli(api_server):
    """On the shared API server (agents die after 20 s there: a CLI call takes
    seconds on a loaded machine); the agents report before each call anyway,
    and are deleted at the end."""
    server = api_server
    http = httpx.Client(base_url=server.url, timeout=60)
    a, b = only_live(http, new_host(), new_host())
    try:

        def alive() -> None:
            for host in (a["host"], b["host"]):
                l3_report(http, host)

        router = new_router(http)
        [held] = hosting(http, router["id"])
        other = b if held == a["id"] else a
        listed = osc_json(server, "network", "agent", "list", "--router", router["id"])
        assert [x["ID"] for x in listed] == [held]
        alive()
        osc(server, "network", "agent", "remove", "router", "--l3", held, router["id"])
        assert osc_json(server, "network", "agent", "list", "--router", router["id"]) == []
        alive()
        osc(server, "network", "agent", "add", "router", "--l3", other["id"], router["id"])
        assert hosting(http, router["id"]) == [other["id"]]
        alive()
        assert [x["ID"] for x in osc_json(server, "network", "agent", "list", "--router", router["id"])] == [
            other["id"]
        ]
        alive()
        # other tests' routers without a host may have been placed on it too (the shared server)
        assert router["id"] in [x["ID"] for x in osc_json(server, "router", "list", "--agent", other["id"])]
        alive()
        # openstacksdk's add_router_to_agent does not raise on an error answer: the 409 is in the exchange
        tried = osc(server, "--debug", "network", "agent", "add", "router", "--l3", held, router["id"], check=False)
        assert "RESP: [409]" in tried.stderr and "RouterHostedByL3Agent" in tried.stderr
        assert hosting(http, router["id"]) == [other["id"]]
    finally:  # the shared server's other tests expect routers without L3 agents (ACTIVE, unscheduled)
        for agent in (a, b):
            http.delete(f"/v2.0/agents/{agent['id']}")
        http.close()
