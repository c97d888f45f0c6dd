"""Neutron's behaviour where the Tempest suites found Quark's differed: bulk
items in their singular wrapper, "previous" links on empty pages, If-Match
with any integer, filter-validation and subnets' ``shared`` filter, external
networks that take their free floating IPs along, ports on SLAAC plus
DHCPv6-stateful networks, MAC regeneration, and the aliases that say so."""

from __future__ import annotations

import ipaddress
import uuid
from urllib.parse import parse_qs, urlparse

import pytest

from quark.ipam import addressing, macs
from tests.api.test_floating_ips import routed
from tests.api.test_wire import error_of, make_network, make_subnet


def aliases(client) -> set[str]:
    return {e["alias"] for e in client.get("/v2.0/extensions").json()["extensions"]}


def test_the_aliases_of_this_behaviour_are_advertised(admin):
    assert {
        "filter-validation",
        "subnet-external-network",
        "port-mac-address-regenerate",
        "security-groups-normalized-cidr",
        "stateful-security-group",
    } <= aliases(admin)


def test_subnets_say_whether_their_network_is_external(admin):
    ext, net = make_network(admin, **{"router:external": True}), make_network(admin)
    assert make_subnet(admin, ext["id"], "192.0.2.0/28")["router:external"] is True
    internal = make_subnet(admin, net["id"], "192.0.2.16/28")
    assert internal["router:external"] is False
    both = {"network_id": [ext["id"], net["id"]]}
    listed = {
        flag: [s["id"] for s in admin.get("/v2.0/subnets", params={**both, "router:external": flag}).json()["subnets"]]
        for flag in ("True", "False")
    }
    assert listed["False"] == [internal["id"]]
    assert len(listed["True"]) == 1 and listed["True"] != listed["False"]


# --- bulk items wrapped in the singular key --------------------------------------------


def test_bulk_items_may_be_wrapped_in_the_singular_key(admin):
    net_name = f"wrapped-{uuid.uuid4().hex[:6]}"
    r = admin.post("/v2.0/networks", json={"networks": [{"network": {"name": net_name}}, {"name": net_name + "-bare"}]})
    assert r.status_code == 201, r.text
    nets = r.json()["networks"]
    assert [n["name"] for n in nets] == [net_name, net_name + "-bare"]
    net_id = nets[0]["id"]
    bodies = {
        "subnets": {"subnet": {"network_id": net_id, "ip_version": 4, "cidr": "10.61.0.0/24"}},
        "ports": {"port": {"network_id": net_id, "name": "p"}},
        "security_groups": {"security_group": {"name": "wrapped"}},
    }
    created = {}
    for collection, item in bodies.items():
        r = admin.post(f"/v2.0/{collection.replace('_', '-')}", json={collection: [item]})
        assert r.status_code == 201, r.text
        created[collection] = r.json()[collection][0]
    assert created["subnets"]["cidr"] == "10.61.0.0/24"
    assert created["ports"]["name"] == "p"
    group_id = created["security_groups"]["id"]
    rule = {"security_group_rule": {"security_group_id": group_id, "direction": "ingress", "protocol": "tcp"}}
    r = admin.post("/v2.0/security-group-rules", json={"security_group_rules": [rule]})
    assert r.status_code == 201, r.text
    assert r.json()["security_group_rules"][0]["protocol"] == "tcp"


def test_a_wrapped_bulk_item_with_other_keys_is_refused_and_nothing_is_made(admin):
    name = f"wrapped-bad-{uuid.uuid4().hex[:6]}"
    body = {"networks": [{"network": {"name": name}}, {"network": {"name": name}, "extra": 1}]}
    r = admin.post("/v2.0/networks", json=body)
    assert error_of(r, 400) == "HTTPBadRequest"
    assert "extra" in r.json()["NeutronError"]["message"]
    assert admin.get("/v2.0/networks", params={"name": name}).json()["networks"] == []


# --- pagination links -------------------------------------------------------------------


def link(body: dict, key: str, rel: str) -> dict | None:
    found = [item for item in body[f"{key}_links"] if item["rel"] == rel]
    if not found:
        return None
    return parse_qs(urlparse(found[0]["href"]).query)


