"""Address groups over HTTP on every database (Neutron's ``address-group``,
``rbac-address-group``, ``security-groups-remote-address-group``): the view,
addresses normalised to their networks, add/remove with Neutron's errors,
project isolation, list filters, sort, pages and fields, bulk create, the
quota, RBAC sharing, rules naming a group (visible or 404, exclusive with the
other remotes, 409 while in use), and the hosts told of an address change."""

from __future__ import annotations

import uuid

import httpx

from tests.api.test_rbac import created, guest, owner, policy, stranger  # noqa: F401 (fixtures)
from tests.api.test_wire import error_of

AG = "address_group"


def make_group(client: httpx.Client, addresses: list[str] | None = None, **attrs) -> dict:
    body = {"name": f"ag-{uuid.uuid4().hex[:6]}", **attrs}
    if addresses is not None:
        body["addresses"] = addresses
    r = client.post("/v2.0/address-groups", json={AG: body})
    assert r.status_code == 201, r.text
    return r.json()[AG]


def change(client: httpx.Client, group_id: str, action: str, addresses) -> httpx.Response:
    return client.put(f"/v2.0/address-groups/{group_id}/{action}", json={"addresses": addresses})


def make_sg(client: httpx.Client) -> str:
    r = client.post("/v2.0/security-groups", json={"security_group": {"name": f"sg-{uuid.uuid4().hex[:6]}"}})
    assert r.status_code == 201, r.text
    return r.json()["security_group"]["id"]


def rule(client: httpx.Client, group_id: str, **attrs) -> httpx.Response:
    body = {"security_group_id": group_id, "direction": "ingress", "ethertype": "IPv4", **attrs}
    return client.post("/v2.0/security-group-rules", json={"security_group_rule": body})


def test_view_normalised_addresses_update_and_delete(tenant) -> None:
    group = make_group(tenant, ["10.0.0.5/24", "10.0.0.0/24", "192.168.1.1/32", "2001:db8::1/64"], description="d")
    assert group.pop("links")
    assert group == {
        "id": group["id"],
        "name": group["name"],
        "description": "d",
        "project_id": tenant.project_id,
        "tenant_id": tenant.project_id,
        # host bits dropped, duplicates once (Neutron's _process_requested_addresses)
        "addresses": ["10.0.0.0/24", "192.168.1.1/32", "2001:db8::/64"],
        "shared": False,
        "tags": [],
        "created_at": group["created_at"],
        "updated_at": group["updated_at"],
        "revision_number": 0,
    }
    shown = tenant.get(f"/v2.0/address-groups/{group['id']}").json()[AG]
    assert shown["addresses"] == group["addresses"]
    empty = make_group(tenant)
    assert empty["addresses"] == [] and empty["name"].startswith("ag-")
    renamed = tenant.put(f"/v2.0/address-groups/{group['id']}", json={AG: {"name": "renamed", "description": "x"}})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()[AG]["name"], renamed.json()[AG]["revision_number"]) == ("renamed", 1)
    # addresses change only through the actions (allow_put False in Neutron)
    assert error_of(tenant.put(f"/v2.0/address-groups/{group['id']}", json={AG: {"addresses": []}}), 400)
    assert tenant.delete(f"/v2.0/address-groups/{group['id']}").status_code == 204
    assert error_of(tenant.get(f"/v2.0/address-groups/{group['id']}"), 404) == "AddressGroupNotFound"
    assert error_of(tenant.delete(f"/v2.0/address-groups/{group['id']}"), 404) == "AddressGroupNotFound"


def test_bad_addresses_are_400_and_create_nothing(tenant) -> None:
    before = tenant.get("/v2.0/address-groups").json()["address_groups"]
    for bad in (["10.0.0.1"], ["not-a-cidr"], ["10.0.0.0/33"], "10.0.0.0/24", [None]):
        r = tenant.post("/v2.0/address-groups", json={AG: {"name": "bad", "addresses": bad}})
        assert error_of(r, 400), bad
    assert tenant.get("/v2.0/address-groups").json()["address_groups"] == before


