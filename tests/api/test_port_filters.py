"""What hosts are told about security groups (docs/security_groups_enforcement.md):
the filter part of the desired state, the generations of exactly the hosts a
rule, membership, address-pair or port-security change concerns, and
``port_filter`` in ``binding:vif_details``; on every database."""

from __future__ import annotations

import uuid

from tests.api.test_dataplane import bind, desired, http, l2_report, network, new_host, port, subnet

__all__ = ["http"]  # the fixture, shared with test_dataplane


def group(http, name: str, **extra) -> dict:
    r = http.post("/v2.0/security-groups", json={"security_group": {"name": name, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["security_group"]


def rule(http, group_id: str, **attrs) -> dict:
    body = {"security_group_id": group_id, "direction": "ingress", "ethertype": "IPv4", **attrs}
    r = http.post("/v2.0/security-group-rules", json={"security_group_rule": body})
    assert r.status_code == 201, r.text
    return r.json()["security_group_rule"]


def bound(http, port_id: str, host: str) -> dict:
    """Bind to ``host``'s agent, reported alive just before (this server's agents go down within seconds)."""
    l2_report(http, host)
    result = bind(http, port_id, host)
    assert result["binding:vif_type"] == "bridge", result
    return result


def generation(http, host: str) -> int:
    return desired(http, host)["generation"]


def test_desired_state_carries_ports_filters_groups_and_remote_sets(http):
    host = new_host()
    l2_report(http, host)
    net = network(http)
    subnet(http, net["id"], "10.61.0.0/24", enable_dhcp=False)
    web, peers = group(http, f"web-{uuid.uuid4().hex[:6]}"), group(http, f"peers-{uuid.uuid4().hex[:6]}")
    ssh = rule(http, web["id"], protocol="tcp", port_range_min=22, port_range_max=22, remote_ip_prefix="10.0.0.34/24")
    rule(http, web["id"], protocol="icmp", remote_group_id=peers["id"])
    pairs = [{"ip_address": "10.61.9.0/24"}]
    vm = port(http, net["id"], security_groups=[web["id"]], allowed_address_pairs=pairs)
    member = port(http, net["id"], security_groups=[peers["id"]], allowed_address_pairs=[{"ip_address": "10.9.9.9"}])
    bound(http, vm["id"], host)
    state = desired(http, host)
    (doc_port,) = state["ports"]
    assert doc_port["port_security_enabled"] is True
    assert doc_port["security_groups"] == [web["id"]]
    assert doc_port["allowed_address_pairs"] == [{"ip_address": "10.61.9.0/24", "mac_address": vm["mac_address"]}]
    assert set(state["security_groups"]) == {web["id"]}
    doc_group = state["security_groups"][web["id"]]
    assert doc_group["stateful"] is True
    assert {
        "direction": "ingress",
        "ethertype": "IPv4",
        "protocol": 6,
        "port_range_min": 22,
        "port_range_max": 22,
        "remote_ip_prefix": "10.0.0.0/24",
        "remote_group_id": None,
        "remote_address_group_id": None,
    } in doc_group["rules"]
    assert ssh["remote_ip_prefix"] == "10.0.0.34/24"  # the API keeps what was asked; hosts get the network
    icmp = [r for r in doc_group["rules"] if r["remote_group_id"] == peers["id"]]
    assert [r["protocol"] for r in icmp] == [1]
    assert [r["direction"] for r in doc_group["rules"]].count("egress") == 2  # a new group's open egress
    # one set per remote group: its members' fixed IPs and address pairs
    assert state["remote_groups"] == {peers["id"]: sorted([member["fixed_ips"][0]["ip_address"], "10.9.9.9"])}

    off = http.put(
        f"/v2.0/ports/{vm['id']}",
        json={"port": {"security_groups": [], "allowed_address_pairs": [], "port_security_enabled": False}},
    )
    assert off.status_code == 200, off.text
    state = desired(http, host)
    assert state["ports"][0]["port_security_enabled"] is False
    assert (state["security_groups"], state["remote_groups"]) == ({}, {})


def test_rule_changes_bump_exactly_the_hosts_of_the_groups_ports(http):
    host_a, host_b, idle = new_host(), new_host(), new_host()
    for host in (host_a, host_b, idle):
        l2_report(http, host)
    net = network(http)
    subnet(http, net["id"], "10.62.0.0/24", enable_dhcp=False)
    web, other = group(http, f"w-{uuid.uuid4().hex[:6]}"), group(http, f"o-{uuid.uuid4().hex[:6]}")
    bound(http, port(http, net["id"], security_groups=[web["id"]])["id"], host_a)
    bound(http, port(http, net["id"], security_groups=[other["id"]])["id"], host_b)
    before = {h: generation(http, h) for h in (host_a, host_b, idle)}

    created = rule(http, web["id"], protocol="tcp", port_range_min=22, port_range_max=22)
    after = {h: generation(http, h) for h in (host_a, host_b, idle)}
    assert after[host_a] > before[host_a]
    assert (after[host_b], after[idle]) == (before[host_b], before[idle])

    assert http.delete(f"/v2.0/security-group-rules/{created['id']}").status_code == 204
    again = {h: generation(http, h) for h in (host_a, host_b, idle)}
    assert again[host_a] > after[host_a] and (again[host_b], again[idle]) == (after[host_b], after[idle])
    assert not any(r["protocol"] == 6 for r in desired(http, host_a)["security_groups"][web["id"]]["rules"])


def test_membership_changes_bump_the_hosts_filtering_by_that_remote_group(http):
    host_a, host_b = new_host(), new_host()
    l2_report(http, host_a)
    l2_report(http, host_b)
    net = network(http)
    subnet(http, net["id"], "10.63.0.0/24", enable_dhcp=False)
    web, peers = group(http, f"w-{uuid.uuid4().hex[:6]}"), group(http, f"p-{uuid.uuid4().hex[:6]}")
    rule(http, web["id"], remote_group_id=peers["id"])
    bound(http, port(http, net["id"], security_groups=[web["id"]])["id"], host_a)

    def step(change) -> tuple[bool, bool]:
        before = generation(http, host_a), generation(http, host_b)
        change()
        return generation(http, host_a) > before[0], generation(http, host_b) > before[1]

    # an unbound port joins the remote group: host A's set changes, host B is not concerned
    joined: dict = {}
    assert step(lambda: joined.update(port(http, net["id"], security_groups=[peers["id"]]))) == (True, False)
    assert desired(http, host_a)["remote_groups"][peers["id"]] == [joined["fixed_ips"][0]["ip_address"]]
    # its address pairs
    pairs = {"port": {"allowed_address_pairs": [{"ip_address": "10.63.7.7"}]}}
    assert step(lambda: http.put(f"/v2.0/ports/{joined['id']}", json=pairs)) == (True, False)
    assert "10.63.7.7" in desired(http, host_a)["remote_groups"][peers["id"]]
    # it leaves the group (for another group)
    leave = {"port": {"security_groups": [web["id"]]}}
    assert step(lambda: http.put(f"/v2.0/ports/{joined['id']}", json=leave)) == (True, False)
    assert desired(http, host_a)["remote_groups"][peers["id"]] == []
    # a member created bound on host A: host A's own port and its remote set, one generation
    l2_report(http, host_a)
    before = generation(http, host_a)
    created = port(http, net["id"], security_groups=[peers["id"]], **{"binding:host_id": host_a})
    assert created["binding:vif_type"] == "bridge"
    assert generation(http, host_a) == before + 1
    # a port of host B changes groups only: host B's own document shows them
    mover = port(http, net["id"], security_groups=[web["id"]])
    bound(http, mover["id"], host_b)
    regroup = {"port": {"security_groups": [peers["id"]]}}
    assert step(lambda: http.put(f"/v2.0/ports/{mover['id']}", json=regroup)) == (True, True)
    assert desired(http, host_b)["ports"][0]["security_groups"] == [peers["id"]]
    assert http.delete(f"/v2.0/ports/{mover['id']}").status_code == 204
    # a member bound on host B is deleted: both hosts
    member = port(http, net["id"], security_groups=[peers["id"]])
    bound(http, member["id"], host_b)
    assert step(lambda: http.delete(f"/v2.0/ports/{member['id']}")) == (True, True)


def test_port_filter_in_vif_details_follows_the_agents_report(http):
    net = network(http)
    enforcing, plain = new_host(), new_host()
    l2_report(http, enforcing, port_filter=True)
    l2_report(http, plain)
    assert bind(http, port(http, net["id"])["id"], enforcing)["binding:vif_details"]["port_filter"] is True
    assert bind(http, port(http, net["id"])["id"], plain)["binding:vif_details"]["port_filter"] is False
