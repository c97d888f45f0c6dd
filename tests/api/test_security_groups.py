"""Security groups and rules on the wire: Neutron's defaults, checks and 409s."""

from __future__ import annotations

import uuid

import httpx

from tests.api.test_wire import error_of, make_network


def create_group(client, name="web", **extra) -> dict:
    r = client.post("/v2.0/security-groups", json={"security_group": {"name": name, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["security_group"]


def create_rule(client, group_id, **attrs) -> httpx.Response:
    return client.post(
        "/v2.0/security-group-rules",
        json={"security_group_rule": {"security_group_id": group_id, "direction": "ingress", **attrs}},
    )


def test_default_group_is_made_once_on_first_list(tenant):
    first = tenant.get("/v2.0/security-groups").json()["security_groups"]
    assert [g["name"] for g in first] == ["default"]
    default = first[0]
    rules = {(r["direction"], r["ethertype"], r["remote_group_id"]) for r in default["security_group_rules"]}
    assert rules == {
        ("ingress", "IPv4", default["id"]),
        ("ingress", "IPv6", default["id"]),
        ("egress", "IPv4", None),
        ("egress", "IPv6", None),
    }
    assert all(r["belongs_to_default_sg"] for r in default["security_group_rules"])
    again = tenant.get("/v2.0/security-groups").json()["security_groups"]
    assert [g["id"] for g in again] == [default["id"]]


def test_new_group_has_open_egress_and_name_default_is_refused(tenant):
    group = create_group(tenant)
    assert group["project_id"] == group["tenant_id"] == tenant.project_id
    assert {(r["direction"], r["ethertype"]) for r in group["security_group_rules"]} == {
        ("egress", "IPv4"),
        ("egress", "IPv6"),
    }
    assert (
        error_of(tenant.post("/v2.0/security-groups", json={"security_group": {"name": "default"}}), 409)
        == "SecurityGroupDefaultAlreadyExists"
    )
    default = [g for g in tenant.get("/v2.0/security-groups").json()["security_groups"] if g["name"] == "default"][0]
    r = tenant.put(f"/v2.0/security-groups/{default['id']}", json={"security_group": {"name": "other"}})
    assert error_of(r, 409) == "SecurityGroupCannotUpdateDefault"
    assert error_of(tenant.delete(f"/v2.0/security-groups/{default['id']}"), 409) == "SecurityGroupCannotRemoveDefault"


def test_rules_are_normalised_and_checked(tenant):
    group = create_group(tenant)
    r = create_rule(
        tenant, group["id"], protocol="tcp", port_range_min=22, port_range_max=22, remote_ip_prefix="10.0.0.7/8"
    )
    assert r.status_code == 201, r.text
    rule = r.json()["security_group_rule"]
    # Neutron keeps the prefix as given and answers its network as normalized_cidr.
    assert (rule["protocol"], rule["port_range_min"], rule["remote_ip_prefix"]) == ("tcp", 22, "10.0.0.7/8")
    assert rule["normalized_cidr"] == "10.0.0.0/8"
    assert (
        error_of(
            create_rule(
                tenant, group["id"], protocol="tcp", port_range_min=22, port_range_max=22, remote_ip_prefix="10.0.0.7/8"
            ),
            409,
        )
        == "SecurityGroupRuleExists"
    )
    cases = {
        "SecurityGroupRuleInvalidProtocol": {"protocol": "bogus"},
        "SecurityGroupProtocolRequiredWithPorts": {"port_range_min": 80, "port_range_max": 80},
        "SecurityGroupInvalidPortRange": {"protocol": "tcp", "port_range_min": 90, "port_range_max": 80},
        "SecurityGroupMissingIcmpType": {"protocol": "icmp", "port_range_max": 0},
        "SecurityGroupRuleParameterConflict": {"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"},
        "SecurityGroupRemoteGroupAndRemoteIpPrefix": {"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": group["id"]},
    }
    for wanted, attrs in cases.items():
        assert error_of(create_rule(tenant, group["id"], **attrs), 400) == wanted, attrs
    assert error_of(create_rule(tenant, group["id"], direction="sideways"), 400) == "HTTPBadRequest"
    icmp = create_rule(tenant, group["id"], protocol="icmp", port_range_min=8, port_range_max=0)
    assert icmp.status_code == 201, icmp.text
    numeric = create_rule(tenant, group["id"], protocol=132, port_range_min=1, port_range_max=65535)
    assert numeric.status_code == 201, numeric.text
    assert (
        numeric.json()["security_group_rule"]["protocol"],
        numeric.json()["security_group_rule"]["port_range_min"],
    ) == ("132", None)
    shown = tenant.get(f"/v2.0/security-groups/{group['id']}").json()["security_group"]
    assert len(shown["security_group_rules"]) == 5
    listed = tenant.get(
        "/v2.0/security-group-rules", params={"security_group_id": group["id"], "protocol": "tcp"}
    ).json()
    assert [r["id"] for r in listed["security_group_rules"]] == [rule["id"]]
    assert tenant.delete(f"/v2.0/security-group-rules/{rule['id']}").status_code == 204
    assert error_of(tenant.get(f"/v2.0/security-group-rules/{rule['id']}"), 404) == "SecurityGroupRuleNotFound"


def test_bulk_rule_create_is_all_or_nothing(tenant):
    group = create_group(tenant)
    good = {
        "security_group_id": group["id"],
        "direction": "ingress",
        "protocol": "udp",
        "port_range_min": 53,
        "port_range_max": 53,
    }
    bad = {"security_group_id": group["id"], "direction": "ingress", "protocol": "nope"}
    r = tenant.post("/v2.0/security-group-rules", json={"security_group_rules": [good, bad]})
    assert error_of(r, 400) == "SecurityGroupRuleInvalidProtocol"
    assert len(tenant.get(f"/v2.0/security-groups/{group['id']}").json()["security_group"]["security_group_rules"]) == 2
    r = tenant.post("/v2.0/security-group-rules", json={"security_group_rules": [good, {**good, "protocol": "tcp"}]})
    assert r.status_code == 201, r.text
    assert len(r.json()["security_group_rules"]) == 2


def test_ports_get_the_default_group_and_groups_in_use_cannot_go(tenant, api_server):
    net = make_network(tenant)
    groups = tenant.get("/v2.0/security-groups").json()["security_groups"]
    default_id = [g["id"] for g in groups if g["name"] == "default"][0]
    port = tenant.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    assert port["security_groups"] == [default_id]
    dhcp = tenant.post("/v2.0/ports", json={"port": {"network_id": net["id"], "device_owner": "network:dhcp"}})
    assert dhcp.json()["port"]["security_groups"] == []
    web = create_group(tenant)
    r = tenant.put(f"/v2.0/ports/{port['id']}", json={"port": {"security_groups": [web["id"]]}})
    assert r.json()["port"]["security_groups"] == [web["id"]]
    assert error_of(tenant.delete(f"/v2.0/security-groups/{web['id']}"), 409) == "SecurityGroupInUse"
    with httpx.Client(base_url=api_server.url, headers={"X-Project-Id": "someone-else", "X-Roles": "member"}) as other:
        assert error_of(other.get(f"/v2.0/security-groups/{web['id']}"), 404) == "SecurityGroupNotFound"
        foreign = other.post("/v2.0/security-groups", json={"security_group": {"name": "theirs"}}).json()
    missing = tenant.put(
        f"/v2.0/ports/{port['id']}", json={"port": {"security_groups": [foreign["security_group"]["id"]]}}
    )
    assert error_of(missing, 404) == "SecurityGroupNotFound"
    assert tenant.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert tenant.delete(f"/v2.0/security-groups/{web['id']}").status_code == 204


def test_admin_may_delete_a_default_group_and_it_comes_back(tenant, admin):
    default_id = tenant.get("/v2.0/security-groups").json()["security_groups"][0]["id"]
    assert admin.delete(f"/v2.0/security-groups/{default_id}").status_code == 204
    remade = tenant.get("/v2.0/security-groups").json()["security_groups"]
    assert [g["name"] for g in remade] == ["default"] and remade[0]["id"] != default_id


def test_admin_list_filtered_by_project_makes_its_default_group(admin, tenant):
    """As Neutron's: an admin listing ``?project_id=X&name=default`` (or
    ``tenant_id``) finds project X's default group, made if X never looked."""
    for key in ("project_id", "tenant_id"):
        project = f"never-{key}-{uuid.uuid4().hex[:8]}"
        listed = admin.get("/v2.0/security-groups", params={key: project, "name": "default"}).json()
        groups = listed["security_groups"]
        assert [(g["name"], g["project_id"]) for g in groups] == [("default", project)]
        again = admin.get("/v2.0/security-groups", params={key: project}).json()["security_groups"]
        assert [g["id"] for g in again] == [groups[0]["id"]]
    # A member's filter on another project makes nothing for it.
    other = f"other-{uuid.uuid4().hex[:8]}"
    assert tenant.get("/v2.0/security-groups", params={"project_id": other}).json()["security_groups"] == []
    assert admin.get("/v2.0/security-groups", params={"project_id": other, "name": "x"}).json()["security_groups"] == []
    assert [
        g["name"] for g in admin.get("/v2.0/security-groups", params={"project_id": other}).json()["security_groups"]
    ] == ["default"]


def test_extension_is_advertised(admin):
    aliases = {e["alias"] for e in admin.get("/v2.0/extensions").json()["extensions"]}
    assert "security-group" in aliases
    assert {"security-groups", "security-group-rules"} <= {
        r["collection"] for r in admin.get("/v2.0/").json()["resources"]
    }