def test_an_empty_page_after_the_last_links_back_as_neutron(tenant):
    net = make_network(tenant)
    ids = sorted(make_subnet(tenant, net["id"], f"10.62.{i}.0/24")["id"] for i in range(2))
    params = {"network_id": net["id"], "limit": 2}
    page = tenant.get("/v2.0/subnets", params={**params, "marker": ids[-1]}).json()
    assert page["subnets"] == []
    assert link(page, "subnets", "next") is None
    back = link(page, "subnets", "previous")
    assert back is not None and back["page_reverse"] == ["True"] and "marker" not in back
    assert back["network_id"] == [net["id"]] and back["limit"] == ["2"]
    # Following it from the end gives the last page.
    last = tenant.get("/v2.0/subnets", params={**params, "page_reverse": "True"}).json()["subnets"]
    assert sorted(s["id"] for s in last) == ids
    # A full page links both ways, with its first and last ids as markers.
    full = tenant.get("/v2.0/subnets", params=params).json()
    assert link(full, "subnets", "next")["marker"] == [ids[-1]]
    assert link(full, "subnets", "previous")["marker"] == [ids[0]]
    # An empty reverse page links forward only.
    reverse = tenant.get("/v2.0/subnets", params={**params, "marker": ids[0], "page_reverse": "True"}).json()
    assert reverse["subnets"] == []
    assert link(reverse, "subnets", "previous") is None
    assert "marker" not in link(reverse, "subnets", "next")


# --- If-Match ---------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["revision_number=-1", "revision_number=+7", "revision_number=123456789012"])
def test_if_match_with_any_integer_is_412_on_a_mismatch(admin, tag):
    net = make_network(admin)
    r = admin.put(f"/v2.0/networks/{net['id']}", json={"network": {"name": "x"}}, headers={"If-Match": tag})
    assert error_of(r, 412) == "HTTPPreconditionFailed"
    assert admin.get(f"/v2.0/networks/{net['id']}").json()["network"]["name"] == net["name"]
    bad = admin.put(
        f"/v2.0/networks/{net['id']}", json={"network": {"name": "x"}}, headers={"If-Match": "revision_number=1.5"}
    )
    assert error_of(bad, 400) == "HTTPBadRequest"


# --- filters ----------------------------------------------------------------------------


def test_unknown_filters_are_refused(admin):
    r = admin.get("/v2.0/networks", params={"name": "x", "bogus": "1"})
    assert error_of(r, 400) == "HTTPBadRequest"
    assert r.json()["NeutronError"]["message"] == "['bogus'] is invalid attribute for filtering"
    for path in ("/v2.0/ports", "/v2.0/subnets", "/v2.0/security-groups", "/v2.0/floatingips"):
        assert error_of(admin.get(path, params={"no_such_attribute": "1"}), 400) == "HTTPBadRequest"


@pytest.mark.parametrize(
    "path, params",
    [
        # What Nova and openstacksdk send.
        ("/v2.0/ports", {"device_id": "x", "fields": ["id", "mac_address"], "tenant_id": "p"}),
        ("/v2.0/ports", {"binding:host_id": "h", "device_owner": "compute:nova", "fixed_ips": "ip_address=10.0.0.1"}),
        ("/v2.0/ports", {"security_groups": "x", "mac_address": "fa:16:3e:00:00:01", "status": "ACTIVE"}),
        ("/v2.0/networks", {"router:external": "True", "shared": "False", "provider:network_type": "vxlan"}),
        ("/v2.0/networks", {"project_id": "p", "is_default": "True", "port_security_enabled": "True"}),
        ("/v2.0/networks", {"tags": "a", "tags-any": "b", "not-tags": "c", "not-tags-any": "d"}),
        ("/v2.0/networks", {"sort_key": "name", "sort_dir": "asc", "limit": "5", "page_reverse": "False"}),
        ("/v2.0/subnets", {"ip_version": "4", "enable_dhcp": "True", "cidr": "10.0.0.0/24", "shared": "true"}),
        ("/v2.0/security-groups", {"name": "default", "shared": "False", "stateful": "True"}),
        ("/v2.0/security-group-rules", {"security_group_id": "x", "direction": "ingress", "remote_group_id": "y"}),
        ("/v2.0/floatingips", {"port_id": "x", "fixed_ip_address": "10.0.0.1", "floating_network_id": "y"}),
    ],
)
def test_every_attribute_and_the_known_parameters_stay_accepted(admin, path, params):
    r = admin.get(path, params=params)
    assert r.status_code == 200, r.text


def test_subnets_filter_on_their_networks_shared(admin):
    shared, private = make_network(admin, shared=True), make_network(admin)
    s1 = make_subnet(admin, shared["id"], "10.63.0.0/24")
    s2 = make_subnet(admin, private["id"], "10.63.1.0/24")
    both = {"network_id": [shared["id"], private["id"]]}
    on = [s["id"] for s in admin.get("/v2.0/subnets", params={**both, "shared": "true"}).json()["subnets"]]
    off = [s["id"] for s in admin.get("/v2.0/subnets", params={**both, "shared": "false"}).json()["subnets"]]
    assert (on, off) == ([s1["id"]], [s2["id"]])
    assert "shared" not in admin.get(f"/v2.0/subnets/{s1['id']}").json()["subnet"]


