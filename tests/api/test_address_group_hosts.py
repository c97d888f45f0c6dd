"""Address groups reach the hosts (docs/address_groups.md): the desired state
carries each rule's ``remote_address_group_id`` and each named group's CIDRs,
and adding or removing addresses bumps exactly the hosts whose ports' rules
name the group; on every database."""

from __future__ import annotations

import uuid

from tests.api.test_dataplane import desired, http, l2_report, network, new_host, port, subnet
from tests.api.test_port_filters import bound, generation, group, rule

__all__ = ["http"]  # the fixture, shared with test_dataplane


def address_group(http, addresses: list[str]) -> dict:
    body = {"address_group": {"name": f"ag-{uuid.uuid4().hex[:6]}", "addresses": addresses}}
    r = http.post("/v2.0/address-groups", json=body)
    assert r.status_code == 201, r.text
    return r.json()["address_group"]


def change(http, group_id: str, action: str, addresses: list[str]) -> None:
    r = http.put(f"/v2.0/address-groups/{group_id}/{action}", json={"addresses": addresses})
    assert r.status_code == 200, r.text


def test_address_changes_reach_exactly_the_hosts_filtering_by_the_group(http):
    using, other, idle = new_host(), new_host(), new_host()
    for host in (using, other, idle):
        l2_report(http, host)
    net = network(http)
    subnet(http, net["id"], "10.63.0.0/24", enable_dhcp=False)
    web, plain = group(http, f"w-{uuid.uuid4().hex[:6]}"), group(http, f"p-{uuid.uuid4().hex[:6]}")
    admins = address_group(http, ["198.51.100.7/24", "2001:db8:7::/48"])
    unused = address_group(http, ["203.0.113.0/24"])
    rule(http, web["id"], protocol="tcp", port_range_min=22, port_range_max=22, remote_address_group_id=admins["id"])
    bound(http, port(http, net["id"], security_groups=[web["id"]])["id"], using)
    bound(http, port(http, net["id"], security_groups=[plain["id"]])["id"], other)

    state = desired(http, using)
    named = [r for r in state["security_groups"][web["id"]]["rules"] if r["remote_address_group_id"]]
    assert named == [
        {
            "direction": "ingress",
            "ethertype": "IPv4",
            "protocol": 6,
            "port_range_min": 22,
            "port_range_max": 22,
            "remote_ip_prefix": None,
            "remote_group_id": None,
            "remote_address_group_id": admins["id"],
        }
    ]
    assert state["address_groups"] == {admins["id"]: ["198.51.100.0/24", "2001:db8:7::/48"]}
    assert desired(http, other)["address_groups"] == {}

    before = {h: generation(http, h) for h in (using, other, idle)}
    change(http, admins["id"], "add_addresses", ["192.0.2.0/25"])
    after = {h: generation(http, h) for h in (using, other, idle)}
    assert after[using] > before[using]
    assert (after[other], after[idle]) == (before[other], before[idle])
    assert desired(http, using)["address_groups"][admins["id"]] == [
        "192.0.2.0/25",
        "198.51.100.0/24",
        "2001:db8:7::/48",
    ]

    change(http, admins["id"], "remove_addresses", ["198.51.100.0/24"])
    again = {h: generation(http, h) for h in (using, other, idle)}
    assert again[using] > after[using] and (again[other], again[idle]) == (after[other], after[idle])
    assert desired(http, using)["address_groups"][admins["id"]] == ["192.0.2.0/25", "2001:db8:7::/48"]

    # a group no rule names concerns no host
    change(http, unused["id"], "add_addresses", ["203.0.114.0/24"])
    assert {h: generation(http, h) for h in (using, other, idle)} == again
