"""Keyset pages on sort keys whose values are NULL or booleans: every item once,
in the order of the whole list, NULLs first ascending on every database."""

from __future__ import annotations

import pytest

from tests.api.test_wire import make_network, make_subnet


def paged(client, path: str, key: str, params: dict) -> list[str]:
    """The ids of every page of one item, each asked with the previous one's last id as marker."""
    ids: list[str] = []
    while True:
        query = {**params, "limit": 1, **({"marker": ids[-1]} if ids else {})}
        items = client.get(path, params=query).json()[key]
        assert len(items) <= 1
        if not items:
            return ids
        ids.append(items[0]["id"])


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_pages_on_a_nullable_key(tenant, direction):
    net = make_network(tenant)
    v4 = [make_subnet(tenant, net["id"], f"10.77.{i}.0/24") for i in range(2)]
    v6 = [
        make_subnet(tenant, net["id"], f"fd77:{i}::/64", 6, ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
        for i in range(2)
    ]
    params = {"network_id": net["id"], "sort_key": ["ipv6_ra_mode", "id"], "sort_dir": [direction, "asc"]}
    whole = [s["id"] for s in tenant.get("/v2.0/subnets", params=params).json()["subnets"]]
    nulls = sorted(s["id"] for s in v4)
    modes = sorted(s["id"] for s in v6)
    assert whole == (nulls + modes if direction == "asc" else modes + nulls)
    assert paged(tenant, "/v2.0/subnets", "subnets", params) == whole


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_pages_on_a_boolean_key(tenant, direction):
    net = make_network(tenant)
    states = [True, False, True, False]
    for state in states:
        r = tenant.post("/v2.0/ports", json={"port": {"network_id": net["id"], "admin_state_up": state}})
        assert r.status_code == 201, r.text
    params = {"network_id": net["id"], "sort_key": "admin_state_up", "sort_dir": direction}
    whole = tenant.get("/v2.0/ports", params=params).json()["ports"]
    assert [p["admin_state_up"] for p in whole] == sorted(states, reverse=direction == "desc")
    assert paged(tenant, "/v2.0/ports", "ports", params) == [p["id"] for p in whole]
