"""Subnet pools and address scopes through the unmodified clients, on every
database: the ``openstack`` CLI (``address scope create``, ``subnet pool
create``, ``subnet create --subnet-pool``, ``subnet pool set``) and openstacksdk
(pools, scopes, subnets from pools, prefix operations, the errors it raises)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from openstack import exceptions as sdk_exc

from tests.api.test_openstack_cli import osc, osc_json
from tests.api.test_sdk_workflows import connect


def test_openstack_cli_subnet_pools(api_server):
    suffix = uuid.uuid4().hex[:8]
    scope = osc_json(api_server, "address", "scope", "create", "--ip-version", "4", f"cli-scope-{suffix}")
    assert scope["ip_version"] == 4
    pool = osc_json(
        api_server,
        *("subnet", "pool", "create", "--address-scope", scope["id"]),
        *("--pool-prefix", "10.60.0.0/24", "--pool-prefix", "10.60.1.0/24", "--default-prefix-length", "26"),
        f"cli-pool-{suffix}",
    )
    assert pool["prefixes"] in (["10.60.0.0/23"], "10.60.0.0/23")
    assert pool["address_scope_id"] == scope["id"] and int(pool["default_prefixlen"]) == 26
    with httpx.Client(base_url=api_server.url) as admin:  # what the CLI is not under test for: plain HTTP
        network = admin.post("/v2.0/networks", json={"network": {"name": f"cli-pool-net-{suffix}"}}).json()["network"]
    subnet = osc_json(
        api_server,
        *("subnet", "create", "--network", network["id"], "--subnet-pool", pool["id"]),
        *("--prefix-length", "25", f"cli-pool-sub-{suffix}"),
    )
    assert subnet["cidr"] == "10.60.0.0/25" and subnet["subnetpool_id"] == pool["id"]
    osc(api_server, "subnet", "pool", "set", "--pool-prefix", "10.60.4.0/24", pool["id"])
    with httpx.Client(base_url=api_server.url) as admin:
        shown = admin.get(f"/v2.0/subnetpools/{pool['id']}").json()["subnetpool"]
    assert shown["prefixes"] == ["10.60.0.0/23", "10.60.4.0/24"]


@pytest.fixture(scope="module")
def carol(api_server):
    return connect(api_server.url, f"carol-{uuid.uuid4().hex[:6]}")


def test_sdk_subnet_pools_and_scopes(carol):
    net = carol.network
    scope = net.create_address_scope(name="sdk-scope", ip_version=6)
    pool = net.create_subnet_pool(
        name="sdk-pool", prefixes=["2001:db8:70::/48"], default_prefix_length=64, address_scope_id=scope.id
    )
    assert pool.ip_version == 6 and pool.minimum_prefix_length == 64 and pool.address_scope_id == scope.id
    network = net.create_network(name="sdk-pool-net")
    subnet = net.create_subnet(network_id=network.id, ip_version=6, subnet_pool_id=pool.id)
    assert subnet.cidr == "2001:db8:70::/64" and subnet.subnet_pool_id == pool.id
    assert net.get_network(network.id).ipv6_address_scope_id == scope.id
    grown = net.update_subnet_pool(pool, prefixes=["2001:db8:70::/48", "2001:db8:71::/48"])
    assert grown.prefixes == ["2001:db8:70::/47"]
    # the SDK has no call of its own for the prefix operations: its adapter's PUT
    removed = net.put(f"/subnetpools/{pool.id}/remove_prefixes", json={"prefixes": ["2001:db8:71::/48"]})
    assert removed.json() == {"prefixes": ["2001:db8:70::/48"]}
    in_use = net.put(
        f"/subnetpools/{pool.id}/remove_prefixes", json={"prefixes": ["2001:db8:70::/64"]}, raise_exc=False
    )
    assert in_use.status_code == 400
    with pytest.raises(sdk_exc.BadRequestException):
        net.update_subnet_pool(pool, prefixes=["2001:db8:72::/48"])
    with pytest.raises(sdk_exc.ConflictException):
        net.delete_address_scope(scope)
    assert [p.id for p in net.subnet_pools(address_scope_id=scope.id)] == [pool.id]
    net.delete_subnet(subnet)
    net.delete_subnet_pool(pool)
    net.delete_address_scope(scope)
    assert net.find_address_scope(scope.id) is None
