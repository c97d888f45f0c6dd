"""Subnet pools over HTTP on every database (Neutron's ``subnet_allocation``,
``subnetpool-prefix-ops``, ``default-subnetpools``): the pool's attributes and
their rules, subnets taking prefixes from pools (size, default size, a
specific CIDR, the default pool), freed prefixes reused, prefix operations,
per-project pool quotas, and parallel creates that never overlap."""

from __future__ import annotations

import ipaddress
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest


def _error(response: httpx.Response) -> str:
    return response.json()["NeutronError"]["type"]


def make_pool(client: httpx.Client, prefixes: list[str], **attrs) -> dict:
    r = client.post(
        "/v2.0/subnetpools", json={"subnetpool": {"name": f"p-{uuid.uuid4().hex[:6]}", "prefixes": prefixes, **attrs}}
    )
    assert r.status_code == 201, r.text
    return r.json()["subnetpool"]


def make_network(client: httpx.Client) -> str:
    r = client.post("/v2.0/networks", json={"network": {"name": f"n-{uuid.uuid4().hex[:6]}"}})
    assert r.status_code == 201, r.text
    return r.json()["network"]["id"]


def pool_subnet(client: httpx.Client, pool_id: str | None, network_id: str | None = None, **attrs) -> httpx.Response:
    body = {"network_id": network_id or make_network(client), "ip_version": attrs.pop("ip_version", 4), **attrs}
    if pool_id is not None:
        body["subnetpool_id"] = pool_id
    return client.post("/v2.0/subnets", json={"subnet": body})


def test_pool_defaults_and_view(tenant) -> None:
    pool = make_pool(tenant, ["192.168.0.0/24", "192.168.1.0/24", "10.10.0.0/21", "192.168.0.0/25"])
    assert pool["prefixes"] == ["10.10.0.0/21", "192.168.0.0/23"]
    assert pool["ip_version"] == 4
    # strings, as Neutron shows them (Tempest compares them with the strings it sent)
    assert (pool["min_prefixlen"], pool["max_prefixlen"], pool["default_prefixlen"]) == ("8", "32", "8")
    assert pool["default_quota"] is None and pool["address_scope_id"] is None
    assert pool["shared"] is False and pool["is_default"] is False
    assert pool["project_id"] == tenant.project_id and pool["revision_number"] == 0
    assert pool["description"] == "" and pool["tags"] == []
    six = make_pool(tenant, ["2001:db8::/48"])
    assert (six["ip_version"], six["min_prefixlen"], six["max_prefixlen"]) == (6, "64", "128")
    shown = tenant.get(f"/v2.0/subnetpools/{pool['id']}").json()["subnetpool"]
    assert shown == pool


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"prefixes": ["10.0.0.0/8"]}, 400, "HTTPBadRequest"),  # name is required
        ({"name": "x", "prefixes": []}, 400, "EmptySubnetPoolPrefixList"),
        ({"name": "x", "prefixes": ["10.0.0.0/8", "2001:db8::/32"]}, 400, "PrefixVersionMismatch"),
        ({"name": "x", "prefixes": ["10.0.0/8"]}, 400, "HTTPBadRequest"),
        ({"name": "x", "prefixes": ["10.0.0.0/8"], "min_prefixlen": 24, "max_prefixlen": 16}, 400, None),
        ({"name": "x", "prefixes": ["10.0.0.0/8"], "max_prefixlen": 33}, 400, "IllegalSubnetPoolPrefixBounds"),
        ({"name": "x", "prefixes": ["10.0.0.0/8"], "default_prefixlen": 4}, 400, "IllegalSubnetPoolPrefixBounds"),
        ({"name": "", "prefixes": ["10.0.0.0/8"]}, 400, "HTTPBadRequest"),
    ],
)
def test_bad_pools_are_refused(tenant, body, status, error) -> None:
    r = tenant.post("/v2.0/subnetpools", json={"subnetpool": body})
    assert r.status_code == status, r.text
    if error:
        assert _error(r) == error
    assert tenant.get("/v2.0/subnetpools").json()["subnetpools"] == []


