"""Binding, host desired state (long-poll), port status and DHCP scheduling
against a real server, on every database (docs/agent_api.md).

Each test uses its own host names; agents are registered by reporting, and
go down DATAPLANE_DOWN_TIME seconds after their last report (longer than a test;
the death of an agent is tested on the fast_down_server).
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from quark import names
from tests.api.conftest import wait_for
from tests.api.test_wire import error_of

MEMBER = {"X-Project-Id": "dp-member", "X-Roles": "member"}
# The longest long-poll wait the API takes (61 is a 400: test_host_api_checks).
MAX_WAIT = 60


@pytest.fixture
def http(dataplane_server):
    with httpx.Client(base_url=dataplane_server.url, timeout=90) as client:
        yield client


def new_host() -> str:
    return f"host-{uuid.uuid4().hex[:8]}"


def l2_report(http, host: str, tunnel_ip: str = "192.0.2.1", **conf) -> dict:
    configurations = {
        "bridge_mappings": {"physnet1": "eth1"},
        "tunnel_ip": tunnel_ip,
        "tunnel_types": ["vxlan"],
        "vlan_supported": False,
        "devices": 0,
        **conf,
    }
    r = http.post(
        "/v2.0/agents/report",
        json={
            "agent": {
                "host": host,
                "agent_type": "Quark L2 agent",
                "binary": "quark-agent",
                "configurations": configurations,
            }
        },
    )
    assert r.status_code == 200, r.text
    return r.json()["agent"]


def dhcp_report(http, host: str) -> dict:
    r = http.post(
        "/v2.0/agents/report",
        json={"agent": {"host": host, "agent_type": "DHCP agent", "binary": "quark-dhcp", "configurations": {}}},
    )
    assert r.status_code == 200, r.text
    return r.json()["agent"]


def network(http, **provider) -> dict:
    r = http.post("/v2.0/networks", json={"network": {"name": "dp", **provider}})
    assert r.status_code == 201, r.text
    return r.json()["network"]


def subnet(http, network_id: str, cidr: str, **extra) -> dict:
    r = http.post("/v2.0/subnets", json={"subnet": {"network_id": network_id, "ip_version": 4, "cidr": cidr, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["subnet"]


def port(http, network_id: str, **extra) -> dict:
    r = http.post("/v2.0/ports", json={"port": {"network_id": network_id, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["port"]


def bind(http, port_id: str, host: str | None, **extra) -> dict:
    r = http.put(f"/v2.0/ports/{port_id}", json={"port": {"binding:host_id": host, **extra}})
    assert r.status_code == 200, r.text
    return r.json()["port"]


def desired(http, host: str, **params) -> dict:
    r = http.get(f"/v2.0/hosts/{host}/desired_state", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def dhcp_state(http, host: str, **params) -> dict:
    r = http.get(f"/v2.0/hosts/{host}/dhcp_state", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def status(http, host: str, ports: dict) -> httpx.Response:
    return http.put(f"/v2.0/hosts/{host}/port_status", json={"ports": ports})


# --- binding ---------------------------------------------------------------------------


def test_bind_to_a_live_agent_and_unbind(http):
    host = new_host()
    net = network(http)
    subnet(http, net["id"], "10.50.0.0/24", enable_dhcp=False)
    p = port(http, net["id"], device_owner="compute:nova", device_id=str(uuid.uuid4()))
    assert (p["status"], p["binding:vif_type"]) == ("DOWN", "unbound")

    failed = bind(http, p["id"], host)  # no agent on that host
    assert (failed["binding:vif_type"], failed["binding:vif_details"], failed["status"]) == (
        "binding_failed",
        {},
        "DOWN",
    )
    assert failed["binding:host_id"] == host

    l2_report(http, host)
    bound = bind(http, p["id"], host)
    assert bound["binding:vif_type"] == "bridge" and bound["status"] == "BUILD"
    assert bound["binding:vif_details"] == {
        "bridge_name": names.bridge_name(net["id"]),
        "device_name": names.tap_name(p["id"]),
        "vm_device_name": names.vm_name(p["id"]),
        "connectivity": "l2",
        "port_filter": False,
    }
    assert http.get(f"/v2.0/ports/{p['id']}").json()["port"]["binding:vif_type"] == "bridge"

    down = http.put(f"/v2.0/ports/{p['id']}", json={"port": {"admin_state_up": False}}).json()["port"]
    assert down["status"] == "DOWN" and down["binding:vif_type"] == "bridge"
    up = http.put(f"/v2.0/ports/{p['id']}", json={"port": {"admin_state_up": True}}).json()["port"]
    assert up["status"] == "BUILD"

    unbound = bind(http, p["id"], None)
    assert (
        unbound["binding:host_id"],
        unbound["binding:vif_type"],
        unbound["binding:vif_details"],
        unbound["status"],
    ) == ("", "unbound", {}, "DOWN")

    # Bound at create time, admin down: bridge, DOWN.
    created = port(http, net["id"], **{"binding:host_id": host, "admin_state_up": False})
    assert (created["binding:vif_type"], created["status"]) == ("bridge", "DOWN")


def test_binding_needs_an_agent_able_to_serve_the_segment(http):
    host = new_host()
    l2_report(http, host, bridge_mappings={"physnet1": "eth1"}, vlan_supported=False)
    phys = f"ph{uuid.uuid4().hex[:6]}"
    flat = network(http, **{"provider:network_type": "flat", "provider:physical_network": phys})
    vlan = network(
        http, **{"provider:network_type": "vlan", "provider:physical_network": phys, "provider:segmentation_id": 300}
    )
    p_flat, p_vlan = port(http, flat["id"]), port(http, vlan["id"])
    assert bind(http, p_flat["id"], host)["binding:vif_type"] == "binding_failed"  # phys not mapped
    assert bind(http, p_vlan["id"], host)["binding:vif_type"] == "binding_failed"

    # The agent learns the mapping: its report rebinds the failed ports of its host.
    l2_report(http, host, bridge_mappings={phys: "eth2"}, vlan_supported=False)
    assert http.get(f"/v2.0/ports/{p_flat['id']}").json()["port"]["binding:vif_type"] == "bridge"
    assert http.get(f"/v2.0/ports/{p_flat['id']}").json()["port"]["status"] == "BUILD"
    assert http.get(f"/v2.0/ports/{p_vlan['id']}").json()["port"]["binding:vif_type"] == "binding_failed"
    l2_report(http, host, bridge_mappings={phys: "eth2"}, vlan_supported=True)
    assert http.get(f"/v2.0/ports/{p_vlan['id']}").json()["port"]["binding:vif_type"] == "bridge"

    # vxlan needs a tunnel address.
    other = new_host()
    l2_report(http, other, tunnel_ip="")
    vx = network(http)
    assert bind(http, port(http, vx["id"])["id"], other)["binding:vif_type"] == "binding_failed"

    # An agent taken down by the admin binds nothing.
    agent = l2_report(http, host, bridge_mappings={phys: "eth2"}, vlan_supported=True)
    http.put(f"/v2.0/agents/{agent['id']}", json={"agent": {"admin_state_up": False}})
    assert bind(http, port(http, flat["id"])["id"], host)["binding:vif_type"] == "binding_failed"
    http.put(f"/v2.0/agents/{agent['id']}", json={"agent": {"admin_state_up": True}})
    assert bind(http, port(http, flat["id"])["id"], host)["binding:vif_type"] == "bridge"


def test_a_dead_agent_binds_nothing(fast_down_server):
    with httpx.Client(base_url=fast_down_server.url, timeout=90) as http:
        host = new_host()
        agent = l2_report(http, host)
        net = network(http)
        wait_for(lambda: http.get(f"/v2.0/agents/{agent['id']}").json()["agent"]["alive"] is False, "the agent down")
        assert bind(http, port(http, net["id"])["id"], host)["binding:vif_type"] == "binding_failed"
        l2_report(http, host)  # alive again: it binds
        assert bind(http, port(http, net["id"])["id"], host)["binding:vif_type"] != "binding_failed"


# --- desired state ------------------------------------------------------------------------


def test_desired_state_document_and_peers(http):
    host_a, host_b = new_host(), new_host()
    l2_report(http, host_a, tunnel_ip="192.0.2.10")
    l2_report(http, host_b, tunnel_ip="192.0.2.11")
    empty = desired(http, host_a)
    assert (empty["host"], empty["ports"], empty["networks"]) == (host_a, [], [])
    net = network(http)
    sub = subnet(http, net["id"], "10.51.0.0/24", enable_dhcp=False)
    seg = http.get(f"/v2.0/networks/{net['id']}").json()["network"]["provider:segmentation_id"]
    pa = bind(http, port(http, net["id"], device_owner="compute:nova", device_id="vm-a")["id"], host_a)
    state = desired(http, host_a)
    assert state["generation"] > empty["generation"]
    assert state["ports"] == [
        {
            "id": pa["id"],
            "mac_address": pa["mac_address"],
            "network_id": net["id"],
            "admin_state_up": True,
            "status": "BUILD",
            "device_owner": "compute:nova",
            "device_id": "vm-a",
            "device_name": names.tap_name(pa["id"]),
            "vm_device_name": names.vm_name(pa["id"]),
            "bridge_name": names.bridge_name(net["id"]),
            "mtu": 1450,
            "fixed_ips": [{"subnet_id": sub["id"], "ip_address": pa["fixed_ips"][0]["ip_address"]}],
            "port_security_enabled": True,
            "allowed_address_pairs": [],
            "security_groups": pa["security_groups"],
        }
    ]
    assert state["networks"] == [
        {
            "id": net["id"],
            "network_type": "vxlan",
            "physical_network": None,
            "segmentation_id": seg,
            "mtu": 1450,
            "bridge_name": names.bridge_name(net["id"]),
            "peers": [],
        }
    ]

    # A port of the network bound on B: A's peers change (and its generation).
    pb = bind(http, port(http, net["id"])["id"], host_b)
    after = desired(http, host_a)
    assert after["generation"] > state["generation"] and after["networks"][0]["peers"] == ["192.0.2.11"]
    assert desired(http, host_b)["networks"][0]["peers"] == ["192.0.2.10"]
    # B's tunnel address moves: A is told.
    l2_report(http, host_b, tunnel_ip="192.0.2.12")
    moved = desired(http, host_a)
    assert moved["generation"] > after["generation"] and moved["networks"][0]["peers"] == ["192.0.2.12"]
    # B leaves the network: A's peers are empty again.
    assert http.delete(f"/v2.0/ports/{pb['id']}").status_code == 204
    left = desired(http, host_a)
    assert left["generation"] > moved["generation"] and left["networks"][0]["peers"] == []

    # Changes to A's port: admin state, addresses; unbinding empties the document.
    g = left["generation"]
    http.put(f"/v2.0/ports/{pa['id']}", json={"port": {"admin_state_up": False}})
    s1 = desired(http, host_a)
    assert s1["generation"] > g and s1["ports"][0]["admin_state_up"] is False and s1["ports"][0]["status"] == "DOWN"
    http.put(
        f"/v2.0/ports/{pa['id']}", json={"port": {"fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.51.0.77"}]}}
    )
    s2 = desired(http, host_a)
    assert s2["generation"] > s1["generation"] and s2["ports"][0]["fixed_ips"][0]["ip_address"] == "10.51.0.77"
    http.put(f"/v2.0/ports/{pa['id']}", json={"port": {"name": "renamed"}})  # nothing an agent shows
    assert desired(http, host_a)["generation"] == s2["generation"]
    http.put(f"/v2.0/networks/{net['id']}", json={"network": {"mtu": 1400}})
    s3 = desired(http, host_a)
    assert s3["generation"] > s2["generation"] and s3["ports"][0]["mtu"] == s3["networks"][0]["mtu"] == 1400
    bind(http, pa["id"], "")
    gone = desired(http, host_a)
    assert gone["generation"] > s3["generation"] and gone["ports"] == [] and gone["networks"] == []


def test_desired_state_long_poll(http):
    host = new_host()
    l2_report(http, host)
    net = network(http)
    current = desired(http, host)["generation"]

    started = time.monotonic()
    unchanged = desired(http, host, since=current, wait=2)
    held = time.monotonic() - started
    # Held for the wait asked: not answered at once, nor held for the longest wait allowed.
    assert 1.8 <= held < MAX_WAIT / 2 and unchanged["generation"] == current, held

    other = desired(http, host, since=current - 1, wait=30)  # a different generation: at once
    assert other["generation"] == current

    p = port(http, net["id"])

    def change() -> float:
        """Bind the port once the poll below is held; the time just before the bind."""
        time.sleep(1.0)
        with httpx.Client(base_url=str(http.base_url), timeout=30) as other_client:
            l2_report(other_client, host)  # alive again after the waits above (no port yet: no change)
            changed_at = time.monotonic()
            bound = bind(other_client, p["id"], host)
        assert bound["binding:vif_type"] == "bridge", bound
        return changed_at

    with ThreadPoolExecutor(1) as pool:
        changing = pool.submit(change)
        woke = desired(http, host, since=current, wait=MAX_WAIT)
        returned = time.monotonic()
        changed_at = changing.result()  # a failed change fails here, with its own message
    assert woke["generation"] != current and [x["id"] for x in woke["ports"]] == [p["id"]]
    # Woken by the change (within a fraction of a second in practice), not by the wait running out.
    assert returned - changed_at < MAX_WAIT / 2, returned - changed_at


def test_host_api_checks(http):
    for params in ({"since": "x"}, {"wait": "61"}, {"wait": "-1"}, {"wait": "soon"}):
        assert error_of(http.get("/v2.0/hosts/h/desired_state", params=params), 400) == "HTTPBadRequest"
        assert error_of(http.get("/v2.0/hosts/h/dhcp_state", params=params), 400) == "HTTPBadRequest"
    for body in ({}, {"ports": []}, {"ports": {"x": "UP"}}, {"ports": {"x": "BUILD"}}, {"ports": {}, "x": 1}):
        assert error_of(http.put("/v2.0/hosts/h/port_status", json=body), 400) == "HTTPBadRequest", body
    for call in (
        lambda: http.get("/v2.0/hosts/h/desired_state", headers=MEMBER),
        lambda: http.get("/v2.0/hosts/h/dhcp_state", headers=MEMBER),
        lambda: http.put("/v2.0/hosts/h/port_status", json={"ports": {}}, headers=MEMBER),
    ):
        assert error_of(call(), 403) == "PolicyNotAuthorized"
    assert status(http, "h", {}).json() == {"updated": []}


# --- port status ----------------------------------------------------------------------------


def test_port_status_only_for_ports_on_that_host(http):
    host, elsewhere = new_host(), new_host()
    l2_report(http, host)
    l2_report(http, elsewhere)
    net = network(http)
    mine = bind(http, port(http, net["id"])["id"], host)
    theirs = bind(http, port(http, net["id"])["id"], elsewhere)
    unbound = port(http, net["id"])
    g = desired(http, host)["generation"]

    r = status(
        http, host, {mine["id"]: "ACTIVE", theirs["id"]: "ACTIVE", unbound["id"]: "ACTIVE", "no-such-port": "ACTIVE"}
    )
    assert r.status_code == 200 and r.json() == {"updated": [mine["id"]]}
    assert http.get(f"/v2.0/ports/{mine['id']}").json()["port"]["status"] == "ACTIVE"
    assert http.get(f"/v2.0/ports/{theirs['id']}").json()["port"]["status"] == "BUILD"
    assert http.get(f"/v2.0/ports/{unbound['id']}").json()["port"]["status"] == "DOWN"
    state = desired(http, host)
    assert state["generation"] > g and state["ports"][0]["status"] == "ACTIVE"
    # Bound again to the same host (Nova does): stays ACTIVE.
    assert bind(http, mine["id"], host)["status"] == "ACTIVE"

    assert status(http, host, {mine["id"]: "DOWN"}).json() == {"updated": [mine["id"]]}
    assert http.get(f"/v2.0/ports/{mine['id']}").json()["port"]["status"] == "DOWN"
    assert status(http, host, {mine["id"]: "ACTIVE"}).json() == {"updated": [mine["id"]]}
    # Admin down: DOWN at once, and the agent cannot make it ACTIVE.
    http.put(f"/v2.0/ports/{mine['id']}", json={"port": {"admin_state_up": False}})
    assert http.get(f"/v2.0/ports/{mine['id']}").json()["port"]["status"] == "DOWN"
    assert status(http, host, {mine["id"]: "ACTIVE"}).json() == {"updated": []}
    assert http.get(f"/v2.0/ports/{mine['id']}").json()["port"]["status"] == "DOWN"
    assert status(http, host, {mine["id"]: "ERROR"}).json() == {"updated": [mine["id"]]}
    assert http.get(f"/v2.0/ports/{mine['id']}").json()["port"]["status"] == "ERROR"


# --- DHCP ------------------------------------------------------------------------------------


def no_dhcp_agent_up(http) -> None:
    """Set every DHCP agent other tests reported on this shared server admin-down
    (they stay alive for DATAPLANE_DOWN_TIME), so that a test's DHCP scheduling
    sees its own agent only; no waiting."""
    for agent in http.get("/v2.0/agents", params={"agent_type": "DHCP agent"}).json()["agents"]:
        if not agent["admin_state_up"]:
            continue
        r = http.put(f"/v2.0/agents/{agent['id']}", json={"agent": {"admin_state_up": False}})
        assert r.status_code == 200, r.text


def test_dhcp_port_scheduled_and_dhcp_state(http):
    no_dhcp_agent_up(http)  # else the least loaded of them might be another test's
    host = new_host()
    l2_report(http, host)
    dhcp_report(http, host)
    net = network(http)
    before = dhcp_state(http, host)
    sub = subnet(http, net["id"], "10.52.0.0/24", dns_nameservers=["10.52.0.53"])
    dhcp_ports = http.get("/v2.0/ports", params={"network_id": net["id"], "device_owner": "network:dhcp"}).json()[
        "ports"
    ]
    assert len(dhcp_ports) == 1
    dport = dhcp_ports[0]
    assert (
        dport["device_id"],
        dport["binding:host_id"],
        dport["binding:vif_type"],
        dport["port_security_enabled"],
        dport["security_groups"],
    ) == (f"dhcp-{net['id']}", host, "bridge", False, [])
    assert [ip["subnet_id"] for ip in dport["fixed_ips"]] == [sub["id"]]
    assert [x["id"] for x in desired(http, host)["ports"]] == [dport["id"]]  # the L2 agent plugs it too

    state = dhcp_state(http, host)
    assert state["generation"] > before["generation"]
    [entry] = [x for x in state["networks"] if x["id"] == net["id"]]
    assert entry["dhcp_port"] == {
        "id": dport["id"],
        "mac_address": dport["mac_address"],
        "device_name": names.tap_name(dport["id"]),
        "vm_device_name": names.vm_name(dport["id"]),
        "fixed_ips": dport["fixed_ips"],
    }
    assert entry["bridge_name"] == names.bridge_name(net["id"]) and entry["network_type"] == "vxlan"
    assert entry["subnets"] == [
        {
            "id": sub["id"],
            "cidr": "10.52.0.0/24",
            "ip_version": 4,
            "gateway_ip": "10.52.0.1",
            "dns_nameservers": ["10.52.0.53"],
            "host_routes": [],
            "enable_dhcp": True,
            "ipv6_address_mode": None,
            "ipv6_ra_mode": None,
        }
    ]
    assert entry["hosts"] == []

    # A port of the network appears in the hosts list at once (new generation).
    vm = port(http, net["id"], dns_name="web1")
    after = dhcp_state(http, host, since=state["generation"], wait=10)
    assert after["generation"] > state["generation"]
    [entry] = [x for x in after["networks"] if x["id"] == net["id"]]
    assert entry["hosts"] == [
        {
            "port_id": vm["id"],
            "mac_address": vm["mac_address"],
            "ip_address": vm["fixed_ips"][0]["ip_address"],
            "subnet_id": sub["id"],
            "hostname": "web1",
        }
    ]
    plain = port(http, net["id"])
    ip = plain["fixed_ips"][0]["ip_address"]
    hosts = [x for x in dhcp_state(http, host)["networks"] if x["id"] == net["id"]][0]["hosts"]
    assert {
        "port_id": plain["id"],
        "mac_address": plain["mac_address"],
        "ip_address": ip,
        "subnet_id": sub["id"],
        "hostname": "host-" + ip.replace(".", "-"),
    } in hosts
    g = dhcp_state(http, host)["generation"]
    assert http.delete(f"/v2.0/ports/{plain['id']}").status_code == 204
    later = dhcp_state(http, host)
    assert later["generation"] > g
    assert [h["port_id"] for x in later["networks"] if x["id"] == net["id"] for h in x["hosts"]] == [vm["id"]]

    # A second DHCP subnet gives the DHCP port an address on it.
    sub2 = subnet(http, net["id"], "10.53.0.0/24")
    dport = http.get(f"/v2.0/ports/{dport['id']}").json()["port"]
    assert sorted(ip["subnet_id"] for ip in dport["fixed_ips"]) == sorted([sub["id"], sub2["id"]])

    # The last DHCP subnet going removes the DHCP port (and the network from dhcp_state).
    assert http.delete(f"/v2.0/ports/{vm['id']}").status_code == 204
    assert http.delete(f"/v2.0/subnets/{sub2['id']}").status_code == 204
    assert http.get(f"/v2.0/ports/{dport['id']}").status_code == 200
    assert http.put(f"/v2.0/subnets/{sub['id']}", json={"subnet": {"enable_dhcp": False}}).status_code == 200
    assert http.get(f"/v2.0/ports/{dport['id']}").status_code == 404
    assert net["id"] not in [x["id"] for x in dhcp_state(http, host)["networks"]]
    assert http.delete(f"/v2.0/networks/{net['id']}").status_code == 204


def test_dhcp_agent_report_schedules_waiting_networks(http):
    # A network whose DHCP subnet came while no DHCP agent was alive gets its
    # port when a DHCP agent reports (here: a new one). Without setting the others
    # admin-down, a DHCP agent reported by a test just before would take the port at once.
    no_dhcp_agent_up(http)
    net = network(http)
    subnet(http, net["id"], "10.54.0.0/24")
    dhcp_of_net = {"network_id": net["id"], "device_owner": "network:dhcp"}
    assert http.get("/v2.0/ports", params=dhcp_of_net).json()["ports"] == []  # waiting
    host = new_host()
    l2_report(http, host)
    dhcp_report(http, host)
    dhcp_ports = http.get("/v2.0/ports", params=dhcp_of_net).json()["ports"]
    assert len(dhcp_ports) == 1
    assert dhcp_ports[0]["binding:host_id"] == host  # the only DHCP agent alive
    # Deleting the network takes its DHCP port along.
    assert http.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    assert http.get(f"/v2.0/ports/{dhcp_ports[0]['id']}").status_code == 404


def test_route_changes_reach_the_dhcp_hosts(http):
    # The DHCP document shows a subnet's host_routes: a route added, changed or
    # removed through /v2.0/routes (docs/routes.md) tells the subnet's DHCP
    # host, as a host_routes update of the subnet does.
    dhcp_report(http, new_host())
    net = network(http)
    sub = subnet(http, net["id"], "10.79.0.0/24")
    dhcp_ports = http.get("/v2.0/ports", params={"network_id": net["id"], "device_owner": "network:dhcp"}).json()
    [dhcp_host] = [p["binding:host_id"] for p in dhcp_ports["ports"]]  # the least loaded live DHCP agent's

    def document() -> tuple[int, list[dict]]:
        state = http.get(f"/v2.0/hosts/{dhcp_host}/dhcp_state").json()
        [entry] = [x for x in state["networks"] if x["id"] == net["id"]]
        [shown] = entry["subnets"]
        return state["generation"], shown["host_routes"]

    generation, routes = document()
    assert routes == []
    route = http.post(
        "/v2.0/routes", json={"route": {"subnet_id": sub["id"], "cidr": "192.168.79.0/24", "gateway": "10.79.0.254"}}
    ).json()["route"]
    after_create, routes = document()
    assert after_create > generation
    assert routes == [{"destination": "192.168.79.0/24", "nexthop": "10.79.0.254"}]
    assert http.put(f"/v2.0/routes/{route['id']}", json={"route": {"gateway": "10.79.0.253"}}).status_code == 200
    after_update, routes = document()
    assert after_update > after_create
    assert routes == [{"destination": "192.168.79.0/24", "nexthop": "10.79.0.253"}]
    assert http.delete(f"/v2.0/routes/{route['id']}").status_code == 204
    after_delete, routes = document()
    assert after_delete > after_update and routes == []