def test_add_and_remove_addresses_as_neutron(tenant) -> None:
    group = make_group(tenant, ["10.1.0.0/24"])
    r = change(tenant, group["id"], "add_addresses", ["10.2.0.9/16", "10.3.0.0/24", "10.3.0.1/24"])
    assert r.status_code == 200, r.text
    added = r.json()[AG]
    assert added["addresses"] == ["10.1.0.0/24", "10.2.0.0/16", "10.3.0.0/24"]
    assert added["revision_number"] == 1
    # an address already there: 400, naming it, nothing added
    dup = change(tenant, group["id"], "add_addresses", ["10.4.0.0/24", "10.1.0.7/24"])
    assert error_of(dup, 400) == "AddressesAlreadyExist"
    assert "['10.1.0.0/24']" in dup.json()["NeutronError"]["message"]
    # an address not there: 404 AddressesNotFound, nothing removed
    missing = change(tenant, group["id"], "remove_addresses", ["10.1.0.0/24", "10.9.0.0/24"])
    assert error_of(missing, 404) == "AddressesNotFound"
    assert "['10.9.0.0/24']" in missing.json()["NeutronError"]["message"]
    shown = tenant.get(f"/v2.0/address-groups/{group['id']}").json()[AG]
    assert shown["addresses"] == added["addresses"] and shown["revision_number"] == 1
    removed = change(tenant, group["id"], "remove_addresses", ["10.2.1.1/16", "10.3.0.0/24"])
    assert removed.status_code == 200, removed.text
    assert removed.json()[AG]["addresses"] == ["10.1.0.0/24"]
    # bodies: a dict with the list, valid CIDRs
    assert error_of(tenant.put(f"/v2.0/address-groups/{group['id']}/add_addresses", json={"x": []}), 400)
    assert error_of(change(tenant, group["id"], "add_addresses", ["nope"]), 400) == "InvalidInput"
    other = str(uuid.uuid4())
    assert error_of(change(tenant, other, "add_addresses", ["10.8.0.0/24"]), 404) == "AddressGroupNotFound"


def test_remove_takes_bare_addresses_as_neutron(tenant) -> None:
    """remove_addresses reads each entry as netaddr.IPNetwork does: a bare
    address is its /32 or /128 (so one not there is 404, not 400); create and
    add_addresses still want CIDRs."""
    group = make_group(tenant, ["10.10.10.3/32", "192.168.0.0/24", "2001:db8::5/128"])
    absent = change(tenant, group["id"], "remove_addresses", ["10.200.200.200"])
    assert error_of(absent, 404) == "AddressesNotFound"
    assert "10.200.200.200/32" in absent.json()["NeutronError"]["message"]
    assert error_of(change(tenant, group["id"], "remove_addresses", ["this is bad IP address"]), 400)
    assert error_of(change(tenant, group["id"], "add_addresses", ["10.20.30.40"]), 400)
    removed = change(tenant, group["id"], "remove_addresses", ["10.10.10.3", "2001:db8::5"])
    assert removed.status_code == 200, removed.text
    assert removed.json()[AG]["addresses"] == ["192.168.0.0/24"]


def test_other_projects_neither_see_nor_change_a_group(tenant, api_server) -> None:
    group = make_group(tenant, ["10.5.0.0/24"])
    headers = {"X-Project-Id": f"o-{uuid.uuid4().hex[:8]}", "X-Roles": "member"}
    with httpx.Client(base_url=api_server.url, headers=headers, timeout=30) as other:
        assert error_of(other.get(f"/v2.0/address-groups/{group['id']}"), 404) == "AddressGroupNotFound"
        assert group["id"] not in {g["id"] for g in other.get("/v2.0/address-groups").json()["address_groups"]}
        assert error_of(change(other, group["id"], "add_addresses", ["10.6.0.0/24"]), 404) == "AddressGroupNotFound"
        assert error_of(other.put(f"/v2.0/address-groups/{group['id']}", json={AG: {"name": "x"}}), 404)
        assert error_of(other.delete(f"/v2.0/address-groups/{group['id']}"), 404) == "AddressGroupNotFound"
        sg = make_sg(other)
        named = rule(other, sg, remote_address_group_id=group["id"])
        assert error_of(named, 404) == "AddressGroupNotFound"
    assert tenant.get(f"/v2.0/address-groups/{group['id']}").json()[AG]["addresses"] == ["10.5.0.0/24"]