def test_subnets_take_prefixes_best_fit_and_reuse(tenant) -> None:
    pool = make_pool(tenant, ["10.1.0.0/16", "172.16.0.0/26"], default_prefixlen=24, max_prefixlen=28)
    first = pool_subnet(tenant, pool["id"], prefixlen=26).json()["subnet"]
    assert first["cidr"] == "172.16.0.0/26"  # best fit: the small prefix, the /16 stays whole
    assert first["subnetpool_id"] == pool["id"] and first["gateway_ip"] == "172.16.0.1"
    default = pool_subnet(tenant, pool["id"]).json()["subnet"]
    assert default["cidr"] == "10.1.0.0/24"
    specific = pool_subnet(tenant, pool["id"], cidr="10.1.7.0/24").json()["subnet"]
    assert specific["cidr"] == "10.1.7.0/24"
    taken = pool_subnet(tenant, pool["id"], cidr="10.1.7.0/25")
    assert (taken.status_code, _error(taken)) == (409, "SubnetAllocationError")
    outside = pool_subnet(tenant, pool["id"], cidr="10.2.0.0/24")
    assert (outside.status_code, _error(outside)) == (409, "SubnetAllocationError")
    too_small = pool_subnet(tenant, pool["id"], prefixlen=29)
    assert (too_small.status_code, _error(too_small)) == (400, "MaxPrefixSubnetAllocationError")
    both = pool_subnet(tenant, pool["id"], cidr="10.1.9.0/24", prefixlen=24)
    assert both.status_code == 400
    wrong_version = pool_subnet(tenant, pool["id"], ip_version=6)
    assert wrong_version.status_code == 400
    assert tenant.delete(f"/v2.0/subnets/{default['id']}").status_code == 204
    # best fit: the /24 left beside 10.1.7.0/24, then the /23 beside it; the freed
    # 10.1.0.0/24 merged back into 10.1.0.0/22, kept whole
    fill = [pool_subnet(tenant, pool["id"]).json()["subnet"]["cidr"] for _ in range(2)]
    assert fill == ["10.1.6.0/24", "10.1.4.0/24"]
    listed = tenant.get("/v2.0/subnets", params={"subnetpool_id": pool["id"]}).json()["subnets"]
    assert sorted(s["cidr"] for s in listed) == ["10.1.4.0/24", "10.1.6.0/24", "10.1.7.0/24", "172.16.0.0/26"]


def test_freed_prefix_is_reused_when_the_pool_is_full(tenant) -> None:
    pool = make_pool(tenant, ["10.12.0.0/24"], default_prefixlen=26)
    subnets = [pool_subnet(tenant, pool["id"]).json()["subnet"] for _ in range(4)]
    full = pool_subnet(tenant, pool["id"])
    assert (full.status_code, _error(full)) == (409, "SubnetAllocationError")
    assert tenant.delete(f"/v2.0/subnets/{subnets[2]['id']}").status_code == 204
    again = pool_subnet(tenant, pool["id"]).json()["subnet"]
    assert again["cidr"] == subnets[2]["cidr"] == "10.12.0.128/26"
    # a network deleted with its subnet gives the prefix back too
    assert tenant.delete(f"/v2.0/networks/{subnets[1]['network_id']}").status_code == 204
    assert pool_subnet(tenant, pool["id"]).json()["subnet"]["cidr"] == "10.12.0.64/26"


def test_no_pool_and_no_cidr_is_refused(tenant) -> None:
    r = pool_subnet(tenant, None)
    assert r.status_code == 400 and "subnetpool" in r.json()["NeutronError"]["message"]


