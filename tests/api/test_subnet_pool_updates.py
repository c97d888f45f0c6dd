"""Allocation-pool and gateway updates of a subnet against a real server on
every database (SubnetService._pools_and_gateway, IpAllocator.cursor_after_pool_change,
SubnetService._check_stranded; contract §4.1).

- A grown pool is allocatable at once, addresses added below the allocator's
  cursor included (the cursor moves back to them), and a full pool that grows
  serves again; taken addresses inside the new range are skipped.
- A pool change that would leave a held address outside the pools is refused
  (409 AllocationPoolStrandsAddresses, a Quark rule: Neutron allows it) and
  changes nothing; shrinking around free or released addresses works, and what
  was cut off is never handed out.
- gateway_ip: inside a pool → 409 GatewayConflictWithAllocationPools; the
  network or broadcast address, or the other IP version → 400 InvalidInput;
  outside the CIDR is allowed (as in Neutron: its subnet is unknown); null
  removes it and leaves the pools as they are.
- allocation_pools read back as set; network-ip-availabilities' total follows.

Subnets have DHCP off so that no DHCP port takes an address; the server runs
with QUARK_IPAM_REUSE_AFTER=0 (tests/api/conftest.py).
"""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_wire import error_of, make_network, make_subnet

V4 = "10.40.0.0/24"
V6 = "2001:db8:40::/64"


def address(version: int, n: int) -> str:
    """The n-th address of this file's subnet of ``version`` (n in hex for IPv6, canonical)."""
    return f"10.40.0.{n}" if version == 4 else f"2001:db8:40::{n:x}"


def pools(version: int, *ranges: tuple[int, int]) -> list[dict]:
    return [{"start": address(version, lo), "end": address(version, hi)} for lo, hi in ranges]


def subnet_with_pools(admin: httpx.Client, version: int, *ranges: tuple[int, int], **extra) -> tuple[dict, dict]:
    net = make_network(admin)
    cidr = V4 if version == 4 else V6
    subnet = make_subnet(
        admin, net["id"], cidr, version=version, enable_dhcp=False, allocation_pools=pools(version, *ranges), **extra
    )
    return net, subnet


def update_subnet(admin: httpx.Client, subnet_id: str, **changes) -> httpx.Response:
    return admin.put(f"/v2.0/subnets/{subnet_id}", json={"subnet": changes})


def get_subnet(admin: httpx.Client, subnet_id: str) -> dict:
    r = admin.get(f"/v2.0/subnets/{subnet_id}")
    assert r.status_code == 200, r.text
    return r.json()["subnet"]


def next_address(admin: httpx.Client, network_id: str) -> str:
    r = admin.post("/v2.0/ports", json={"port": {"network_id": network_id}})
    assert r.status_code == 201, r.text
    (fixed,) = r.json()["port"]["fixed_ips"]
    return fixed["ip_address"]


def addresses(admin: httpx.Client, network_id: str, count: int) -> list[str]:
    return [next_address(admin, network_id) for _ in range(count)]


def exhausted(admin: httpx.Client, network_id: str) -> bool:
    r = admin.post("/v2.0/ports", json={"port": {"network_id": network_id}})
    return error_of(r, 409) == "IpAddressGenerationFailure"


def total_ips(admin: httpx.Client, network_id: str) -> tuple[int, int]:
    r = admin.get(f"/v2.0/network-ip-availabilities/{network_id}")
    assert r.status_code == 200, r.text
    availability = r.json()["network_ip_availability"]
    return availability["total_ips"], availability["used_ips"]


def port_at(admin: httpx.Client, network_id: str, ip: str) -> dict:
    r = admin.post("/v2.0/ports", json={"port": {"network_id": network_id, "fixed_ips": [{"ip_address": ip}]}})
    assert r.status_code == 201, r.text
    return r.json()["port"]


# --- growing --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [4, 6])
def test_growing_below_the_cursor(admin, version):
    net, subnet = subnet_with_pools(admin, version, (10, 20))
    at = lambda *ns: [address(version, n) for n in ns]  # noqa: E731
    assert addresses(admin, net["id"], 3) == at(10, 11, 12)
    assert total_ips(admin, net["id"]) == (11, 3)

    grown = update_subnet(admin, subnet["id"], allocation_pools=pools(version, (5, 20)))
    assert grown.status_code == 200, grown.text
    assert grown.json()["subnet"]["allocation_pools"] == pools(version, (5, 20))
    assert get_subnet(admin, subnet["id"])["allocation_pools"] == pools(version, (5, 20))
    assert total_ips(admin, net["id"]) == (16, 3)

    # The new, lower addresses first; then on past the taken ones.
    assert addresses(admin, net["id"], 6) == at(5, 6, 7, 8, 9, 13)


