"""HA and distributed routers on the wire (Neutron's ``l3-ha``, ``dvr``,
``router-admin-state-down-before-update``; docs/routers.md, docs/l3.md), on
every database: the admin-only flags and their defaults, Neutron's 400s for
changing them on an admin-up router, openstacksdk's ``ha``, and the failover
of an HA router between two simulated L3 agents when the active one's
heartbeat stops (``/v2.0/routers/{id}/l3-agents`` shows the standby active)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from quark.services.l3.router_flags import DVR_ACTIVE, HA_ACTIVE
from tests.api.test_routers import interface, make_router
from tests.api.test_sdk_workflows import connect
from tests.api.test_wire import error_of, make_network, make_subnet
from tests.dbs import migrated_database, selected_backends
from tests.servers import quark_server

DOWN_TIME = 3  # the failover server's agent_down_time
RESCHEDULE = 1.0  # and its periodic check


def put(client, router_id: str, **attrs) -> httpx.Response:
    return client.put(f"/v2.0/routers/{router_id}", json={"router": attrs})


def test_extensions_advertised(tenant):
    aliases = {e["alias"] for e in tenant.get("/v2.0/extensions").json()["extensions"]}
    assert {"l3-ha", "dvr", "l3_agent_scheduler", "router-admin-state-down-before-update"} <= aliases


def test_flags_are_admin_only_with_the_settings_defaults(tenant, admin):
    for attrs in ({"ha": True}, {"distributed": True}, {"ha": False}):
        r = tenant.post("/v2.0/routers", json={"router": attrs})
        assert error_of(r, 403) == "PolicyNotAuthorized", attrs  # giving it at all, as Neutron's policy
    mine = make_router(tenant)
    assert "ha" not in mine and "distributed" not in mine  # get_router:ha / :distributed are admin's
    shown = admin.get(f"/v2.0/routers/{mine['id']}").json()["router"]
    assert (shown["ha"], shown["distributed"]) == (False, False)  # l3_ha, router_distributed default false
    router = make_router(admin, ha=True, distributed=True)  # DVR-HA, as Neutron accepts
    assert (router["ha"], router["distributed"]) == (True, True)
    listed = admin.get("/v2.0/routers", params={"id": router["id"], "fields": ["id", "ha"]}).json()["routers"]
    assert listed == [{"id": router["id"], "ha": True}]
    r = put(tenant, mine["id"], admin_state_up=False, ha=True)
    assert error_of(r, 403) == "PolicyNotAuthorized"


def test_ha_changes_only_on_a_router_admin_down(admin):
    router = make_router(admin)
    r = put(admin, router["id"], ha=True)
    assert error_of(r, 400) == "BadRequest"
    assert HA_ACTIVE in r.json()["NeutronError"]["message"]
    assert admin.get(f"/v2.0/routers/{router['id']}").json()["router"]["ha"] is False  # refused: nothing changed
    r = put(admin, router["id"], admin_state_up=False, ha=True)  # Neutron checks the state after the update
    assert r.status_code == 200, r.text
    updated = r.json()["router"]
    assert (updated["ha"], updated["admin_state_up"]) == (True, False)
    assert updated["revision_number"] > router["revision_number"]
    assert put(admin, router["id"], ha=True).status_code == 200  # unchanged: no check
    r = put(admin, router["id"], admin_state_up=True)
    assert r.json()["router"]["ha"] is True
    assert error_of(put(admin, router["id"], ha=False), 400) == "BadRequest"


def test_distributed_changes_only_on_a_router_down_before_and_after(admin):
    router = make_router(admin, distributed=False)
    r = put(admin, router["id"], distributed=True)
    assert error_of(r, 400) == "BadRequest"
    assert DVR_ACTIVE in r.json()["NeutronError"]["message"]
    # router-admin-state-down-before-update: taking it down in the same request is not enough
    assert error_of(put(admin, router["id"], admin_state_up=False, distributed=True), 400) == "BadRequest"
    assert put(admin, router["id"], admin_state_up=False).status_code == 200
    assert put(admin, router["id"], distributed=True).json()["router"]["distributed"] is True  # centralized → DVR
    assert error_of(put(admin, router["id"], admin_state_up=True, distributed=False), 400) == "BadRequest"
    assert put(admin, router["id"], distributed=False).json()["router"]["distributed"] is False  # and back
    r = put(admin, router["id"], admin_state_up=True)
    assert (r.json()["router"]["admin_state_up"], r.json()["router"]["distributed"]) == (True, False)


def test_openstacksdk_ha_router(api_server):
    conn = connect(api_server.url)
    router = conn.network.create_router(name=f"sdk-{uuid.uuid4().hex[:6]}", is_ha=True, is_distributed=False)
    try:
        assert (router.is_ha, router.is_distributed) == (True, False)
        assert conn.network.get_router(router.id).is_ha is True
        conn.network.update_router(router, is_admin_state_up=False)
        assert conn.network.update_router(router, is_ha=False).is_ha is False
    finally:
        conn.network.delete_router(router)


# --- failover between two simulated L3 agents -----------------------------------------------


@pytest.fixture(scope="module", params=selected_backends())
def failover_server(request, tmp_path_factory):
    """A server of its own (agents die after DOWN_TIME seconds without a report
    and each check moves routers: no other test's agents may be near it)."""
    env = {"QUARK_AGENT_DOWN_TIME": str(DOWN_TIME), "QUARK_L3_RESCHEDULE_INTERVAL": str(RESCHEDULE)}
    with migrated_database(request.param, tmp_path_factory) as url:
        with quark_server(url, env=env) as server:
            yield server


class Heartbeats:
    """Reports L2 and L3 agents of ``hosts`` every 0.3 s, as running agents do;
    a host taken out of ``hosts`` goes silent."""

    def __init__(self, url: str, hosts: set[str]) -> None:
        self.url, self.hosts = url, hosts
        self.stop = threading.Event()
        self.last: dict[str, float] = {}  # host -> when its last report was answered (monotonic)

    def report(self, http: httpx.Client, host: str) -> None:
        l2 = {"bridge_mappings": {"physnet1": "eth1"}, "tunnel_ip": "192.0.2.9", "tunnel_types": ["vxlan"]}
        for agent_type, conf in (("Quark L2 agent", l2), ("L3 agent", {})):
            agent = {"host": host, "agent_type": agent_type, "binary": "x", "configurations": conf}
            http.post("/v2.0/agents/report", json={"agent": agent}).raise_for_status()
        self.last[host] = time.monotonic()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stop.wait(0.3):
                for host in sorted(self.hosts):
                    self.report(http, host)

    def __enter__(self) -> Heartbeats:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            for host in sorted(self.hosts):
                self.report(http, host)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


@pytest.fixture
def http(failover_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=failover_server.url, timeout=30) as client:
        yield client


def ha_states(http, router_id: str) -> dict[str, str]:
    r = http.get(f"/v2.0/routers/{router_id}/l3-agents")
    assert r.status_code == 200, r.text
    return {agent["host"]: agent["ha_state"] for agent in r.json()["agents"]}


def router_entry(http, host: str, router_id: str) -> dict | None:
    doc = http.get(f"/v2.0/hosts/{host}/desired_state").json()
    return next((x for x in doc["routers"] if x["id"] == router_id), None)


def test_a_dead_active_agent_fails_over_to_the_standby(failover_server, http):
    a, b = (f"ha-{x}-{uuid.uuid4().hex[:6]}" for x in "ab")
    with Heartbeats(failover_server.url, {a, b}) as beats:
        router = connect(failover_server.url).network.create_router(name="ha", is_ha=True)
        net = make_network(http)
        sub = make_subnet(http, net["id"], "10.77.0.0/24", enable_dhcp=False)
        assert interface(http, router.id, subnet_id=sub["id"]).status_code == 200
        assert ha_states(http, router.id) == {a: "active", b: "standby"}
        active, standby = router_entry(http, a, router.id), router_entry(http, b, router.id)
        assert [p["fixed_ips"][0]["ip_address"] for p in active["ports"]] == ["10.77.0.1"]
        assert (standby["ha_state"], standby["ports"]) == ("standby", [])  # no address on two hosts
        beats.hosts.discard(a)  # the active agent's heartbeat stops
        time.sleep(0.5)  # (a report under way ends)
        silent_since = beats.last[a]
        while ha_states(http, router.id) != {a: "standby", b: "active"}:
            assert time.monotonic() - silent_since < DOWN_TIME + 15, ha_states(http, router.id)
            time.sleep(0.2)
        took = time.monotonic() - silent_since
        assert took > DOWN_TIME - 1  # not before the agent is down (heartbeats are stored to the second)
        assert [p["fixed_ips"][0]["ip_address"] for p in router_entry(http, b, router.id)["ports"]] == ["10.77.0.1"]
        assert router_entry(http, a, router.id)["ports"] == []  # a, when it comes back: a standby
        [port] = http.get("/v2.0/ports", params={"device_id": router.id}).json()["ports"]
        assert port["binding:host_id"] == b
        beats.hosts.add(a)  # back: it stays a standby, b keeps the router
        time.sleep(1)
        assert ha_states(http, router.id) == {a: "standby", b: "active"}
    print(f"failover {took:.1f} s after the last heartbeat (agent_down_time {DOWN_TIME} s, check every {RESCHEDULE} s)")