def test_one_network_one_pool_per_ip_version(tenant) -> None:
    pool = make_pool(tenant, ["10.3.0.0/16"], default_prefixlen=24)
    network = make_network(tenant)
    assert pool_subnet(tenant, pool["id"], network).status_code == 201
    r = pool_subnet(tenant, None, network, cidr="192.168.50.0/24")
    assert (r.status_code, _error(r)) == (400, "NetworkSubnetPoolAffinityError")


def test_prefix_operations(tenant) -> None:
    pool = make_pool(tenant, ["10.4.0.0/24"], default_prefixlen=26)
    subnet = pool_subnet(tenant, pool["id"]).json()["subnet"]
    added = tenant.put(f"/v2.0/subnetpools/{pool['id']}/add_prefixes", json={"prefixes": ["10.4.1.0/24"]})
    assert added.status_code == 200 and added.json() == {"prefixes": ["10.4.0.0/23"]}
    in_use = tenant.put(f"/v2.0/subnetpools/{pool['id']}/remove_prefixes", json={"prefixes": ["10.4.0.0/24"]})
    assert (in_use.status_code, _error(in_use)) == (400, "IllegalSubnetPoolPrefixUpdate")
    removed = tenant.put(f"/v2.0/subnetpools/{pool['id']}/remove_prefixes", json={"prefixes": ["10.4.1.128/25"]})
    assert removed.json() == {"prefixes": ["10.4.0.0/24", "10.4.1.0/25"]}
    # the removed space is never handed out
    got = [pool_subnet(tenant, pool["id"]).json()["subnet"]["cidr"] for _ in range(5)]
    assert "10.4.1.128/26" not in got and "10.4.1.192/26" not in got
    assert pool_subnet(tenant, pool["id"]).status_code == 409
    shrink = tenant.put(f"/v2.0/subnetpools/{pool['id']}", json={"subnetpool": {"prefixes": ["10.4.0.0/24"]}})
    assert (shrink.status_code, _error(shrink)) == (400, "IllegalSubnetPoolPrefixUpdate")
    grow = tenant.put(f"/v2.0/subnetpools/{pool['id']}", json={"subnetpool": {"prefixes": ["10.4.0.0/22"]}})
    assert grow.status_code == 200 and grow.json()["subnetpool"]["prefixes"] == ["10.4.0.0/22"]
    assert grow.json()["subnetpool"]["revision_number"] > pool["revision_number"]
    assert pool_subnet(tenant, pool["id"]).status_code == 201  # room again
    refused = tenant.delete(f"/v2.0/subnetpools/{pool['id']}")
    assert (refused.status_code, _error(refused)) == (400, "SubnetPoolDeleteError")
    assert subnet["subnetpool_id"] == pool["id"]


def test_default_pool(admin, tenant) -> None:
    refused = tenant.post(
        "/v2.0/subnetpools", json={"subnetpool": {"name": "d", "prefixes": ["10.5.0.0/16"], "is_default": True}}
    )
    assert refused.status_code == 403
    # IPv6: nobody else in the session makes a default IPv6 pool
    pool = make_pool(admin, ["2001:db8:5::/48"], is_default=True, shared=True)
    try:
        second = admin.post(
            "/v2.0/subnetpools",
            json={"subnetpool": {"name": "d2", "prefixes": ["2001:db8:6::/48"], "is_default": True}},
        )
        assert (second.status_code, _error(second)) == (400, "InvalidInput")
        r = tenant.post(
            "/v2.0/subnets",
            json={"subnet": {"network_id": make_network(tenant), "ip_version": 6, "use_default_subnetpool": True}},
        )
        assert r.status_code == 201, r.text
        subnet = r.json()["subnet"]
        assert subnet["subnetpool_id"] == pool["id"] and subnet["cidr"] == "2001:db8:5::/64"
        assert "use_default_subnetpool" not in subnet
        assert tenant.delete(f"/v2.0/subnets/{subnet['id']}").status_code == 204
    finally:
        assert admin.delete(f"/v2.0/subnetpools/{pool['id']}").status_code == 204
    none = tenant.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": make_network(tenant), "ip_version": 6, "use_default_subnetpool": True}},
    )
    assert none.status_code == 400 and "No default subnetpool" in none.json()["NeutronError"]["message"]