def test_growing_a_full_pool(admin):
    net, subnet = subnet_with_pools(admin, 4, (10, 12))
    assert addresses(admin, net["id"], 3) == ["10.40.0.10", "10.40.0.11", "10.40.0.12"]
    assert exhausted(admin, net["id"])

    update_subnet(admin, subnet["id"], allocation_pools=pools(4, (10, 14)))
    assert addresses(admin, net["id"], 2) == ["10.40.0.13", "10.40.0.14"]
    assert exhausted(admin, net["id"])

    # Grown on both sides at once, with an address taken explicitly inside the new range.
    port_at(admin, net["id"], "10.40.0.16")
    update_subnet(admin, subnet["id"], allocation_pools=pools(4, (8, 17)))
    assert addresses(admin, net["id"], 3) == ["10.40.0.8", "10.40.0.9", "10.40.0.15"]
    assert addresses(admin, net["id"], 1) == ["10.40.0.17"]  # .16 is skipped
    assert exhausted(admin, net["id"])
    assert total_ips(admin, net["id"]) == (10, 10)


def test_a_second_pool_is_used_after_the_first(admin):
    net, subnet = subnet_with_pools(admin, 4, (10, 11))
    assert addresses(admin, net["id"], 2) == ["10.40.0.10", "10.40.0.11"]
    # Given out of order; read back sorted by start.
    changed = update_subnet(admin, subnet["id"], allocation_pools=pools(4, (30, 31), (10, 11)))
    assert changed.json()["subnet"]["allocation_pools"] == pools(4, (10, 11), (30, 31))
    assert addresses(admin, net["id"], 2) == ["10.40.0.30", "10.40.0.31"]
    assert exhausted(admin, net["id"])


