"""Neutron's default security-group rules (templates) against a real server,
on every database: the seeded defaults, admin CRUD with Neutron's errors and
policy, new groups and new default groups made from the templates (``PARENT``
as the group itself), filters / fields / sorting, the unmodified `openstack
default security group rule` commands and openstacksdk.

Templates are global, so this file has its own server.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.test_openstack_cli import osc, osc_json
from tests.api.test_sdk_workflows import connect
from tests.api.test_wire import error_of
from tests.dbs import migrated_database, selected_backends
from tests.servers import quark_server

URL = "/v2.0/default-security-group-rules"
FIELDS = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix")


@pytest.fixture(scope="module", params=selected_backends())
def server(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory) as url:
        with quark_server(url) as running:
            yield running


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def project() -> dict[str, str]:
    return {"X-Project-Id": f"p-{uuid.uuid4().hex[:10]}", "X-Roles": "member"}


def template(http, **body) -> httpx.Response:
    return http.post(URL, json={"default_security_group_rule": body})


def made(http, **body) -> dict:
    answer = template(http, **body)
    assert answer.status_code == 201, answer.text
    return answer.json()["default_security_group_rule"]


def shape(rule: dict, group_id: str) -> tuple:
    remote = "PARENT" if rule["remote_group_id"] == group_id else rule["remote_group_id"]
    return (*(rule[k] for k in FIELDS), remote)


def groups_of_new_project(http) -> tuple[dict, dict]:
    """(default group, a new group) of a fresh project, as it sees them."""
    headers = project()
    created = http.post("/v2.0/security-groups", headers=headers, json={"security_group": {"name": "web"}})
    assert created.status_code == 201, created.text
    groups = http.get("/v2.0/security-groups", headers=headers).json()["security_groups"]
    (default,) = [g for g in groups if g["name"] == "default"]
    return default, created.json()["security_group"]


EGRESS = {("egress", "IPv4", None, None, None, None, None), ("egress", "IPv6", None, None, None, None, None)}
FROM_MEMBERS = {
    ("ingress", "IPv4", None, None, None, None, "PARENT"),
    ("ingress", "IPv6", None, None, None, None, "PARENT"),
}


def test_seeded_defaults_make_neutrons_groups(http):
    aliases = {e["alias"] for e in http.get("/v2.0/extensions").json()["extensions"]}
    assert {"security-groups-default-rules", "network-segment-range"} <= aliases
    seeded = http.get(URL).json()["default_security_group_rules"]
    assert {(shape(r, ""), r["used_in_default_sg"], r["used_in_non_default_sg"]) for r in seeded} == {
        *((s, True, True) for s in EGRESS),
        *((s, True, False) for s in FROM_MEMBERS),
    }
    assert {r["description"] for r in seeded} == {
        "Legacy default SG rule for egress traffic",
        "Legacy default SG rule for ingress traffic",
    }
    assert set(seeded[0]) == {"id", "description", *FIELDS, "remote_group_id", "remote_address_group_id", "links",
                              "used_in_default_sg", "used_in_non_default_sg"}  # fmt: skip
    default, web = groups_of_new_project(http)
    assert {shape(r, default["id"]) for r in default["security_group_rules"]} == EGRESS | FROM_MEMBERS
    assert {shape(r, web["id"]) for r in web["security_group_rules"]} == EGRESS


def test_templates_shape_new_groups(http):
    ssh = made(http, direction="ingress", protocol="tcp", port_range_min=22, port_range_max=22,
               remote_ip_prefix="10.0.0.0/8", description="ssh")  # fmt: skip
    assert (ssh["used_in_default_sg"], ssh["used_in_non_default_sg"], ssh["ethertype"]) == (False, True, "IPv4")
    icmp = made(http, direction="ingress", protocol="icmp", remote_group_id="PARENT",
                used_in_default_sg=True, used_in_non_default_sg=False)  # fmt: skip
    v6 = [r for r in http.get(URL, params={"direction": "egress", "ethertype": "IPv6"}).json()[
        "default_security_group_rules"]]  # fmt: skip
    assert len(v6) == 1
    assert http.delete(f"{URL}/{v6[0]['id']}").status_code == 204
    try:
        default, web = groups_of_new_project(http)
        ssh_rule = ("ingress", "IPv4", "tcp", 22, 22, "10.0.0.0/8", None)
        icmp_rule = ("ingress", "IPv4", "icmp", None, None, None, "PARENT")
        v4_out = ("egress", "IPv4", None, None, None, None, None)
        assert sorted(map(str, (shape(r, web["id"]) for r in web["security_group_rules"]))) == sorted(
            map(str, (v4_out, ssh_rule))
        )
        assert {shape(r, default["id"]) for r in default["security_group_rules"]} == {v4_out, icmp_rule} | FROM_MEMBERS
        (from_template,) = [r for r in web["security_group_rules"] if r["protocol"] == "tcp"]
        assert from_template["description"] == ""  # the template's description stays the template's
    finally:
        for rid in (ssh["id"], icmp["id"]):
            assert http.delete(f"{URL}/{rid}").status_code == 204
        made(http, direction="egress", ethertype="IPv6", used_in_default_sg=True, used_in_non_default_sg=True,
             description=v6[0]["description"])  # fmt: skip
    _, web = groups_of_new_project(http)
    assert {shape(r, web["id"]) for r in web["security_group_rules"]} == EGRESS


def test_errors_policy_and_listing(http):
    dup = template(http, direction="egress", ethertype="IPv4")
    assert error_of(dup, 409) == "DefaultSecurityGroupRuleExists"
    cases = [
        ({"direction": "sideways"}, "HTTPBadRequest"),
        ({"ethertype": "IPv4"}, "HTTPBadRequest"),  # direction required
        ({"direction": "ingress", "port_range_min": 80}, "SecurityGroupProtocolRequiredWithPorts"),
        (
            {"direction": "ingress", "protocol": "tcp", "port_range_min": 90, "port_range_max": 80},
            "SecurityGroupInvalidPortRange",
        ),  # fmt: skip
        (
            {"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "PARENT"},
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
        ),  # fmt: skip
        ({"direction": "ingress", "used_in_default_sg": "maybe"}, "HTTPBadRequest"),
        ({"direction": "ingress", "remote_group_id": "x" * 200}, "InvalidInput"),  # neither PARENT nor an id
    ]
    for body, kind in cases:
        assert error_of(template(http, **body), 400) == kind, body
    missing_group = template(http, direction="ingress", remote_address_group_id=str(uuid.uuid4()))
    assert error_of(missing_group, 404) == "AddressGroupNotFound"
    assert error_of(http.get(f"{URL}/{uuid.uuid4()}"), 404) == "DefaultSecurityGroupRuleNotFound"

    member = project()
    as_member = http.post(URL, headers=member, json={"default_security_group_rule": {"direction": "ingress"}})
    assert error_of(as_member, 403) == "PolicyNotAuthorized"
    seen = http.get(URL, headers=member).json()["default_security_group_rules"]
    assert len(seen) == 4  # any reader sees the templates (Neutron's role:reader)
    assert http.delete(f"{URL}/{seen[0]['id']}", headers=member).status_code == 403
    put = http.put(f"{URL}/{seen[0]['id']}", json={"default_security_group_rule": {"direction": "ingress"}})
    assert error_of(put, 400) == "HTTPBadRequest"

    in_default = http.get(URL, params={"used_in_non_default_sg": "false", "fields": ["remote_group_id"]}).json()
    assert in_default["default_security_group_rules"] == [{"remote_group_id": "PARENT"}] * 2
    ordered = http.get(URL, params={"sort_key": "ethertype", "sort_dir": "desc", "direction": "egress"}).json()
    assert [r["ethertype"] for r in ordered["default_security_group_rules"]] == ["IPv6", "IPv4"]
    page = http.get(URL, params={"limit": 3, "sort_key": "id"}).json()
    assert len(page["default_security_group_rules"]) == 3 and page["default_security_group_rules_links"]
    assert len(http.get(URL).json()["default_security_group_rules"]) == 4  # nothing changed


def test_openstack_cli_and_sdk(server):
    rule = osc_json(server, "default", "security", "group", "rule", "create", "--protocol", "tcp",
                    "--dst-port", "8080:8081", "--ingress", "--ethertype", "IPv4", "--for-custom-sg")  # fmt: skip
    assert (rule["port_range_min"], rule["port_range_max"], rule["used_in_non_default_sg"]) == (8080, 8081, True)
    assert rule["used_in_default_sg"] is False
    listed = osc_json(server, "default", "security", "group", "rule", "list")
    assert rule["id"] in [row["ID"] for row in listed]
    shown = osc_json(server, "default", "security", "group", "rule", "show", rule["id"])
    assert shown["protocol"] == "tcp"
    osc(server, "default", "security", "group", "rule", "delete", rule["id"])
    assert osc(server, "default", "security", "group", "rule", "show", rule["id"], check=False).returncode != 0

    conn = connect(server.url)
    made_by_sdk = conn.network.create_default_security_group_rule(
        direction="ingress", protocol="udp", port_range_min=53, port_range_max=53, used_in_default_sg=True
    )
    try:
        found = list(conn.network.default_security_group_rules(protocol="udp"))
        assert [r.id for r in found] == [made_by_sdk.id] and found[0].used_in_default_sg is True
        assert conn.network.get_default_security_group_rule(made_by_sdk.id).port_range_min == 53
    finally:
        conn.network.delete_default_security_group_rule(made_by_sdk)
