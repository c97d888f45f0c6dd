"""The ``ipam_strategy`` network attribute (Quark extension, docs/ip_policies.md)
against a real server on every database: which address families a port
created without fixed_ips gets, and when it gets 409 IpAddressGenerationFailure.

    NEUTRON (default)  one IPv4 + one stateful IPv6 (each family the network has), else 409
    ANY                one address, IPv4 first, IPv6 when no IPv4 is free, else 409
    BOTH               one of each family when possible, at least one, else 409
    BOTH_REQUIRED      one IPv4 and one IPv6, else 409

EUI-64 addresses on SLAAC subnets come on top in every strategy and count as
IPv6. Within a family the fullest subnet with room is used first and a full
one is passed over; subnets with service_types serve only matching owners.
A refused create leaves no row behind (database row counts).
"""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from tests.api.rowcounts import row_counts
from tests.api.test_wire import error_of, make_network, make_subnet
from tests.servers import quark_server

STRATEGIES = ("NEUTRON", "ANY", "BOTH", "BOTH_REQUIRED")

# Subnets by role in a topology. A "full" subnet has a one-address pool that
# is taken before the port under test is created.
SUBNETS = {
    "v4": {"cidr": "10.30.0.0/24", "version": 4},
    "v6": {"cidr": "2001:db8:30::/64", "version": 6},
    "slaac": {"cidr": "2001:db8:31::/64", "version": 6, "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"},
}
ONE_ADDRESS = {
    "v4": [{"start": "10.30.0.10", "end": "10.30.0.10"}],
    "v6": [{"start": "2001:db8:30::10", "end": "2001:db8:30::10"}],
}
FAILS = "409"

# topology (roles; "-full" marks a full one) -> strategy -> roles the port gets addresses on, or FAILS.
EXPECTED: dict[tuple[str, ...], dict[str, tuple[str, ...] | str]] = {
    (): {"NEUTRON": (), "ANY": (), "BOTH": (), "BOTH_REQUIRED": FAILS},
    ("v4",): {"NEUTRON": ("v4",), "ANY": ("v4",), "BOTH": ("v4",), "BOTH_REQUIRED": FAILS},
    ("v6",): {"NEUTRON": ("v6",), "ANY": ("v6",), "BOTH": ("v6",), "BOTH_REQUIRED": FAILS},
    ("v4", "v6"): {"NEUTRON": ("v4", "v6"), "ANY": ("v4",), "BOTH": ("v4", "v6"), "BOTH_REQUIRED": ("v4", "v6")},
    ("v4-full", "v6"): {"NEUTRON": FAILS, "ANY": ("v6",), "BOTH": ("v6",), "BOTH_REQUIRED": FAILS},
    ("v4", "v6-full"): {"NEUTRON": FAILS, "ANY": ("v4",), "BOTH": ("v4",), "BOTH_REQUIRED": FAILS},
    ("v4-full", "v6-full"): {"NEUTRON": FAILS, "ANY": FAILS, "BOTH": FAILS, "BOTH_REQUIRED": FAILS},
    ("slaac",): {"NEUTRON": ("slaac",), "ANY": ("slaac",), "BOTH": ("slaac",), "BOTH_REQUIRED": FAILS},
    ("v4", "slaac"): {
        "NEUTRON": ("slaac", "v4"),
        "ANY": ("slaac", "v4"),
        "BOTH": ("slaac", "v4"),
        "BOTH_REQUIRED": ("slaac", "v4"),
    },
    ("v4-full", "slaac"): {"NEUTRON": FAILS, "ANY": ("slaac",), "BOTH": ("slaac",), "BOTH_REQUIRED": FAILS},
    # EUI-64 counts as IPv6 in ANY, BOTH and BOTH_REQUIRED (no stateful IPv6 address on top), not in NEUTRON:
    ("v4", "slaac", "v6"): {
        "NEUTRON": ("slaac", "v4", "v6"),
        "ANY": ("slaac", "v4"),
        "BOTH": ("slaac", "v4"),
        "BOTH_REQUIRED": ("slaac", "v4"),
    },
}
# NEUTRON is Neutron's answer: one of v4, one of v6_stateful, plus every
# v6_stateless subnet (contract §4.2; neutron/db/ipam_pluggable_backend.py
# _allocate_ips_for_port).


def cases():
    for topology, answers in EXPECTED.items():
        for strategy in STRATEGIES:
            name = "+".join(topology) or "no-subnets"
            yield pytest.param(topology, strategy, answers[strategy], id=f"{name}-{strategy}")


# --- helpers ----------------------------------------------------------------------------------