# --- external networks and their floating IPs -------------------------------------------


def test_deleting_an_external_network_deletes_its_free_floating_ips(admin):
    ext = make_network(admin, **{"router:external": True})
    make_subnet(admin, ext["id"], "198.51.100.0/28")
    fips = [admin.post("/v2.0/floatingips", json={"floatingip": {"floating_network_id": ext["id"]}}) for _ in range(2)]
    assert all(r.status_code == 201 for r in fips)
    assert admin.delete(f"/v2.0/networks/{ext['id']}").status_code == 204
    for r in fips:
        assert error_of(admin.get(f"/v2.0/floatingips/{r.json()['floatingip']['id']}"), 404) == "FloatingIPNotFound"
    assert admin.get("/v2.0/ports", params={"network_id": ext["id"]}).json()["ports"] == []


def test_an_associated_floating_ip_keeps_its_network_in_use(admin):
    ext = make_network(admin, **{"router:external": True})
    make_subnet(admin, ext["id"], "198.51.100.16/28")
    net = make_network(admin)
    subnet = make_subnet(admin, net["id"], "10.64.0.0/24")
    routed(admin, ext["id"], subnet["id"])  # a floating IP is associated through a router
    port = admin.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    free = admin.post("/v2.0/floatingips", json={"floatingip": {"floating_network_id": ext["id"]}}).json()
    used = admin.post(
        "/v2.0/floatingips", json={"floatingip": {"floating_network_id": ext["id"], "port_id": port["id"]}}
    ).json()
    assert used["floatingip"]["port_id"] == port["id"], used
    assert error_of(admin.delete(f"/v2.0/networks/{ext['id']}"), 409) == "NetworkInUse"
    # Nothing changed: the refusal rolled the free one's delete back too.
    assert admin.get(f"/v2.0/floatingips/{free['floatingip']['id']}").status_code == 200
    assert admin.get(f"/v2.0/floatingips/{used['floatingip']['id']}").json()["floatingip"]["port_id"] == port["id"]


# --- ports on SLAAC plus DHCPv6-stateful networks -----------------------------------------


@pytest.mark.parametrize("mode", ["slaac", "dhcpv6-stateless"])
@pytest.mark.parametrize("slaac_first", [True, False])
def test_a_port_gets_an_eui64_and_a_stateful_address(admin, mode, slaac_first):
    net = make_network(admin)
    prefix = f"2001:db8:{uuid.uuid4().int % 0xFFFF:x}"

    def auto():
        return make_subnet(admin, net["id"], f"{prefix}:1::/64", 6, ipv6_ra_mode=mode, ipv6_address_mode=mode)

    def stateful():
        return make_subnet(admin, net["id"], f"{prefix}:2::/64", 6, ipv6_address_mode="dhcpv6-stateful")

    if slaac_first:
        eui_subnet, dhcp_subnet = auto(), stateful()
    else:
        dhcp_subnet = stateful()
        eui_subnet = auto()
    mac = "fa:16:3e:12:34:56"
    r = admin.post("/v2.0/ports", json={"port": {"network_id": net["id"], "mac_address": mac}})
    assert r.status_code == 201, r.text
    held = {ip["subnet_id"]: ip["ip_address"] for ip in r.json()["port"]["fixed_ips"]}
    assert set(held) == {eui_subnet["id"], dhcp_subnet["id"]}
    eui = addressing.eui64(ipaddress.ip_network(eui_subnet["cidr"]), macs.parse_mac(mac))
    assert held[eui_subnet["id"]] == str(eui)
    assert ipaddress.ip_address(held[dhcp_subnet["id"]]) in ipaddress.ip_network(dhcp_subnet["cidr"])


# --- MAC regeneration -------------------------------------------------------------------


def test_mac_address_null_regenerates_the_mac(admin):
    net = make_network(admin)
    eui_subnet = make_subnet(admin, net["id"], "2001:db8:77::/64", 6, ipv6_ra_mode="slaac", ipv6_address_mode="slaac")
    port = admin.post("/v2.0/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    r = admin.put(f"/v2.0/ports/{port['id']}", json={"port": {"mac_address": None}})
    assert r.status_code == 200, r.text
    updated = r.json()["port"]
    assert updated["mac_address"] != port["mac_address"]
    assert updated["mac_address"].startswith("fa:16:3e:")
    # The EUI-64 address follows the new MAC.
    expected = addressing.eui64(ipaddress.ip_network(eui_subnet["cidr"]), macs.parse_mac(updated["mac_address"]))
    assert [ip["ip_address"] for ip in updated["fixed_ips"]] == [str(expected)]
