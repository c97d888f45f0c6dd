"""Quark nested create: a network with its subnets in one POST, all-or-nothing."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.test_wire import error_of
from tests.dbs import row_counts

TABLES = ("networks", "subnets", "ip_usage", "ip_policy_targets")


@pytest.fixture
def http(api_server):
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


def test_network_with_subnets_in_one_post(http):
    body = {
        "network": {
            "name": f"nested-{uuid.uuid4().hex[:6]}",
            "subnets": [
                {"subnet": {"cidr": "10.61.0.0/24", "ip_version": 4, "name": "v4"}},
                {"cidr": "2001:db8:61::/64", "ip_version": 6, "ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"},
            ],
        }
    }
    r = http.post("/v2.0/networks", json=body)
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    assert len(net["subnets"]) == 2
    subnets = http.get("/v2.0/subnets", params={"network_id": net["id"]}).json()["subnets"]
    by_version = {s["ip_version"]: s for s in subnets}
    assert by_version[4]["gateway_ip"] == "10.61.0.1" and by_version[4]["name"] == "v4"
    assert by_version[6]["ipv6_address_mode"] == "slaac"
    assert {s["id"] for s in subnets} == set(net["subnets"])
    port = http.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    assert {ip["subnet_id"] for ip in port["fixed_ips"]} == set(net["subnets"])


def test_nested_subnets_inherit_the_network_project(api_server, http):
    r = http.post(
        "/v2.0/networks",
        json={"network": {"project_id": "nested-owner", "subnets": [{"cidr": "10.62.0.0/24", "ip_version": 4}]}},
    )
    assert r.status_code == 201, r.text
    with httpx.Client(base_url=api_server.url, headers={"X-Project-Id": "nested-owner", "X-Roles": "member"}) as owner:
        assert len(owner.get("/v2.0/subnets", params={"network_id": r.json()["network"]["id"]}).json()["subnets"]) == 1


def test_a_bad_subnet_in_the_middle_leaves_nothing(api_server, http):
    before = row_counts(api_server.database_url, *TABLES)
    overlapping = {
        "network": {
            "name": "nested-bad",
            "subnets": [
                {"cidr": "10.63.0.0/24", "ip_version": 4},
                {"cidr": "10.63.0.128/25", "ip_version": 4},
            ],
        }
    }
    assert error_of(http.post("/v2.0/networks", json=overlapping), 400) == "InvalidInput"
    bulk = {
        "networks": [
            {"name": "nested-ok", "subnets": [{"cidr": "10.64.0.0/24", "ip_version": 4}]},
            {
                "name": "nested-bad",
                "subnets": [
                    {
                        "cidr": "10.65.0.0/24",
                        "ip_version": 4,
                        "allocation_pools": [{"start": "10.66.0.2", "end": "10.66.0.9"}],
                    }
                ],
            },
        ]
    }
    assert http.post("/v2.0/networks", json=bulk).status_code == 400
    assert row_counts(api_server.database_url, *TABLES) == before


def test_nested_bodies_get_the_subnet_checks(http):
    cases = [
        [{"ip_version": 4}],  # no cidr
        [{"cidr": "10.67.0.0/24", "ip_version": 4, "bogus": 1}],
        [{"cidr": "10.67.0.0/24", "ip_version": 4, "network_id": str(uuid.uuid4())}],
        ["10.67.0.0/24"],
        {"cidr": "10.67.0.0/24"},
    ]
    for subnets in cases:
        r = http.post("/v2.0/networks", json={"network": {"name": "nested-check", "subnets": subnets}})
        assert r.status_code == 400, (subnets, r.text)
    assert http.get("/v2.0/networks", params={"name": "nested-check"}).json()["networks"] == []