def make_port(client: httpx.Client, network_id: str, **extra) -> dict:
    r = client.post("/v2.0/ports", json={"port": {"network_id": network_id, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["port"]


def create_port(client: httpx.Client, network_id: str, **extra) -> httpx.Response:
    return client.post("/v2.0/ports", json={"port": {"network_id": network_id, **extra}})


def network_with_strategy(admin: httpx.Client, strategy: str | None) -> dict:
    """A network whose strategy is set by PUT."""
    net = make_network(admin)
    if strategy is None:
        return net
    r = admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"ipam_strategy": strategy}})
    assert r.status_code == 200, r.text
    assert r.json()["network"]["ipam_strategy"] == strategy
    return r.json()["network"]


def add_subnet(admin: httpx.Client, network_id: str, role: str, **extra) -> dict:
    spec = dict(SUBNETS[role])
    cidr, version = spec.pop("cidr"), spec.pop("version")
    dhcp = {} if role == "slaac" else {"enable_dhcp": False}  # SLAAC needs DHCP on; nothing else uses it
    return make_subnet(admin, network_id, cidr, version=version, **dhcp, **spec, **extra)


def build(admin: httpx.Client, network_id: str, topology: tuple[str, ...]) -> dict[str, str]:
    """Create the topology's subnets (filling the full ones); subnet id -> role."""
    roles = {}
    for item in topology:
        role, _, state = item.partition("-")
        pools = {"allocation_pools": ONE_ADDRESS[role]} if state == "full" else {}
        subnet = add_subnet(admin, network_id, role, **pools)
        if state == "full":
            make_port(admin, network_id, fixed_ips=[{"subnet_id": subnet["id"]}])
        roles[subnet["id"]] = role
    return roles


def roles_of(port: dict, roles: dict[str, str]) -> tuple[str, ...]:
    return tuple(sorted(roles[ip["subnet_id"]] for ip in port["fixed_ips"]))


def eui64(cidr: str, mac: str) -> str:
    """Modified EUI-64 (RFC 4291 app. A), computed independently of quark.ipam."""
    octets = bytearray(int(part, 16) for part in mac.split(":"))
    octets[0] ^= 0x02
    interface_id = int.from_bytes(bytes(octets[:3]) + b"\xff\xfe" + bytes(octets[3:]), "big")
    return str(ipaddress.IPv6Address(int(ipaddress.ip_network(cidr).network_address) | interface_id))


def addresses_on(port: dict, subnet_id: str) -> list[str]:
    return [ip["ip_address"] for ip in port["fixed_ips"] if ip["subnet_id"] == subnet_id]


# --- the strategy matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize(("topology", "strategy", "expected"), list(cases()))
def test_strategy_decides_the_families(admin, api_server, topology, strategy, expected):
    net = network_with_strategy(admin, strategy)
    roles = build(admin, net["id"], topology)
    before = row_counts(api_server.database_url, net["id"])

    r = create_port(admin, net["id"])

    if expected == FAILS:
        assert error_of(r, 409) == "IpAddressGenerationFailure"
        assert row_counts(api_server.database_url, net["id"]) == before  # nothing half-made
        return
    assert r.status_code == 201, r.text
    port = r.json()["port"]
    assert roles_of(port, roles) == expected
    for subnet_id, role in roles.items():
        if role == "slaac" and role in expected:
            assert addresses_on(port, subnet_id) == [eui64(SUBNETS["slaac"]["cidr"], port["mac_address"])]
    assert admin.get(f"/v2.0/ports/{port['id']}").json()["port"]["fixed_ips"] == port["fixed_ips"]
    assert port["ip_allocation"] == "immediate"


def test_default_strategy_is_neutron(admin, tenant):
    net = make_network(admin)
    assert net["ipam_strategy"] == "NEUTRON"
    # Admin-only: hidden from a project and refused on its PUT.
    own = make_network(tenant)
    assert "ipam_strategy" not in own
    refused = tenant.put(f"/v2.0/networks/{own['id']}", json={"network": {"ipam_strategy": "ANY"}})
    assert error_of(refused, 403) == "PolicyNotAuthorized"
    assert error_of(admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"ipam_strategy": "SOME"}}), 400) == (
        "HTTPBadRequest"
    )
    assert admin.get(f"/v2.0/networks/{net['id']}").json()["network"]["ipam_strategy"] == "NEUTRON"
    # Filterable.
    any_net = network_with_strategy(admin, "ANY")
    listed = admin.get("/v2.0/networks", params={"ipam_strategy": "ANY"}).json()["networks"]
    assert any_net["id"] in {n["id"] for n in listed} and net["id"] not in {n["id"] for n in listed}