def test_pool_quota_per_project(tenant) -> None:
    pool = make_pool(tenant, ["10.6.0.0/16"], default_prefixlen=24, default_quota=512)
    assert pool["default_quota"] == 512
    assert pool_subnet(tenant, pool["id"]).status_code == 201
    assert pool_subnet(tenant, pool["id"], prefixlen=25).status_code == 201
    over = pool_subnet(tenant, pool["id"])
    assert (over.status_code, _error(over)) == (409, "SubnetPoolQuotaExceeded")
    assert pool_subnet(tenant, pool["id"], prefixlen=25).status_code == 201  # exactly 512


def test_other_projects_see_shared_pools_only(admin, tenant, api_server) -> None:
    own = make_pool(tenant, ["10.7.0.0/16"], default_prefixlen=24)
    shared = make_pool(admin, ["10.8.0.0/16"], default_prefixlen=24, shared=True)
    with httpx.Client(
        base_url=api_server.url, headers={"X-Project-Id": f"o-{uuid.uuid4().hex[:8]}", "X-Roles": "member"}
    ) as other:
        assert other.get(f"/v2.0/subnetpools/{own['id']}").status_code == 404
        ids = {p["id"] for p in other.get("/v2.0/subnetpools").json()["subnetpools"]}
        assert shared["id"] in ids and own["id"] not in ids
        r = pool_subnet(other, own["id"])
        assert (r.status_code, _error(r)) == (404, "SubnetPoolNotFound")
        got = pool_subnet(other, shared["id"])
        assert got.status_code == 201 and got.json()["subnet"]["cidr"] == "10.8.0.0/24"
        assert other.put(f"/v2.0/subnetpools/{shared['id']}", json={"subnetpool": {"name": "x"}}).status_code == 403
        assert admin.delete(f"/v2.0/subnets/{got.json()['subnet']['id']}").status_code == 204
    assert admin.delete(f"/v2.0/subnetpools/{shared['id']}").status_code == 204


def test_subnetpool_quota(admin, tenant) -> None:
    r = admin.put(f"/v2.0/quotas/{tenant.project_id}", json={"quota": {"subnetpool": 1}})
    assert r.status_code == 200 and r.json()["quota"]["subnetpool"] == 1
    make_pool(tenant, ["10.9.0.0/16"])
    over = tenant.post("/v2.0/subnetpools", json={"subnetpool": {"name": "x", "prefixes": ["10.10.0.0/16"]}})
    assert (over.status_code, _error(over)) == (409, "OverQuota")
    assert admin.get(f"/v2.0/quotas/{tenant.project_id}/default").json()["quota"]["subnetpool"] == -1


def test_parallel_subnet_creates_never_overlap(tenant) -> None:
    pool = make_pool(tenant, ["10.11.0.0/20"], default_prefixlen=26)  # 64 /26s
    networks = [make_network(tenant) for _ in range(24)]

    def create(network_id: str) -> httpx.Response:
        return pool_subnet(tenant, pool["id"], network_id, prefixlen=26 if len(network_id) % 2 else 25)

    with ThreadPoolExecutor(12) as workers:
        answers = list(workers.map(create, networks))
    assert [r.status_code for r in answers] == [201] * len(networks), [r.text for r in answers if r.status_code != 201]
    nets = [ipaddress.ip_network(r.json()["subnet"]["cidr"]) for r in answers]
    for i, a in enumerate(nets):
        assert a.subnet_of(ipaddress.ip_network("10.11.0.0/20"))
        for b in nets[i + 1 :]:
            assert not a.overlaps(b), (a, b)