def test_ipv6_pools_read_back_canonical(admin):
    net, subnet = subnet_with_pools(admin, 6, (16, 32))
    changed = update_subnet(
        admin, subnet["id"], allocation_pools=[{"start": "2001:DB8:40:0::A", "end": "2001:db8:40::0:30"}]
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["subnet"]["allocation_pools"] == [{"start": "2001:db8:40::a", "end": "2001:db8:40::30"}]
    assert next_address(admin, net["id"]) == "2001:db8:40::a"


# --- shrinking ------------------------------------------------------------------------------------


def test_shrinking_that_strands_a_held_address_is_refused(admin):
    net, subnet = subnet_with_pools(admin, 4, (10, 20))
    assert addresses(admin, net["id"], 3) == ["10.40.0.10", "10.40.0.11", "10.40.0.12"]
    before = get_subnet(admin, subnet["id"])

    for cut in [((13, 20),), ((10, 11),), ((10, 11), (13, 20))]:
        refused = update_subnet(admin, subnet["id"], allocation_pools=pools(4, *cut))
        assert error_of(refused, 409) == "AllocationPoolStrandsAddresses"
        assert get_subnet(admin, subnet["id"]) == before
    assert total_ips(admin, net["id"]) == (11, 3)
    assert next_address(admin, net["id"]) == "10.40.0.13"  # the cursor did not move

    # An address held without a port strands just the same.
    held = admin.post("/v2.0/ip_addresses", json={"ip_address": {"network_id": net["id"], "ip_address": "10.40.0.18"}})
    assert held.status_code == 201, held.text
    refused = update_subnet(admin, subnet["id"], allocation_pools=pools(4, (10, 17)))
    assert error_of(refused, 409) == "AllocationPoolStrandsAddresses"
    assert "10.40.0.18" in refused.json()["NeutronError"]["message"]
    assert get_subnet(admin, subnet["id"])["allocation_pools"] == pools(4, (10, 20))


def test_shrinking_around_free_addresses(admin):
    net, subnet = subnet_with_pools(admin, 4, (10, 20))
    assert addresses(admin, net["id"], 3) == ["10.40.0.10", "10.40.0.11", "10.40.0.12"]
    # Cut out free .13-.16, where the cursor stands.
    cut = update_subnet(admin, subnet["id"], allocation_pools=pools(4, (10, 12), (17, 20)))
    assert cut.status_code == 200, cut.text
    assert get_subnet(admin, subnet["id"])["allocation_pools"] == pools(4, (10, 12), (17, 20))
    assert total_ips(admin, net["id"]) == (7, 3)
    assert addresses(admin, net["id"], 4) == ["10.40.0.17", "10.40.0.18", "10.40.0.19", "10.40.0.20"]
    assert exhausted(admin, net["id"])
    assert total_ips(admin, net["id"]) == (7, 7)


def test_shrinking_around_released_and_outside_addresses(admin):
    net, subnet = subnet_with_pools(admin, 4, (10, 20))
    ports = [admin.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"] for _ in range(3)]
    assert [p["fixed_ips"][0]["ip_address"] for p in ports] == ["10.40.0.10", "10.40.0.11", "10.40.0.12"]
    outside = port_at(admin, net["id"], "10.40.0.100")  # held, but in no pool
    assert admin.delete(f"/v2.0/ports/{ports[2]['id']}").status_code == 204  # .12 released

    # .12 is released and .100 was never in a pool: neither blocks the change.
    cut = update_subnet(admin, subnet["id"], allocation_pools=pools(4, (10, 11)))
    assert cut.status_code == 200, cut.text
    assert exhausted(admin, net["id"])  # .12 is not handed out again once outside the pools

    # Grown over .100: it is skipped, and .12 comes back into use.
    update_subnet(admin, subnet["id"], allocation_pools=pools(4, (10, 12), (99, 101)))
    assert set(addresses(admin, net["id"], 3)) == {"10.40.0.12", "10.40.0.99", "10.40.0.101"}
    assert exhausted(admin, net["id"])
    assert admin.get(f"/v2.0/ports/{outside['id']}").json()["port"]["fixed_ips"][0]["ip_address"] == "10.40.0.100"


# --- pool validation on update ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "status", "kind"),
    [
        pytest.param([{"start": "10.40.0.20", "end": "10.40.0.10"}], 400, "InvalidAllocationPool", id="reversed"),
        pytest.param([{"start": "2001:db8::1", "end": "2001:db8::2"}], 400, "InvalidAllocationPool", id="version"),
        pytest.param([{"start": "10.40.0.10", "end": "10.40.1.10"}], 400, "OutOfBoundsAllocationPool", id="outside"),
        pytest.param([{"start": "10.40.0.0", "end": "10.40.0.10"}], 400, "OutOfBoundsAllocationPool", id="network"),
        pytest.param([{"start": "10.40.0.250", "end": "10.40.0.255"}], 400, "OutOfBoundsAllocationPool", id="bcast"),
        pytest.param(
            [{"start": "10.40.0.10", "end": "10.40.0.20"}, {"start": "10.40.0.20", "end": "10.40.0.30"}],
            409,
            "OverlappingAllocationPools",
            id="overlap",
        ),
        pytest.param([{"start": "10.40.0.1", "end": "10.40.0.10"}], 409, "GatewayConflictWithAllocationPools", id="gw"),
    ],
)
def test_invalid_pools_change_nothing(admin, bad, status, kind):
    net, subnet = subnet_with_pools(admin, 4, (10, 20))
    before = get_subnet(admin, subnet["id"])
    assert error_of(update_subnet(admin, subnet["id"], allocation_pools=bad), status) == kind
    assert get_subnet(admin, subnet["id"]) == before
    assert total_ips(admin, net["id"]) == (11, 0)


# --- gateway ------------------------------------------------------------------------------------------------


def test_gateway_updates(admin):
    net = make_network(admin)
    subnet = make_subnet(admin, net["id"], V4, enable_dhcp=False)
    assert (subnet["gateway_ip"], subnet["allocation_pools"]) == (
        "10.40.0.1",
        [{"start": "10.40.0.2", "end": "10.40.0.254"}],
    )
    before = get_subnet(admin, subnet["id"])

    refusals = [
        ("10.40.0.50", 409, "GatewayConflictWithAllocationPools"),  # inside the pool
        ("10.40.0.0", 400, "InvalidInput"),  # the network address
        ("10.40.0.255", 400, "InvalidInput"),  # the broadcast address
        ("2001:db8::1", 400, "InvalidInput"),  # the other version
        ("not-an-address", 400, "HTTPBadRequest"),
    ]
    for gateway, status, kind in refusals:
        assert error_of(update_subnet(admin, subnet["id"], gateway_ip=gateway), status) == kind, gateway
        assert get_subnet(admin, subnet["id"]) == before

    # Outside the CIDR is accepted, as in Neutron (check_gateway_invalid_in_subnet cannot judge it).
    outside = update_subnet(admin, subnet["id"], gateway_ip="10.41.0.1")
    assert outside.status_code == 200 and outside.json()["subnet"]["gateway_ip"] == "10.41.0.1"

    # null removes it; the pools stay as they were.
    cleared = update_subnet(admin, subnet["id"], gateway_ip=None).json()["subnet"]
    assert (cleared["gateway_ip"], cleared["allocation_pools"]) == (None, before["allocation_pools"])
    assert get_subnet(admin, subnet["id"])["gateway_ip"] is None
    # Without a gateway the pool may cover .1; a gateway there is then refused.
    assert update_subnet(admin, subnet["id"], allocation_pools=pools(4, (1, 254))).status_code == 200
    assert error_of(update_subnet(admin, subnet["id"], gateway_ip="10.40.0.1"), 409) == (
        "GatewayConflictWithAllocationPools"
    )
    assert total_ips(admin, net["id"]) == (254, 0)

    # Gateway and pools in one request are checked together.
    both = update_subnet(admin, subnet["id"], gateway_ip="10.40.0.254", allocation_pools=pools(4, (1, 253)))
    assert both.status_code == 200, both.text
    shown = get_subnet(admin, subnet["id"])
    assert (shown["gateway_ip"], shown["allocation_pools"]) == ("10.40.0.254", pools(4, (1, 253)))
    # The former gateway address joined the pool below the cursor: it is handed out first.
    assert next_address(admin, net["id"]) == "10.40.0.1"