def test_a_strategy_change_applies_to_the_next_port(admin):
    net = network_with_strategy(admin, "ANY")
    roles = build(admin, net["id"], ("v4", "v6"))
    assert roles_of(make_port(admin, net["id"]), roles) == ("v4",)
    admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"ipam_strategy": "BOTH_REQUIRED"}})
    assert roles_of(make_port(admin, net["id"]), roles) == ("v4", "v6")


def test_strategy_given_on_create_is_kept(admin):
    r = admin.post("/v2.0/networks", json={"network": {"name": "strategy-on-create", "ipam_strategy": "ANY"}})
    assert r.status_code == 201, r.text
    assert r.json()["network"]["ipam_strategy"] == "ANY"


@pytest.fixture
def both_by_default(api_server):
    """A second server on the same database whose default_ipam_strategy is BOTH."""
    env = {"QUARK_IPAM_REUSE_AFTER": "0", "QUARK_DEFAULT_IPAM_STRATEGY": "BOTH"}
    with quark_server(api_server.database_url, env=env) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client


def test_default_strategy_setting(both_by_default):
    net = make_network(both_by_default)
    assert net["ipam_strategy"] == "BOTH"
    roles = build(both_by_default, net["id"], ("v4-full", "v6"))
    assert roles_of(make_port(both_by_default, net["id"]), roles) == ("v6",)


# --- which subnet within a family ---------------------------------------------------------------


def test_fullest_subnet_with_room_first(admin):
    net = make_network(admin)
    roomy = make_subnet(admin, net["id"], "10.31.0.0/24", enable_dhcp=False)  # 253 addresses, created first
    small = make_subnet(
        admin,
        net["id"],
        "10.31.1.0/24",
        enable_dhcp=False,
        allocation_pools=[{"start": "10.31.1.2", "end": "10.31.1.6"}],
    )
    idle = make_subnet(admin, net["id"], "10.31.2.0/24", enable_dhcp=False)
    make_port(admin, net["id"], fixed_ips=[{"subnet_id": roomy["id"]}])  # 1/253 used
    make_port(admin, net["id"], fixed_ips=[{"subnet_id": small["id"]}])  # 1/5 used: the fullest

    got = [make_port(admin, net["id"])["fixed_ips"] for _ in range(5)]
    # The small subnet fills up first, in pool order ...
    assert got[:4] == [[{"subnet_id": small["id"], "ip_address": f"10.31.1.{i}"}] for i in (3, 4, 5, 6)]
    # ... then the next fullest with room (1/253 beats 0/253), never the idle one.
    assert got[4] == [{"subnet_id": roomy["id"], "ip_address": "10.31.0.3"}]
    more = make_port(admin, net["id"])["fixed_ips"]
    assert more == [{"subnet_id": roomy["id"], "ip_address": "10.31.0.4"}]
    availability = admin.get(f"/v2.0/network-ip-availabilities/{net['id']}").json()["network_ip_availability"]
    used = {s["subnet_id"]: s["used_ips"] for s in availability["subnet_ip_availability"]}
    assert used == {roomy["id"]: 3, small["id"]: 5, idle["id"]: 0}


def test_fullest_first_in_ipv6_too(admin):
    net = make_network(admin)
    wide = make_subnet(admin, net["id"], "2001:db8:32::/64", version=6, enable_dhcp=False)  # random draws
    narrow = make_subnet(
        admin,
        net["id"],
        "2001:db8:33::/64",
        version=6,
        enable_dhcp=False,
        allocation_pools=[{"start": "2001:db8:33::2", "end": "2001:db8:33::4"}],
    )
    make_port(admin, net["id"], fixed_ips=[{"subnet_id": narrow["id"]}])  # 1/3 used: the fullest
    got = [make_port(admin, net["id"])["fixed_ips"] for _ in range(3)]
    assert got[:2] == [[{"subnet_id": narrow["id"], "ip_address": f"2001:db8:33::{i}"}] for i in (3, 4)]
    # Narrow is full: the next port falls through to the wide one.
    assert [ip["subnet_id"] for ip in got[2]] == [wide["id"]]
    assert ipaddress.ip_address(got[2][0]["ip_address"]) in ipaddress.ip_network("2001:db8:32::/64")