def test_filters_sort_pages_fields_and_bulk(tenant) -> None:
    tag = uuid.uuid4().hex[:8]
    r = tenant.post(
        "/v2.0/address-groups",
        json={"address_groups": [{"name": f"{tag}-{i}", "addresses": [f"10.7.{i}.0/24"]} for i in range(3)]},
    )
    assert r.status_code == 201, r.text
    made = r.json()["address_groups"]
    assert [g["addresses"] for g in made] == [["10.7.0.0/24"], ["10.7.1.0/24"], ["10.7.2.0/24"]]
    one = tenant.get("/v2.0/address-groups", params={"name": f"{tag}-1"}).json()["address_groups"]
    assert [g["id"] for g in one] == [made[1]["id"]]
    ordered = tenant.get("/v2.0/address-groups", params={"sort_key": "name", "sort_dir": "desc"}).json()
    names = [g["name"] for g in ordered["address_groups"] if g["name"].startswith(tag)]
    assert names == [f"{tag}-2", f"{tag}-1", f"{tag}-0"]
    page = tenant.get("/v2.0/address-groups", params={"limit": 2, "sort_key": "name"}).json()
    assert len(page["address_groups"]) == 2 and any(link["rel"] == "next" for link in page["address_groups_links"])
    narrow = tenant.get("/v2.0/address-groups", params={"fields": ["id", "addresses"], "id": made[0]["id"]}).json()
    assert narrow["address_groups"] == [{"id": made[0]["id"], "addresses": ["10.7.0.0/24"]}]
    # all or nothing: a bad item creates none
    bad = tenant.post(
        "/v2.0/address-groups",
        json={"address_groups": [{"name": f"{tag}-ok"}, {"name": f"{tag}-bad", "addresses": ["x"]}]},
    )
    assert error_of(bad, 400)
    assert tenant.get("/v2.0/address-groups", params={"name": f"{tag}-ok"}).json()["address_groups"] == []


def test_quota_address_group(admin, tenant) -> None:
    quota = admin.get(f"/v2.0/quotas/{tenant.project_id}").json()["quota"]
    assert quota["address_group"] == -1  # Neutron registers no limit of its own
    assert admin.put(f"/v2.0/quotas/{tenant.project_id}", json={"quota": {"address_group": 1}}).status_code == 200
    make_group(tenant)
    over = tenant.post("/v2.0/address-groups", json={AG: {"name": "two"}})
    assert error_of(over, 409) == "OverQuota"
    assert len(tenant.get("/v2.0/address-groups").json()["address_groups"]) == 1


def test_rules_name_a_group_exclusively_and_keep_it(tenant) -> None:
    group = make_group(tenant, ["10.10.0.0/24"])
    sg = make_sg(tenant)
    r = rule(tenant, sg, protocol="tcp", port_range_min=22, port_range_max=22, remote_address_group_id=group["id"])
    assert r.status_code == 201, r.text
    made = r.json()["security_group_rule"]
    assert made["remote_address_group_id"] == group["id"]
    assert made["remote_ip_prefix"] is None and made["remote_group_id"] is None
    again = rule(tenant, sg, protocol="tcp", port_range_min=22, port_range_max=22, remote_address_group_id=group["id"])
    assert error_of(again, 409) == "SecurityGroupRuleExists"
    listed = tenant.get("/v2.0/security-group-rules", params={"remote_address_group_id": group["id"]}).json()
    assert [x["id"] for x in listed["security_group_rules"]] == [made["id"]]
    both = rule(tenant, sg, remote_address_group_id=group["id"], remote_ip_prefix="10.0.0.0/8")
    assert error_of(both, 400) == "SecurityGroupRemoteGroupAndRemoteIpPrefix"
    both = rule(tenant, sg, remote_address_group_id=group["id"], remote_group_id=sg)
    assert error_of(both, 400) == "SecurityGroupRemoteGroupAndRemoteIpPrefix"
    missing = rule(tenant, sg, remote_address_group_id=str(uuid.uuid4()))
    assert error_of(missing, 404) == "AddressGroupNotFound"
    in_use = tenant.delete(f"/v2.0/address-groups/{group['id']}")
    assert error_of(in_use, 409) == "AddressGroupInUse"
    assert tenant.delete(f"/v2.0/security-group-rules/{made['id']}").status_code == 204
    assert tenant.delete(f"/v2.0/address-groups/{group['id']}").status_code == 204


