"""Unmodified openstacksdk against a real `quark serve`, on every database.

The flows a cloud's users run: networks with IPv4 and IPv6 subnets, ports
with every way of asking for addresses, updates, deletes, lists with
filters / fields / sorting / pagination (links followed by the SDK), tags,
If-Match, two projects kept apart, and the error types clients branch on.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from openstack import exceptions as sdk_exc
from openstack.connection import Connection


def connect(url: str, project: str | None = None, roles: str = "member") -> Connection:
    headers = {"X-Project-Id": project, "X-Roles": roles} if project else {}
    return Connection(session=ks_session.Session(auth=noauth.NoAuth(endpoint=url), additional_headers=headers))


@pytest.fixture(scope="module")
def admin(api_server):
    return connect(api_server.url)


@pytest.fixture(scope="module")
def alice(api_server):
    return connect(api_server.url, f"alice-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def bob(api_server):
    return connect(api_server.url, f"bob-{uuid.uuid4().hex[:6]}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def dual_stack(conn: Connection, v4: str = "10.40.0.0/24", v6: str = "2001:db8:40::/64"):
    net = conn.network.create_network(name=unique("net"))
    sub4 = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr=v4, name=unique("v4"))
    sub6 = conn.network.create_subnet(network_id=net.id, ip_version=6, cidr=v6, name=unique("v6"))
    return net, sub4, sub6


def test_network_subnets_and_port_shapes(alice):
    net, sub4, sub6 = dual_stack(alice)
    assert net.status == "ACTIVE" and net.project_id == alice.session.additional_headers["X-Project-Id"]
    assert sub4.gateway_ip == "10.40.0.1"
    assert sub4.allocation_pools == [{"start": "10.40.0.2", "end": "10.40.0.254"}]
    assert sub6.gateway_ip == "2001:db8:40::"
    assert sub6.allocation_pools == [{"start": "2001:db8:40::1", "end": "2001:db8:40:0:ffff:ffff:ffff:ffff"}]
    assert sorted(alice.network.get_network(net.id).subnet_ids) == sorted([sub4.id, sub6.id])

    port = alice.network.create_port(network_id=net.id, name=unique("port"))
    assert port.status == "DOWN"
    assert port.mac_address.startswith("fa:16:3e:")
    families = sorted(ip["subnet_id"] for ip in port.fixed_ips)
    assert families == sorted([sub4.id, sub6.id])
    assert port.binding_vif_type is None  # admin-only attributes are left out for members
    assert port.created_at.endswith("Z") and port.revision_number == 0


def test_port_address_requests(alice):
    net, sub4, _ = dual_stack(alice, "10.41.0.0/24", "2001:db8:41::/64")
    only_v4 = alice.network.create_port(network_id=net.id, fixed_ips=[{"subnet_id": sub4.id}])
    assert [ip["subnet_id"] for ip in only_v4.fixed_ips] == [sub4.id]
    exact = alice.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": "10.41.0.77"}])
    assert exact.fixed_ips == [{"subnet_id": sub4.id, "ip_address": "10.41.0.77"}]
    with pytest.raises(sdk_exc.ConflictException, match="already allocated"):
        alice.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": "10.41.0.77"}])
    none = alice.network.create_port(network_id=net.id, fixed_ips=[])
    assert none.fixed_ips == []

    # Updating fixed_ips releases and allocates in one step; the released
    # address is free again (the test server has no reuse delay).
    moved = alice.network.update_port(exact, fixed_ips=[{"ip_address": "10.41.0.78"}])
    assert moved.fixed_ips == [{"subnet_id": sub4.id, "ip_address": "10.41.0.78"}]
    taker = alice.network.create_port(network_id=net.id, fixed_ips=[{"ip_address": "10.41.0.77"}])
    assert taker.fixed_ips[0]["ip_address"] == "10.41.0.77"


def test_slaac_subnet_gives_eui64(alice):
    net = alice.network.create_network(name=unique("slaac"))
    sub = alice.network.create_subnet(
        network_id=net.id, ip_version=6, cidr="2001:db8:42::/64", ipv6_ra_mode="slaac", ipv6_address_mode="slaac"
    )
    port = alice.network.create_port(network_id=net.id)
    mac = port.mac_address.split(":")
    first = f"{int(mac[0], 16) ^ 2:02x}"
    expected = f"2001:db8:42::{first}{mac[1]}:{mac[2]}ff:fe{mac[3]}:{mac[4]}{mac[5]}"
    import ipaddress

    assert port.fixed_ips == [{"subnet_id": sub.id, "ip_address": str(ipaddress.ip_address(expected))}]


def test_list_filters_fields_sorting_and_pagination(alice):
    net = alice.network.create_network(name=unique("list"))
    alice.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.43.0.0/24")
    names = [unique(f"p{i}") for i in range(7)]
    for name in names:
        alice.network.create_port(network_id=net.id, name=name, device_owner="compute:nova")
    listed = list(alice.network.ports(network_id=net.id, sort_key="name", sort_dir="desc", limit=2))
    assert [p.name for p in listed] == sorted(names, reverse=True)  # the SDK followed the next links
    by_name = list(alice.network.ports(name=names[3]))
    assert [p.name for p in by_name] == [names[3]]
    address = by_name[0].fixed_ips[0]["ip_address"]
    by_ip = list(alice.network.ports(fixed_ips=f"ip_address={address}"))
    assert [p.id for p in by_ip] == [by_name[0].id]
    assert len(list(alice.network.ports(network_id=net.id, device_owner="compute:nova"))) == 7


def test_pagination_links_on_the_wire(api_server, admin):
    net = admin.network.create_network(name=unique("links"))
    for i in range(3):
        admin.network.create_port(network_id=net.id, name=f"l{i}")
    page = httpx.get(f"{api_server.url}/v2.0/ports", params={"network_id": net.id, "limit": 2}).json()
    assert len(page["ports"]) == 2
    links = {link["rel"]: link["href"] for link in page["ports_links"]}
    assert links["next"].startswith(f"{api_server.url}/v2.0/ports?")
    following = httpx.get(links["next"]).json()
    assert len(following["ports"]) == 1
    assert "next" not in {link["rel"] for link in following["ports_links"]}
    seen = {p["id"] for p in page["ports"]} | {p["id"] for p in following["ports"]}
    assert len(seen) == 3


def test_tags_and_if_match(alice):
    net = alice.network.create_network(name=unique("tags"))
    alice.network.set_tags(net, ["blue", "green"])
    assert sorted(alice.network.get_network(net.id).tags) == ["blue", "green"]
    assert [n.id for n in alice.network.networks(tags="blue,green")] == [net.id]
    assert net.id not in [n.id for n in alice.network.networks(not_tags="blue")]
    before = alice.network.get_network(net.id).revision_number
    renamed = alice.network.update_network(net.id, name="renamed", if_revision=before)
    assert renamed.revision_number == before + 1
    with pytest.raises(sdk_exc.HttpException) as caught:
        alice.network.update_network(net.id, name="stale", if_revision=before)
    assert caught.value.status_code == 412


def test_projects_are_isolated(alice, bob, admin):
    net, sub4, _ = dual_stack(alice, "10.44.0.0/24", "2001:db8:44::/64")
    port = alice.network.create_port(network_id=net.id)
    with pytest.raises(sdk_exc.NotFoundException):
        bob.network.get_network(net.id)
    with pytest.raises(sdk_exc.NotFoundException):
        bob.network.get_port(port.id)
    assert net.id not in [n.id for n in bob.network.networks()]
    with pytest.raises(sdk_exc.NotFoundException):
        bob.network.create_port(network_id=net.id)
    shared = admin.network.create_network(name=unique("shared"), is_shared=True)
    assert shared.id in [n.id for n in bob.network.networks(is_shared=True)]
    bob_port = bob.network.create_port(network_id=shared.id, fixed_ips=[])
    assert bob_port.network_id == shared.id
    with pytest.raises(sdk_exc.ForbiddenException):
        bob.network.create_network(name="nope", provider_network_type="vlan")
    assert admin.network.get_port(port.id).binding_vif_type == "unbound"


def test_deletes_and_in_use(alice):
    net, sub4, _ = dual_stack(alice, "10.45.0.0/24", "2001:db8:45::/64")
    port = alice.network.create_port(network_id=net.id)
    with pytest.raises(sdk_exc.ConflictException, match="in use"):
        alice.network.delete_network(net)
    with pytest.raises(sdk_exc.ConflictException):
        alice.network.delete_subnet(sub4)
    alice.network.delete_port(port)
    with pytest.raises(sdk_exc.NotFoundException):
        alice.network.get_port(port.id)
    alice.network.delete_network(net)  # takes its subnets along
    with pytest.raises(sdk_exc.NotFoundException):
        alice.network.get_subnet(sub4.id)


def test_mac_addresses(alice):
    net_a = alice.network.create_network(name=unique("mac-a"))
    net_b = alice.network.create_network(name=unique("mac-b"))
    mac = "fa:16:3e:aa:bb:01"
    alice.network.create_port(network_id=net_a.id, mac_address=mac.upper(), fixed_ips=[])
    with pytest.raises(sdk_exc.ConflictException, match="mac address"):
        alice.network.create_port(network_id=net_a.id, mac_address=mac, fixed_ips=[])
    other = alice.network.create_port(network_id=net_b.id, mac_address=mac, fixed_ips=[])
    assert other.mac_address == mac  # unique per network, not globally