def test_service_type_subnets_serve_only_matching_owners(admin):
    net = make_network(admin)
    general = make_subnet(
        admin,
        net["id"],
        "10.32.0.0/24",
        enable_dhcp=False,
        allocation_pools=[{"start": "10.32.0.2", "end": "10.32.0.3"}],
    )
    special = make_subnet(admin, net["id"], "10.32.1.0/24", enable_dhcp=False, service_types=["compute:special"])

    plain = [make_port(admin, net["id"]) for _ in range(2)]
    assert [p["fixed_ips"][0]["subnet_id"] for p in plain] == [general["id"]] * 2
    # The general subnet is full; the service subnet has room but not for this owner.
    refused = create_port(admin, net["id"], device_owner="compute:other")
    assert error_of(refused, 409) == "IpAddressGenerationFailure"
    matching = make_port(admin, net["id"], device_owner="compute:special")
    assert matching["fixed_ips"] == [{"subnet_id": special["id"], "ip_address": "10.32.1.2"}]

    # A service subnet is also passed over for IPv4 in the other strategies.
    admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"ipam_strategy": "ANY"}})
    assert error_of(create_port(admin, net["id"]), 409) == "IpAddressGenerationFailure"
    assert make_port(admin, net["id"], device_owner="compute:special")["fixed_ips"][0]["subnet_id"] == special["id"]


def test_no_matching_service_subnet_is_refused(admin, api_server):
    net = make_network(admin)
    make_subnet(admin, net["id"], "10.33.0.0/24", enable_dhcp=False, service_types=["compute:special"])
    before = row_counts(api_server.database_url, net["id"])
    refused = create_port(admin, net["id"], device_owner="compute:other")
    assert error_of(refused, 409) == "IpAddressGenerationFailureNoMatchingSubnet"
    assert row_counts(api_server.database_url, net["id"]) == before


# --- bulk creates: one allocation batch per family ------------------------------------------------


def create_ports(client: httpx.Client, items: list[dict]) -> httpx.Response:
    return client.post("/v2.0/ports", json={"ports": items})


def test_bulk_create_falls_through_within_one_batch(admin):
    net = make_network(admin)
    roomy = make_subnet(admin, net["id"], "10.34.0.0/24", enable_dhcp=False)
    small = make_subnet(
        admin,
        net["id"],
        "10.34.1.0/24",
        enable_dhcp=False,
        allocation_pools=[{"start": "10.34.1.2", "end": "10.34.1.6"}],
    )
    make_port(admin, net["id"], fixed_ips=[{"subnet_id": small["id"]}])  # the fullest: 4 left

    r = create_ports(admin, [{"network_id": net["id"], "name": f"bulk-{i}"} for i in range(6)])
    assert r.status_code == 201, r.text
    got = [(p["name"], p["fixed_ips"]) for p in r.json()["ports"]]
    assert got == [
        *[(f"bulk-{i}", [{"subnet_id": small["id"], "ip_address": f"10.34.1.{i + 3}"}]) for i in range(4)],
        *[(f"bulk-{i}", [{"subnet_id": roomy["id"], "ip_address": f"10.34.0.{i - 2}"}]) for i in (4, 5)],
    ]


def test_bulk_create_across_strategies(admin):
    any_net = network_with_strategy(admin, "ANY")
    any_roles = build(admin, any_net["id"], ("v4", "v6"))
    both_net = network_with_strategy(admin, "BOTH_REQUIRED")
    both_roles = build(admin, both_net["id"], ("v4", "v6"))
    neutron_net = network_with_strategy(admin, None)
    neutron_roles = build(admin, neutron_net["id"], ("v4", "slaac"))

    items = [{"network_id": net["id"]} for net in (both_net, any_net, neutron_net, any_net)]
    r = create_ports(admin, items)
    assert r.status_code == 201, r.text
    made = r.json()["ports"]
    assert roles_of(made[0], both_roles) == ("v4", "v6")
    assert roles_of(made[1], any_roles) == roles_of(made[3], any_roles) == ("v4",)
    assert roles_of(made[2], neutron_roles) == ("slaac", "v4")


def test_bulk_create_with_one_port_short_of_addresses_leaves_nothing(admin, api_server):
    net = network_with_strategy(admin, "BOTH_REQUIRED")
    build(admin, net["id"], ("v4", "v6-full"))
    other = make_network(admin)
    build(admin, other["id"], ("v4",))
    before = row_counts(api_server.database_url, net["id"]), row_counts(api_server.database_url, other["id"])

    r = create_ports(admin, [{"network_id": other["id"]}, {"network_id": net["id"]}])
    assert error_of(r, 409) == "IpAddressGenerationFailure"
    after = row_counts(api_server.database_url, net["id"]), row_counts(api_server.database_url, other["id"])
    assert after == before
