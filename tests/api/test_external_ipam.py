"""``/v2.0/ipam``: Quark as another system's IPAM (docs/neutron_ipam_driver.md),
through a real server on each database, with quarantine on (released
addresses are not handed out again for an hour)."""

from __future__ import annotations

import ipaddress
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.dbs import migrated_database, selected_backends
from tests.servers import free_port, quark_server


@pytest.fixture(scope="module", params=selected_backends())
def server(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory) as url:
        with quark_server(url, workers=2, env={"QUARK_IPAM_REUSE_AFTER": "3600"}) as running:
            yield running


@pytest.fixture
def admin(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _ids() -> tuple[str, str]:
    return str(uuid.uuid4()), str(uuid.uuid4())


def _register(client: httpx.Client, cidr: str = "10.20.0.0/24", **extra) -> dict:
    network_id, subnet_id = _ids()
    body = {"network_id": network_id, "cidr": cidr, "ip_version": 4, "project_id": "neutron-project", **extra}
    resp = client.put(f"/v2.0/ipam/subnets/{subnet_id}", json={"subnet": body})
    assert resp.status_code == 201, resp.text
    return resp.json()["subnet"]


def _allocate(client: httpx.Client, subnet_id: str, holder: str, **extra) -> httpx.Response:
    return client.post(
        "/v2.0/ipam/allocations", json={"allocation": {"subnet_ids": [subnet_id], "holder": holder, **extra}}
    )


def _held(client: httpx.Client, **params) -> list[dict]:
    resp = client.get("/v2.0/ipam/allocations", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()["allocations"]


def test_register_is_idempotent_and_keeps_the_ids(admin):
    subnet = _register(admin, allocation_pools=[{"start": "10.20.0.10", "end": "10.20.0.20"}])
    body = {**{k: subnet[k] for k in ("network_id", "cidr", "ip_version", "project_id")}}
    again = admin.put(f"/v2.0/ipam/subnets/{subnet['id']}", json={"subnet": body})
    assert again.status_code == 200 and again.json()["subnet"] == subnet
    quark_subnet = admin.get(f"/v2.0/subnets/{subnet['id']}").json()["subnet"]
    assert quark_subnet["network_id"] == subnet["network_id"]
    assert quark_subnet["allocation_pools"] == [{"start": "10.20.0.10", "end": "10.20.0.20"}]
    network = admin.get(f"/v2.0/networks/{subnet['network_id']}").json()["network"]
    assert network["subnets"] == [subnet["id"]]
    # An update of the pools (Neutron's update_subnet) goes through the same PUT.
    body["allocation_pools"] = [{"start": "10.20.0.10", "end": "10.20.0.30"}]
    changed = admin.put(f"/v2.0/ipam/subnets/{subnet['id']}", json={"subnet": body})
    assert changed.status_code == 200 and changed.json()["subnet"]["allocation_pools"] == body["allocation_pools"]
    moved = admin.put(f"/v2.0/ipam/subnets/{subnet['id']}", json={"subnet": {**body, "cidr": "10.21.0.0/24"}})
    assert moved.status_code == 400


def test_allocate_any_is_idempotent_per_holder(admin):
    subnet = _register(admin)
    first = _allocate(admin, subnet["id"], "port-a")
    assert first.status_code == 201, first.text
    again = _allocate(admin, subnet["id"], "port-a")
    assert again.status_code == 200 and again.json() == first.json()
    other = _allocate(admin, subnet["id"], "port-b")
    assert (
        other.status_code == 201
        and other.json()["allocation"]["ip_address"] != first.json()["allocation"]["ip_address"]
    )
    assert [h["ip_address"] for h in _held(admin, holder="port-a", subnet_id=subnet["id"])] == [
        first.json()["allocation"]["ip_address"]
    ]
    # Quark sees it as one of its addresses: utilization counts both.
    availability = admin.get(f"/v2.0/network-ip-availabilities/{subnet['network_id']}").json()
    assert availability["network_ip_availability"]["used_ips"] == 2


def test_specific_address_and_holders_never_release_each_other(admin):
    subnet = _register(admin)
    sid = subnet["id"]
    mine = _allocate(admin, sid, "port-a", ip_address="10.20.0.50")
    assert mine.status_code == 201 and mine.json()["allocation"]["ip_address"] == "10.20.0.50"
    assert _allocate(admin, sid, "port-a", ip_address="10.20.0.50").status_code == 200
    taken = _allocate(admin, sid, "port-b", ip_address="10.20.0.50")
    assert taken.status_code == 409 and taken.json()["NeutronError"]["type"] == "IpAddressAlreadyAllocated"
    # Another holder's release (a rollback of port-b's failed request) is a no-op.
    assert (
        admin.delete(f"/v2.0/ipam/subnets/{sid}/allocations/10.20.0.50", params={"holder": "port-b"}).status_code == 204
    )
    assert [h["holder"] for h in _held(admin, subnet_id=sid)] == ["port-a"]
    assert (
        admin.delete(f"/v2.0/ipam/subnets/{sid}/allocations/10.20.0.50", params={"holder": "port-a"}).status_code == 204
    )
    assert _held(admin, subnet_id=sid) == []
    # Releasing again, or what was never held, is a no-op too.
    assert (
        admin.delete(f"/v2.0/ipam/subnets/{sid}/allocations/10.20.0.50", params={"holder": "port-a"}).status_code == 204
    )
    assert (
        admin.delete(f"/v2.0/ipam/subnets/{sid}/allocations/10.20.0.99", params={"holder": "port-a"}).status_code == 204
    )
    bad = _allocate(admin, sid, "port-c", ip_address="10.30.0.5")
    assert bad.status_code == 400


def test_released_addresses_are_quarantined(admin):
    subnet = _register(admin, cidr="10.22.0.0/29")  # pool .2-.6
    sid = subnet["id"]
    got = [_allocate(admin, sid, f"port-{i}").json()["allocation"]["ip_address"] for i in range(5)]
    assert len(set(got)) == 5
    assert (
        admin.delete(f"/v2.0/ipam/subnets/{sid}/allocations/{got[0]}", params={"holder": "port-0"}).status_code == 204
    )
    # The released address waits out its quarantine: the pool is full for "any".
    full = _allocate(admin, sid, "port-new")
    assert full.status_code == 409 and full.json()["NeutronError"]["type"] == "IpAddressGenerationFailure"
    # ... but an explicit request for it succeeds at once (as in Neutron).
    assert _allocate(admin, sid, "port-new", ip_address=got[0]).status_code == 201


def test_ip_policies_apply(admin):
    subnet = _register(admin, cidr="10.23.0.0/28")
    policy = admin.post(
        "/v2.0/ip_policies",
        json={"ip_policy": {"name": "vips", "subnet_ids": [subnet["id"]], "exclude": ["10.23.0.0/29"]}},
    )
    assert policy.status_code == 201, policy.text
    got = {_allocate(admin, subnet["id"], f"port-{i}").json()["allocation"]["ip_address"] for i in range(3)}
    assert all(ipaddress.ip_address(a) >= ipaddress.ip_address("10.23.0.8") for a in got)
    excluded = _allocate(admin, subnet["id"], "port-x", ip_address="10.23.0.5")
    assert excluded.status_code == 409 and excluded.json()["NeutronError"]["type"] == "IpAddressExcludedByPolicy"


def test_group_of_subnets_falls_through_a_full_one(admin):
    small = _register(admin, cidr="10.24.0.0/30")  # one pool address: .2
    network_id = small["network_id"]
    big_id = str(uuid.uuid4())
    body = {"network_id": network_id, "cidr": "10.25.0.0/24", "ip_version": 4, "project_id": "neutron-project"}
    assert admin.put(f"/v2.0/ipam/subnets/{big_id}", json={"subnet": body}).status_code == 201
    both = [small["id"], big_id]
    first = admin.post("/v2.0/ipam/allocations", json={"allocation": {"subnet_ids": both, "holder": "p1"}})
    second = admin.post("/v2.0/ipam/allocations", json={"allocation": {"subnet_ids": both, "holder": "p2"}})
    assert first.status_code == second.status_code == 201
    assert {first.json()["allocation"]["subnet_id"], second.json()["allocation"]["subnet_id"]} == set(both)


def test_concurrent_allocations_never_duplicate(admin, server):
    subnet = _register(admin, cidr="10.26.0.0/24")
    sid = subnet["id"]

    def one(holder: str) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            return _allocate(client, sid, holder)

    with ThreadPoolExecutor(8) as pool:
        distinct = list(pool.map(one, [f"port-{i}" for i in range(40)]))
        same = list(pool.map(one, ["port-twin"] * 16))
    assert all(r.status_code == 201 for r in distinct), [r.text for r in distinct if r.status_code != 201]
    assert len({r.json()["allocation"]["ip_address"] for r in distinct}) == 40
    assert {r.status_code for r in same} <= {200, 201} and sum(r.status_code == 201 for r in same) == 1
    assert len({r.json()["allocation"]["ip_address"] for r in same}) == 1
    assert len(_held(admin, subnet_id=sid)) == 41
    availability = admin.get(f"/v2.0/network-ip-availabilities/{subnet['network_id']}").json()
    assert availability["network_ip_availability"]["used_ips"] == 41


def test_remove_subnet_releases_and_is_idempotent(admin):
    subnet = _register(admin, cidr="10.27.0.0/24")
    assert _allocate(admin, subnet["id"], "port-a").status_code == 201
    assert admin.delete(f"/v2.0/ipam/subnets/{subnet['id']}").status_code == 204
    assert admin.get(f"/v2.0/ipam/subnets/{subnet['id']}").status_code == 404
    assert admin.get(f"/v2.0/networks/{subnet['network_id']}").status_code == 404
    assert _held(admin, subnet_id=subnet["id"]) == []
    assert admin.delete(f"/v2.0/ipam/subnets/{subnet['id']}").status_code == 204
    gone = _allocate(admin, subnet["id"], "port-b")
    assert gone.status_code == 404 and gone.json()["NeutronError"]["type"] == "SubnetNotFound"


def test_members_are_refused(server):
    headers = {"X-Project-Id": "some-project", "X-Roles": "member"}
    with httpx.Client(base_url=server.url, timeout=30, headers=headers) as member:
        assert member.get("/v2.0/ipam/allocations").status_code == 403
        assert _allocate(member, str(uuid.uuid4()), "port-a").status_code == 403


def test_bad_bodies(admin):
    assert admin.post("/v2.0/ipam/allocations", json={"allocation": {"holder": "p"}}).status_code == 400
    assert admin.post("/v2.0/ipam/allocations", json={"nothing": {}}).status_code == 400
    sid = str(uuid.uuid4())
    assert admin.put(f"/v2.0/ipam/subnets/{sid}", json={"subnet": {"cidr": "10.0.0.0/24"}}).status_code == 400


def test_the_drivers_client(admin, server):
    """Neutron's driver talks to Quark through QuarkClient (no Neutron import needed)."""
    from keystoneauth1 import session as ks_session

    from quark.neutron_ipam.client import QuarkClient, QuarkError, QuarkUnavailable

    client = QuarkClient(server.url, ks_session.Session(), timeout=10, connect_retries=0)
    network_id, subnet_id = _ids()
    attrs = {"network_id": network_id, "cidr": "10.28.0.0/24", "ip_version": 4, "project_id": "p", "gateway_ip": None}
    assert client.register_subnet(subnet_id, attrs)["gateway_ip"] is None
    got = client.allocate({"holder": "port-a", "subnet_ids": [subnet_id], "device_owner": ""})
    assert client.allocate({"holder": "port-a", "subnet_ids": [subnet_id]}) == got
    try:
        client.allocate({"holder": "port-b", "subnet_ids": [subnet_id], "ip_address": got["ip_address"]})
    except QuarkError as exc:
        assert (exc.status, exc.kind) == (409, "IpAddressAlreadyAllocated")
    else:
        raise AssertionError("a held address was handed out twice")
    client.release(subnet_id, got["ip_address"], "port-b")  # not port-b's: nothing happens
    assert _held(admin, subnet_id=subnet_id) != []
    client.release(subnet_id, got["ip_address"], "port-a")
    assert _held(admin, subnet_id=subnet_id) == []
    client.remove_subnet(subnet_id)
    dead = QuarkClient(f"http://127.0.0.1:{free_port()}", ks_session.Session(), timeout=2, connect_retries=0)
    with pytest.raises(QuarkUnavailable):
        dead.get_subnet(subnet_id)
