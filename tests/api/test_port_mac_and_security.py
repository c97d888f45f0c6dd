"""A port's MAC after creation, its allowed address pairs, extra DHCP options
and port security, against a real server on every database.

What is pinned here (PortService.update, _change_mac, _address_pairs,
_dhcp_opts, _update_groups; contract §3.3):

- changing the MAC: refused on a bound port (409 PortBound) and for anyone
  but the network owner or an admin (403); the old MAC is given back (its
  range counts it free, another port of the network may take it), a MAC in
  use on the network is refused (409 MacAddressInUse), the same MAC on
  another network is fine;
- address pairs: the MAC defaults to the port's, duplicates and more than
  ``max_allowed_address_pairs`` are refused (400), CIDRs are kept;
- extra DHCP options merge by (opt_name, ip_version) on update and
  ``opt_value: null`` deletes one;
- without port security a port has no address pairs (409) and no security
  groups (400 when asked for, 409 when disabling on a port that has some);
  a port inherits its network's setting.

Every refused change is followed by a GET showing nothing changed.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid

import httpx
import pytest

from tests.api.test_wire import error_of, make_network, make_subnet
from tests.servers import quark_server

# --- helpers -----------------------------------------------------------------------------


def make_port(client: httpx.Client, network_id: str, **extra) -> dict:
    r = client.post("/v2.0/ports", json={"port": {"network_id": network_id, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["port"]


def create_port(client: httpx.Client, network_id: str, **extra) -> httpx.Response:
    return client.post("/v2.0/ports", json={"port": {"network_id": network_id, **extra}})


def update_port(client: httpx.Client, port_id: str, **changes) -> httpx.Response:
    return client.put(f"/v2.0/ports/{port_id}", json={"port": changes})


def get_port(client: httpx.Client, port_id: str) -> dict:
    r = client.get(f"/v2.0/ports/{port_id}")
    assert r.status_code == 200, r.text
    return r.json()["port"]


def ports_with_mac(client: httpx.Client, mac: str, network_id: str | None = None) -> list[str]:
    params = {"mac_address": mac, **({"network_id": network_id} if network_id else {})}
    r = client.get("/v2.0/ports", params=params)
    assert r.status_code == 200, r.text
    return sorted(p["id"] for p in r.json()["ports"])


def port_count(client: httpx.Client, network_id: str) -> int:
    return len(client.get("/v2.0/ports", params={"network_id": network_id}).json()["ports"])


def network_with_subnet(client: httpx.Client, cidr: str = "10.90.0.0/24", **network) -> dict:
    net = make_network(client, **network)
    make_subnet(client, net["id"], cidr, enable_dhcp=False)
    return net


def mac_range(admin: httpx.Client) -> tuple[dict, str]:
    """A MAC range of 256 of this test's own (do_not_use: nothing draws from it,
    explicit MACs inside it are still recorded) and its prefix "0a:xx:xx:xx"."""
    prefix = "0a:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
    r = admin.post(
        "/v2.0/mac_address_ranges", json={"mac_address_range": {"cidr": f"{prefix}:00:00/40", "do_not_use": True}}
    )
    assert r.status_code == 201, r.text
    return r.json()["mac_address_range"], prefix


def allocated_in(admin: httpx.Client, range_id: str) -> int:
    r = admin.get(f"/v2.0/mac_address_ranges/{range_id}")
    assert r.status_code == 200, r.text
    return r.json()["mac_address_range"]["allocated"]


def default_mac_range_id(admin: httpx.Client) -> str:
    ranges = admin.get("/v2.0/mac_address_ranges").json()["mac_address_ranges"]
    return next(r["id"] for r in ranges if r["first_address"] == "fa:16:3e:00:00:00")


def report_l2_agent(admin: httpx.Client, host: str) -> None:
    """An L2 agent alive on ``host`` that can serve VXLAN networks (see test_dataplane)."""
    configurations = {
        "bridge_mappings": {},
        "tunnel_ip": "192.0.2.1",
        "tunnel_types": ["vxlan"],
        "vlan_supported": False,
        "devices": 0,
    }
    r = admin.post(
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


def eui64(cidr: str, mac: str) -> str:
    """Modified EUI-64 (RFC 4291 app. A), computed here independently of quark.ipam."""
    octets = bytearray(int(part, 16) for part in mac.split(":"))
    octets[0] ^= 0x02
    interface_id = int.from_bytes(bytes(octets[:3]) + b"\xff\xfe" + bytes(octets[3:]), "big")
    return str(ipaddress.IPv6Address(int(ipaddress.ip_network(cidr).network_address) | interface_id))


def default_group_of(client: httpx.Client) -> str:
    groups = client.get("/v2.0/security-groups", params={"name": "default"}).json()["security_groups"]
    (group,) = [g for g in groups if g["project_id"] == (getattr(client, "project_id", None) or "fake_project_id")]
    return group["id"]


def new_group(client: httpx.Client) -> str:
    r = client.post("/v2.0/security-groups", json={"security_group": {"name": f"sg-{uuid.uuid4().hex[:6]}"}})
    assert r.status_code == 201, r.text
    return r.json()["security_group"]["id"]


def by_key(options: list[dict]) -> list[tuple]:
    return sorted((o["opt_name"], o["ip_version"], o["opt_value"]) for o in options)


# --- changing the MAC ----------------------------------------------------------------------


def test_mac_change_gives_the_old_mac_back(admin):
    rng, prefix = mac_range(admin)
    old, new = f"{prefix}:00:01", f"{prefix}:00:02"
    net = network_with_subnet(admin)
    port = make_port(admin, net["id"], mac_address=old)
    assert allocated_in(admin, rng["id"]) == 1

    changed = update_port(admin, port["id"], mac_address=new.upper())
    assert changed.status_code == 200, changed.text
    assert changed.json()["port"]["mac_address"] == new  # lower-cased, as stored
    assert changed.json()["port"]["revision_number"] == port["revision_number"] + 1
    assert get_port(admin, port["id"])["mac_address"] == new
    assert ports_with_mac(admin, old) == []
    assert ports_with_mac(admin, new) == [port["id"]]
    # The old MAC went back to its range and the new one is held: still one.
    assert allocated_in(admin, rng["id"]) == 1

    # Another port of the network may now have the old MAC; the new one is taken.
    again = make_port(admin, net["id"], mac_address=old)
    assert allocated_in(admin, rng["id"]) == 2
    taken = update_port(admin, again["id"], mac_address=new)
    assert error_of(taken, 409) == "MacAddressInUse"
    assert get_port(admin, again["id"]) == again
    assert error_of(create_port(admin, net["id"], mac_address=new), 409) == "MacAddressInUse"

    # The same MAC on another network is fine, by create and by update.
    other = network_with_subnet(admin)
    twin = make_port(admin, other["id"], mac_address=new)
    assert ports_with_mac(admin, new) == sorted([port["id"], twin["id"]])
    moved = make_port(admin, other["id"])
    assert update_port(admin, moved["id"], mac_address=old).json()["port"]["mac_address"] == old

    # Setting the MAC a port already has changes nothing.
    same = update_port(admin, port["id"], mac_address=new)
    assert same.status_code == 200 and same.json()["port"]["mac_address"] == new


def test_mac_change_releases_an_allocated_mac(admin):
    """A MAC the ranges gave (the usual case) is returned to its range."""
    default_range = default_mac_range_id(admin)
    net = network_with_subnet(admin)
    port = make_port(admin, net["id"])
    assert port["mac_address"].startswith("fa:16:3e:")
    before = allocated_in(admin, default_range)

    outside = "02:00:5e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))  # in no range
    assert update_port(admin, port["id"], mac_address=outside).status_code == 200
    assert allocated_in(admin, default_range) == before - 1
    # Explicitly asked for again on the same network: it is free there.
    back = make_port(admin, net["id"], mac_address=port["mac_address"])
    assert back["mac_address"] == port["mac_address"]
    assert allocated_in(admin, default_range) == before


def test_mac_change_refused_while_bound(admin):
    host = f"host-{uuid.uuid4().hex[:8]}"
    report_l2_agent(admin, host)
    net = network_with_subnet(admin)
    port = make_port(admin, net["id"], **{"binding:host_id": host})
    assert port["binding:vif_type"] == "bridge"

    refused = update_port(admin, port["id"], mac_address="fa:16:3e:ee:00:01")
    assert error_of(refused, 409) == "PortBound"
    assert get_port(admin, port["id"]) == port

    # Unbound, the MAC may change.
    unbound = update_port(admin, port["id"], **{"binding:host_id": None}).json()["port"]
    assert unbound["binding:vif_type"] == "unbound"
    changed = update_port(admin, port["id"], mac_address="fa:16:3e:ee:00:01")
    assert changed.status_code == 200 and changed.json()["port"]["mac_address"] == "fa:16:3e:ee:00:01"

    # A failed binding (no agent on that host) does not hold the MAC either (Neutron: VIF_UNPLUGGED_TYPES).
    failed = make_port(admin, net["id"], **{"binding:host_id": f"nohost-{uuid.uuid4().hex[:8]}"})
    assert failed["binding:vif_type"] == "binding_failed"
    retried = update_port(admin, failed["id"], mac_address="fa:16:3e:ee:00:02")
    assert retried.status_code == 200 and retried.json()["port"]["mac_address"] == "fa:16:3e:ee:00:02"


def test_mac_change_needs_the_network_owner(admin, tenant):
    shared = network_with_subnet(admin, shared=True)
    port = make_port(tenant, shared["id"])
    refused = update_port(tenant, port["id"], mac_address="fa:16:3e:ee:01:01")
    assert error_of(refused, 403) == "PolicyNotAuthorized"
    assert get_port(tenant, port["id"]) == port
    denied = create_port(tenant, shared["id"], mac_address="fa:16:3e:ee:01:02")
    assert error_of(denied, 403) == "PolicyNotAuthorized"
    assert port_count(admin, shared["id"]) == 1
    # The admin may change it.
    assert update_port(admin, port["id"], mac_address="fa:16:3e:ee:01:01").status_code == 200

    # On its own network, the project's manager may (Neutron: update_port:mac_address
    # is "role:manager and rule:network_owner"); a member may not.
    own = network_with_subnet(tenant)
    mine = make_port(tenant, own["id"])
    assert error_of(update_port(tenant, mine["id"], mac_address="fa:16:3e:ee:01:03"), 403) == "PolicyNotAuthorized"
    changed = tenant.put(
        f"/v2.0/ports/{mine['id']}", json={"port": {"mac_address": "fa:16:3e:ee:01:03"}}, headers={"X-Roles": "manager"}
    )
    assert changed.status_code == 200 and changed.json()["port"]["mac_address"] == "fa:16:3e:ee:01:03"


def test_mac_change_refused_for_network_service_ports(admin):
    net = network_with_subnet(admin)
    dhcp = make_port(admin, net["id"], device_owner="network:dhcp")
    refused = update_port(admin, dhcp["id"], mac_address="fa:16:3e:ee:02:01")
    assert error_of(refused, 409) == "UnsupportedPortDeviceOwner"
    assert get_port(admin, dhcp["id"]) == dhcp


SLAAC = "2001:db8:91::/64"


def slaac_network(admin: httpx.Client) -> tuple[dict, dict]:
    net = make_network(admin)
    subnet = make_subnet(admin, net["id"], SLAAC, version=6, ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    return net, subnet


def test_slaac_address_is_eui64_of_the_mac(admin):
    net, subnet = slaac_network(admin)
    port = make_port(admin, net["id"])
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": eui64(SLAAC, port["mac_address"])}]
    explicit = make_port(admin, net["id"], mac_address="fa:16:3e:12:34:56")
    assert explicit["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "2001:db8:91:0:f816:3eff:fe12:3456"}]


def test_a_new_slaac_subnet_gives_the_ports_their_eui64(admin):
    # Existing ports of the network get the EUI-64 address of their MAC on a
    # new SLAAC subnet (a new revision, as any change of their fixed_ips);
    # router ports get none.
    net = network_with_subnet(admin, "10.90.7.0/24")
    port = make_port(admin, net["id"])
    router = make_port(admin, net["id"], device_owner="network:router_interface")
    subnet = make_subnet(admin, net["id"], SLAAC, version=6, ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    after = get_port(admin, port["id"])
    assert {"subnet_id": subnet["id"], "ip_address": eui64(SLAAC, port["mac_address"])} in after["fixed_ips"]
    assert after["revision_number"] > port["revision_number"]
    assert [ip["subnet_id"] for ip in get_port(admin, router["id"])["fixed_ips"]] == [
        ip["subnet_id"] for ip in router["fixed_ips"]
    ]


def test_mac_change_recomputes_the_eui64_address(admin):
    net, subnet = slaac_network(admin)
    port = make_port(admin, net["id"])
    changed = update_port(admin, port["id"], mac_address="fa:16:3e:12:34:57")
    assert changed.status_code == 200, changed.text
    wanted = [{"subnet_id": subnet["id"], "ip_address": "2001:db8:91:0:f816:3eff:fe12:3457"}]
    assert changed.json()["port"]["fixed_ips"] == wanted
    assert get_port(admin, port["id"])["fixed_ips"] == wanted
    # The old EUI-64 address is no longer the port's.
    old = eui64(SLAAC, port["mac_address"])
    assert admin.get("/v2.0/ports", params={"fixed_ips": f"ip_address={old}"}).json()["ports"] == []


# --- allowed address pairs ---------------------------------------------------------------------


def test_address_pairs_default_to_the_port_mac(admin):
    net = network_with_subnet(admin)
    pairs = [
        {"ip_address": "10.90.0.50"},
        {"ip_address": "10.90.1.0/24"},
        {"ip_address": "2001:db8:92::/64"},
        {"ip_address": "10.90.0.51", "mac_address": "FA:16:3E:AA:00:01"},
    ]
    port = make_port(admin, net["id"], mac_address="fa:16:3e:aa:00:09", allowed_address_pairs=pairs)
    shown = [
        {"ip_address": "10.90.0.50", "mac_address": "fa:16:3e:aa:00:09"},
        {"ip_address": "10.90.1.0/24", "mac_address": "fa:16:3e:aa:00:09"},
        {"ip_address": "2001:db8:92::/64", "mac_address": "fa:16:3e:aa:00:09"},
        {"ip_address": "10.90.0.51", "mac_address": "fa:16:3e:aa:00:01"},
    ]
    assert port["allowed_address_pairs"] == shown
    assert get_port(admin, port["id"])["allowed_address_pairs"] == shown

    # An update replaces the list whole, defaulting to the port's MAC again.
    replaced = update_port(admin, port["id"], allowed_address_pairs=[{"ip_address": "10.90.0.60"}]).json()["port"]
    assert replaced["allowed_address_pairs"] == [{"ip_address": "10.90.0.60", "mac_address": "fa:16:3e:aa:00:09"}]
    # A MAC change alone leaves stored pairs as they are (as Neutron does) ...
    moved = update_port(admin, port["id"], mac_address="fa:16:3e:aa:00:0a").json()["port"]
    assert moved["allowed_address_pairs"] == replaced["allowed_address_pairs"]
    # ... and pairs given with the new MAC take the new MAC.
    both = update_port(
        admin, port["id"], mac_address="fa:16:3e:aa:00:0b", allowed_address_pairs=[{"ip_address": "10.90.0.61"}]
    ).json()["port"]
    assert both["allowed_address_pairs"] == [{"ip_address": "10.90.0.61", "mac_address": "fa:16:3e:aa:00:0b"}]

    assert update_port(admin, port["id"], allowed_address_pairs=[]).json()["port"]["allowed_address_pairs"] == []
    update_port(admin, port["id"], allowed_address_pairs=[{"ip_address": "10.90.0.62"}])
    assert update_port(admin, port["id"], allowed_address_pairs=None).json()["port"]["allowed_address_pairs"] == []
    assert get_port(admin, port["id"])["allowed_address_pairs"] == []


def test_duplicate_address_pairs_are_refused(admin):
    net = network_with_subnet(admin)
    mac = "fa:16:3e:aa:01:01"
    duplicates = [
        [{"ip_address": "10.90.0.70"}, {"ip_address": "10.90.0.70"}],
        # The same pair once the missing MAC is filled in with the port's.
        [{"ip_address": "10.90.0.70"}, {"ip_address": "10.90.0.70", "mac_address": mac}],
    ]
    for pairs in duplicates:
        refused = create_port(admin, net["id"], mac_address=mac, allowed_address_pairs=pairs)
        assert error_of(refused, 400) == "DuplicateAddressPairInRequest"
    assert port_count(admin, net["id"]) == 0

    port = make_port(admin, net["id"], mac_address=mac, allowed_address_pairs=[{"ip_address": "10.90.0.71"}])
    for pairs in duplicates:
        refused = update_port(admin, port["id"], allowed_address_pairs=pairs)
        assert error_of(refused, 400) == "DuplicateAddressPairInRequest"
    assert get_port(admin, port["id"]) == port

    # The same address with two different MACs is two pairs.
    distinct = [{"ip_address": "10.90.0.70"}, {"ip_address": "10.90.0.70", "mac_address": "fa:16:3e:aa:01:02"}]
    assert (
        len(update_port(admin, port["id"], allowed_address_pairs=distinct).json()["port"]["allowed_address_pairs"]) == 2
    )


def test_address_pair_limit(admin):
    net = network_with_subnet(admin)
    ten = [{"ip_address": f"10.90.2.{i}"} for i in range(10)]
    eleven = ten + [{"ip_address": "10.90.2.10"}]
    assert error_of(create_port(admin, net["id"], allowed_address_pairs=eleven), 400) == "AllowedAddressPairExhausted"
    assert port_count(admin, net["id"]) == 0

    port = make_port(admin, net["id"], allowed_address_pairs=ten)
    assert len(port["allowed_address_pairs"]) == 10
    assert error_of(update_port(admin, port["id"], allowed_address_pairs=eleven), 400) == "AllowedAddressPairExhausted"
    assert get_port(admin, port["id"]) == port


@pytest.fixture
def two_pairs_server(api_server):
    """A second server on the same database allowing two address pairs per port."""
    env = {"QUARK_IPAM_REUSE_AFTER": "0", "QUARK_MAX_ALLOWED_ADDRESS_PAIRS": "2"}
    with quark_server(api_server.database_url, env=env) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client


def test_address_pair_limit_is_the_setting(two_pairs_server):
    http = two_pairs_server
    net = network_with_subnet(http)
    three = [{"ip_address": f"10.90.3.{i}"} for i in range(3)]
    refused = create_port(http, net["id"], allowed_address_pairs=three)
    assert error_of(refused, 400) == "AllowedAddressPairExhausted"
    assert "maximum 2" in refused.json()["NeutronError"]["message"]
    assert len(make_port(http, net["id"], allowed_address_pairs=three[:2])["allowed_address_pairs"]) == 2


def test_address_pairs_need_the_network_owner(admin, tenant):
    shared = network_with_subnet(admin, shared=True)
    pairs = [{"ip_address": "10.90.0.80"}]
    assert error_of(create_port(tenant, shared["id"], allowed_address_pairs=pairs), 403) == "PolicyNotAuthorized"
    port = make_port(tenant, shared["id"])
    assert error_of(update_port(tenant, port["id"], allowed_address_pairs=pairs), 403) == "PolicyNotAuthorized"
    assert get_port(tenant, port["id"]) == port


# --- extra DHCP options -----------------------------------------------------------------------


def test_extra_dhcp_opts_merge_by_name_and_version(admin):
    net = network_with_subnet(admin)
    port = make_port(
        admin,
        net["id"],
        extra_dhcp_opts=[
            {"opt_name": "tftp-server", "opt_value": "192.0.2.10"},
            {"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
            {"opt_name": "bootfile-name", "opt_value": "boot6.efi", "ip_version": 6},
            {"opt_name": "never-set", "opt_value": None},  # null on create: no option
        ],
    )
    created = [
        ("bootfile-name", 4, "pxelinux.0"),
        ("bootfile-name", 6, "boot6.efi"),
        ("tftp-server", 4, "192.0.2.10"),
    ]
    assert by_key(port["extra_dhcp_opts"]) == created
    assert by_key(get_port(admin, port["id"])["extra_dhcp_opts"]) == created

    merged = update_port(
        admin,
        port["id"],
        extra_dhcp_opts=[
            {"opt_name": "tftp-server", "opt_value": None},  # deleted
            {"opt_name": "bootfile-name", "opt_value": "grub.efi"},  # the IPv4 one replaced, IPv6 kept
            {"opt_name": "server-ip-address", "opt_value": "2001:db8::10", "ip_version": 6},  # added
            {"opt_name": "absent", "opt_value": None},  # deleting what is not there: nothing
        ],
    )
    assert merged.status_code == 200, merged.text
    wanted = [
        ("bootfile-name", 4, "grub.efi"),
        ("bootfile-name", 6, "boot6.efi"),
        ("server-ip-address", 6, "2001:db8::10"),
    ]
    assert by_key(merged.json()["port"]["extra_dhcp_opts"]) == wanted
    assert by_key(get_port(admin, port["id"])["extra_dhcp_opts"]) == wanted
    # An empty list asks for no change (merge semantics, as in Neutron).
    assert by_key(update_port(admin, port["id"], extra_dhcp_opts=[]).json()["port"]["extra_dhcp_opts"]) == wanted
    # The IPv6 option goes only when named with its version.
    update_port(admin, port["id"], extra_dhcp_opts=[{"opt_name": "bootfile-name", "opt_value": None, "ip_version": 6}])
    assert by_key(get_port(admin, port["id"])["extra_dhcp_opts"]) == [wanted[0], wanted[2]]


# --- port security ------------------------------------------------------------------------------


def test_port_security_follows_the_network(admin):
    net = network_with_subnet(admin, port_security_enabled=False)
    plain = make_port(admin, net["id"])
    assert plain["port_security_enabled"] is False and plain["security_groups"] == []
    secured = make_port(admin, net["id"], port_security_enabled=True)
    assert secured["port_security_enabled"] is True
    assert secured["security_groups"] == [default_group_of(admin)]

    # New ports follow a change of the network's setting; existing ones keep theirs.
    admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"port_security_enabled": True}})
    later = make_port(admin, net["id"])
    assert later["port_security_enabled"] is True and later["security_groups"] == [default_group_of(admin)]
    assert get_port(admin, plain["id"])["port_security_enabled"] is False


def test_port_security_off_on_create(admin):
    net = network_with_subnet(admin)
    group = new_group(admin)
    pairs = create_port(
        admin, net["id"], port_security_enabled=False, allowed_address_pairs=[{"ip_address": "10.9.9.9"}]
    )
    assert error_of(pairs, 409) == "AddressPairAndPortSecurityRequired"
    groups = create_port(admin, net["id"], port_security_enabled=False, security_groups=[group])
    assert error_of(groups, 400) == "PortSecurityAndIPRequiredForSecurityGroups"
    # Inherited from the network, the same rules.
    closed = network_with_subnet(admin, port_security_enabled=False)
    inherited = create_port(admin, closed["id"], allowed_address_pairs=[{"ip_address": "10.9.9.9"}])
    assert error_of(inherited, 409) == "AddressPairAndPortSecurityRequired"
    assert error_of(create_port(admin, closed["id"], security_groups=[group]), 400) == (
        "PortSecurityAndIPRequiredForSecurityGroups"
    )
    assert port_count(admin, net["id"]) == port_count(admin, closed["id"]) == 0

    bare = make_port(admin, net["id"], port_security_enabled=False, security_groups=[], allowed_address_pairs=[])
    assert (bare["port_security_enabled"], bare["security_groups"], bare["allowed_address_pairs"]) == (False, [], [])


def test_port_security_off_on_update(admin):
    net = network_with_subnet(admin)
    group = new_group(admin)
    port = make_port(admin, net["id"])
    assert port["security_groups"] == [default_group_of(admin)]

    # Disabling it while the port has groups is refused; nothing changes.
    refused = update_port(admin, port["id"], port_security_enabled=False)
    assert error_of(refused, 409) == "PortSecurityPortHasSecurityGroup"
    assert get_port(admin, port["id"]) == port

    # Disabling it together with removing the groups works.
    off = update_port(admin, port["id"], port_security_enabled=False, security_groups=[])
    assert off.status_code == 200, off.text
    off_port = off.json()["port"]
    assert (off_port["port_security_enabled"], off_port["security_groups"]) == (False, [])

    # While it is off: no groups (400), no address pairs (409).
    assert error_of(update_port(admin, port["id"], security_groups=[group]), 400) == (
        "PortSecurityAndIPRequiredForSecurityGroups"
    )
    assert error_of(update_port(admin, port["id"], allowed_address_pairs=[{"ip_address": "10.9.9.9"}]), 409) == (
        "AddressPairAndPortSecurityRequired"
    )
    assert get_port(admin, port["id"]) == off_port

    # Back on with pairs and a group in one request; enabling adds no group by itself.
    on = update_port(
        admin,
        port["id"],
        port_security_enabled=True,
        allowed_address_pairs=[{"ip_address": "10.9.9.9"}],
        security_groups=[group],
    ).json()["port"]
    assert (on["port_security_enabled"], on["security_groups"]) == (True, [group])
    assert len(on["allowed_address_pairs"]) == 1
    assert update_port(admin, port["id"], security_groups=[]).json()["port"]["security_groups"] == []

    # Disabling it on a port that still has address pairs is refused too.
    pairs_left = update_port(admin, port["id"], port_security_enabled=False)
    assert error_of(pairs_left, 409) == "AddressPairAndPortSecurityRequired"
    assert get_port(admin, port["id"])["port_security_enabled"] is True
    emptied = update_port(admin, port["id"], port_security_enabled=False, allowed_address_pairs=[]).json()["port"]
    assert (emptied["port_security_enabled"], emptied["allowed_address_pairs"]) == (False, [])


def test_port_security_needs_the_network_owner(admin, tenant):
    shared = network_with_subnet(admin, shared=True)
    assert error_of(create_port(tenant, shared["id"], port_security_enabled=False), 403) == "PolicyNotAuthorized"
    port = make_port(tenant, shared["id"])
    refused = update_port(tenant, port["id"], port_security_enabled=False, security_groups=[])
    assert error_of(refused, 403) == "PolicyNotAuthorized"
    assert get_port(tenant, port["id"]) == port
