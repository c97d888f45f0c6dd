"""/v2.0/agents and POST /v2.0/agents/report against a real server, on every
database: registration by report, heartbeats, alive flipping after
agent_down_time, admin updates, delete, filters, and the body checks."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.conftest import wait_for
from tests.api.test_wire import error_of

MEMBER = {"X-Project-Id": "agents-member", "X-Roles": "member"}


@pytest.fixture
def http(dataplane_server):
    with httpx.Client(base_url=dataplane_server.url, timeout=30) as client:
        yield client


def report(http, host: str, agent_type: str = "Quark L2 agent", **extra) -> httpx.Response:
    body = {
        "host": host,
        "agent_type": agent_type,
        "binary": "quark-agent",
        "configurations": {
            "bridge_mappings": {"physnet1": "eth1"},
            "tunnel_ip": "10.0.0.1",
            "tunnel_types": ["vxlan"],
            "vlan_supported": False,
            "devices": 0,
        },
        **extra,
    }
    return http.post("/v2.0/agents/report", json={"agent": body})


def test_report_registers_and_heartbeats(http):
    host = f"host-{uuid.uuid4().hex[:8]}"
    r = report(http, host, start_flag=True)
    assert r.status_code == 200, r.text
    agent = r.json()["agent"]
    assert {k: agent[k] for k in ("host", "agent_type", "binary", "admin_state_up", "alive")} == {
        "host": host,
        "agent_type": "Quark L2 agent",
        "binary": "quark-agent",
        "admin_state_up": True,
        "alive": True,
    }
    assert agent["configurations"]["tunnel_ip"] == "10.0.0.1"
    assert set(agent) == {
        "links",
        "id",
        "agent_type",
        "binary",
        "topic",
        "host",
        "admin_state_up",
        "alive",
        "created_at",
        "started_at",
        "heartbeat_timestamp",
        "description",
        "configurations",
        "availability_zone",
        "resources_synced",
    }
    assert http.get(f"/v2.0/agents/{agent['id']}").json()["agent"]["id"] == agent["id"]

    # The same (type, host) is the same agent; another type is another one.
    again = report(http, host, configurations={"tunnel_ip": "10.0.0.9"}).json()["agent"]
    assert again["id"] == agent["id"] and again["configurations"] == {"tunnel_ip": "10.0.0.9"}
    dhcp = report(http, host, "DHCP agent", binary="quark-dhcp").json()["agent"]
    assert dhcp["id"] != agent["id"]
    listed = http.get("/v2.0/agents", params={"host": host, "sort_key": "agent_type"}).json()["agents"]
    assert [a["agent_type"] for a in listed] == ["DHCP agent", "Quark L2 agent"]
    assert [
        a["id"] for a in http.get("/v2.0/agents", params={"host": host, "agent_type": "DHCP agent"}).json()["agents"]
    ] == [dhcp["id"]]

    updated = http.put(
        f"/v2.0/agents/{agent['id']}", json={"agent": {"admin_state_up": False, "description": "maintenance"}}
    )
    assert updated.status_code == 200
    assert (updated.json()["agent"]["admin_state_up"], updated.json()["agent"]["description"]) == (False, "maintenance")
    assert report(http, host).json()["agent"]["admin_state_up"] is False  # reports keep the admin's choice
    assert error_of(http.put(f"/v2.0/agents/{agent['id']}", json={"agent": {"host": "x"}}), 400) == "HTTPBadRequest"

    assert http.delete(f"/v2.0/agents/{dhcp['id']}").status_code == 204
    assert error_of(http.get(f"/v2.0/agents/{dhcp['id']}"), 404) == "AgentNotFound"
    assert error_of(http.delete(f"/v2.0/agents/{dhcp['id']}"), 404) == "AgentNotFound"


@pytest.fixture
def fast(fast_down_server):
    """A client of the server where agents go down within seconds."""
    with httpx.Client(base_url=fast_down_server.url, timeout=30) as client:
        yield client


def test_alive_flips_after_agent_down_time(fast):
    http = fast
    host = f"host-{uuid.uuid4().hex[:8]}"
    agent = report(http, host).json()["agent"]
    assert agent["alive"] is True  # as of the report itself, however slow the machine
    wait_for(lambda: http.get(f"/v2.0/agents/{agent['id']}").json()["agent"]["alive"] is False, "the agent down")
    assert http.get("/v2.0/agents", params={"host": host, "alive": "true"}).json()["agents"] == []
    assert len(http.get("/v2.0/agents", params={"host": host, "alive": "false"}).json()["agents"]) == 1
    back = report(http, host).json()["agent"]
    assert back["alive"] is True and back["started_at"] == agent["started_at"]
    restarted = report(http, host, start_flag=True).json()["agent"]
    assert restarted["started_at"] >= agent["started_at"]


def test_report_checks_and_policy(http):
    cases = [
        {},
        {"agent": "x"},
        {"agent": {"agent_type": "Quark L2 agent"}},
        {"agent": {"host": "h"}},
        {"agent": {"host": "h", "agent_type": "Quark L2 agent", "configurations": []}},
        {"agent": {"host": "h", "agent_type": "Quark L2 agent", "start_flag": "maybe"}},
        {"agent": {"host": "h" * 256, "agent_type": "Quark L2 agent"}},
        # binary and topic are text or null: a falsy value of another type is no "" (fuzzer, issue 16)
        {"agent": {"host": "h", "agent_type": "Quark L2 agent", "topic": False}},
        {"agent": {"host": "h", "agent_type": "Quark L2 agent", "binary": 0}},
        {"agent": {"host": "h", "agent_type": "Quark L2 agent", "binary": []}},
    ]
    for body in cases:
        assert error_of(http.post("/v2.0/agents/report", json=body), 400) == "HTTPBadRequest", body
    member = http.post("/v2.0/agents/report", json={"agent": {"host": "h", "agent_type": "DHCP agent"}}, headers=MEMBER)
    assert error_of(member, 403) == "PolicyNotAuthorized"
    # Neutron: a list the policy refuses for every object is an empty one.
    listed = http.get("/v2.0/agents", headers=MEMBER)
    assert listed.status_code == 200 and listed.json() == {"agents": []}
    assert error_of(http.post("/v2.0/agents", json={"agent": {"host": "h"}}), 405) == "HTTPMethodNotAllowed"
    assert "agent" in {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}
    paths = http.get("/openapi.json").json()["paths"]
    assert "/v2.0/agents/report" in paths and "post" not in paths["/v2.0/agents"]