def test_rbac_shares_a_group_and_guards_the_rules_using_it(owner, guest, stranger) -> None:  # noqa: F811
    group = make_group(owner, ["10.11.0.0/24"])
    sg = make_sg(guest)
    assert error_of(rule(guest, sg, remote_address_group_id=group["id"]), 404) == "AddressGroupNotFound"
    shared = created(policy(owner, group["id"], guest.project_id, object_type=AG))
    assert shared["object_type"] == AG
    assert error_of(policy(owner, group["id"], guest.project_id, "access_as_external", AG), 400)
    seen = guest.get(f"/v2.0/address-groups/{group['id']}").json()[AG]
    assert seen["shared"] is True and seen["addresses"] == ["10.11.0.0/24"]
    assert owner.get(f"/v2.0/address-groups/{group['id']}").json()[AG]["shared"] is False
    listed = {g["id"] for g in guest.get("/v2.0/address-groups", params={"shared": "true"}).json()["address_groups"]}
    assert group["id"] in listed
    narrow = guest.get("/v2.0/address-groups", params={"fields": "id", "id": group["id"]}).json()["address_groups"]
    assert narrow == [{"id": group["id"]}]  # the policy still reads `shared`, not shown
    assert error_of(stranger.get(f"/v2.0/address-groups/{group['id']}"), 404) == "AddressGroupNotFound"
    # the target uses it in a rule, but may not change or delete it
    used = rule(guest, sg, remote_address_group_id=group["id"])
    assert used.status_code == 201, used.text
    assert error_of(change(guest, group["id"], "add_addresses", ["10.12.0.0/24"]), 403) == "PolicyNotAuthorized"
    # Neutron's update sees the group without ``shared``: refused as not there
    renamed = guest.put(f"/v2.0/address-groups/{group['id']}", json={AG: {"name": "new_name"}})
    assert error_of(renamed, 404) == "AddressGroupNotFound"
    assert owner.get(f"/v2.0/address-groups/{group['id']}").json()[AG]["name"] == group["name"]
    assert error_of(guest.delete(f"/v2.0/address-groups/{group['id']}"), 403) == "PolicyNotAuthorized"
    # the policy is in use while the guest's rule names the group
    assert error_of(owner.delete(f"/v2.0/rbac-policies/{shared['id']}"), 409) == "RbacPolicyInUse"
    assert guest.delete(f"/v2.0/security-group-rules/{used.json()['security_group_rule']['id']}").status_code == 204
    assert owner.delete(f"/v2.0/rbac-policies/{shared['id']}").status_code == 204
    assert error_of(guest.get(f"/v2.0/address-groups/{group['id']}"), 404) == "AddressGroupNotFound"
    # a group's policies go with it
    again = created(policy(owner, group["id"], guest.project_id, object_type=AG))
    assert owner.delete(f"/v2.0/address-groups/{group['id']}").status_code == 204
    assert owner.get(f"/v2.0/rbac-policies/{again['id']}").status_code == 404


def test_discovery_lists_the_extensions(tenant) -> None:
    aliases = {e["alias"] for e in tenant.get("/v2.0/extensions").json()["extensions"]}
    assert {"address-group", "rbac-address-group", "security-groups-remote-address-group"} <= aliases
