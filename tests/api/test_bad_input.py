"""Hostile input on the wire: every one is a 400 with a Neutron body on every
backend alike, and a refused request changes nothing (issue 16)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from quark.config import Settings


def bad_request(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"NeutronError"}
    assert set(body["NeutronError"]) == {"type", "message", "detail"}
    assert body["NeutronError"]["detail"] == ""
    assert body["NeutronError"]["message"]
    return body["NeutronError"]["message"]


def raw(api_server, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> httpx.Response:
    """A request whose header bytes httpx would not send as they are."""
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        return client.request(method, path, headers=headers, content=body)


@pytest.fixture
def network(admin):
    r = admin.post("/v2.0/networks", json={"network": {"name": f"bad-{uuid.uuid4().hex[:8]}"}})
    assert r.status_code == 201, r.text
    return r.json()["network"]


def names_like(admin, prefix: str) -> list[str]:
    nets = admin.get("/v2.0/networks").json()["networks"]
    return [n["name"] for n in nets if n["name"].startswith(prefix)]


# --- NUL bytes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "name=a%00b",
        "id=%00",
        "marker=a%00b",
        "tags=x%00y",
        "not-tags-any=%00",
        "sort_key=na%00me",
        "fields=na%00me",
        "unknown=%00",
        "description=%00",
    ],
)
def test_nul_in_query_is_400(admin, query):
    assert "NUL" in bad_request(admin.get(f"/v2.0/networks?{query}"))


def test_nul_in_query_of_every_kind_of_list(admin):
    for path in ("/v2.0/ports", "/v2.0/subnets", "/v2.0/security-groups", "/v2.0/floatingips"):
        bad_request(admin.get(f"{path}?name=%00"))
    bad_request(admin.get("/v2.0/ports?fixed_ips=ip_address%3D10.0.0.1%00"))


def test_nul_in_path_is_400(admin, network):
    net_id = network["id"]
    bad_request(admin.get("/v2.0/networks/a%00b"))
    bad_request(admin.put("/v2.0/networks/a%00b", json={"network": {"name": "x"}}))
    bad_request(admin.delete("/v2.0/networks/a%00b"))
    bad_request(admin.put(f"/v2.0/networks/{net_id}/tags/a%00b"))
    bad_request(admin.get(f"/v2.0/networks/{net_id}/tags/a%00b"))
    assert admin.get(f"/v2.0/networks/{net_id}").json()["network"]["tags"] == []


def test_nul_in_body_is_400_and_writes_nothing(admin):
    prefix = f"nul-{uuid.uuid4().hex[:8]}"
    bodies = [
        {"network": {"name": f"{prefix}a\u0000b"}},
        {"network": {"name": prefix, "description": "\u0000"}},
        {"networks": [{"name": prefix}, {"name": f"{prefix}\u0000"}]},
        {"network": {"name": prefix, "tags": ["ok", "b\u0000d"]}},
    ]
    for body in bodies:
        assert "NUL" in bad_request(admin.post("/v2.0/networks", json=body))
    assert names_like(admin, prefix) == []


def test_nul_in_nested_body_values_and_keys_is_400(admin, network):
    net_id = network["id"]
    port = {"network_id": net_id, "fixed_ips": []}
    bodies = [
        {**port, "dns_name": "a\u0000"},
        {**port, "binding:profile": {"key": "v\u0000"}},
        {**port, "binding:profile": {"k\u0000": "v"}},
        {**port, "binding:profile": {"deep": [{"x": ["\u0000"]}]}},
        {**port, "extra_dhcp_opts": [{"opt_name": "tftp-server", "opt_value": "1.2.3.4\u0000"}]},
        {**port, "fixed_ips": [{"ip_address": "10.0.0.5\u0000"}]},
        {**port, "allowed_address_pairs": [{"ip_address": "10.0.0.9", "mac_address": "fa:16:3e:00:00:01\u0000"}]},
    ]
    for body in bodies:
        bad_request(admin.post("/v2.0/ports", json={"port": body}))
    assert admin.get(f"/v2.0/ports?network_id={net_id}").json()["ports"] == []
    bad_request(admin.put(f"/v2.0/networks/{net_id}", json={"network": {"name": "x\u0000"}}))
    bad_request(admin.put(f"/v2.0/networks/{net_id}/tags", json={"tags": ["\u0000"]}))
    after = admin.get(f"/v2.0/networks/{net_id}").json()["network"]
    assert (after["name"], after["tags"]) == (network["name"], [])


@pytest.mark.parametrize("collection", ["networks", "security-groups"])
def test_a_key_beside_the_bulk_list_is_400_and_writes_nothing(admin, collection):
    """The bulk envelope holds the list and nothing else, as the single one holds its object."""
    prefix = f"env-{uuid.uuid4().hex[:8]}"
    body = {collection.replace("-", "_"): [{"name": prefix}], "x-unknown": 42}
    assert bad_request(admin.post(f"/v2.0/{collection}", json=body)) == "Unrecognized attribute(s) 'x-unknown'"
    listed = admin.get(f"/v2.0/{collection}?name={prefix}").json()[collection.replace("-", "_")]
    assert listed == []


def test_an_escaped_backslash_before_u0000_is_not_a_nul(admin):
    name = f"esc-{uuid.uuid4().hex[:8]}\\u0000"
    r = admin.post("/v2.0/networks", json={"network": {"name": name}})
    assert r.status_code == 201, r.text
    assert r.json()["network"]["name"] == name


# --- identity headers -----------------------------------------------------------


@pytest.mark.parametrize("header", ["X-Project-Id", "X-Tenant-Id", "X-User-Id"])
def test_identity_header_longer_than_255_is_400(admin, header):
    prefix = f"long-{uuid.uuid4().hex[:8]}"
    headers = {header: "p" * 256, "X-Roles": "member"}
    if header == "X-User-Id":
        headers["X-Project-Id"] = "p-ok"
    bad_request(admin.post("/v2.0/networks", json={"network": {"name": prefix}}, headers=headers))
    bad_request(admin.get("/v2.0/networks", headers=headers))
    assert names_like(admin, prefix) == []
    ok = admin.get("/v2.0/networks", headers={header: "p" * 255, "X-Project-Id": "p" * 255})
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("header", [b"x-project-id", b"x-tenant-id", b"x-user-id", b"x-roles", b"x-tenant"])
def test_non_utf8_identity_header_is_400(api_server, admin, header):
    prefix = f"latin-{uuid.uuid4().hex[:8]}"
    body = b'{"network": {"name": "' + prefix.encode() + b'"}}'
    headers = [(header, b"caf\xe9"), (b"content-type", b"application/json")]
    if header != b"x-project-id":
        headers.append((b"x-project-id", b"p-ok"))
    r = raw(api_server, "POST", "/v2.0/networks", headers, body)
    bad_request(r)
    assert r.headers["x-openstack-request-id"].startswith("req-")
    assert names_like(admin, prefix) == []


# --- integer filters ---------------------------------------------------------------


@pytest.mark.parametrize("value", [str(-(2**63)), str(2**31), str(-(2**31) - 1), "1e3"])
def test_integer_filter_outside_the_columns_range_is_400(admin, value):
    """The filtered columns are 32-bit: PostgreSQL answered 500 for a larger value (fuzzer)."""
    assert "revision_number" in bad_request(admin.get(f"/v2.0/networks?revision_number={value}"))
    bad_request(admin.get(f"/v2.0/security-group-rules?port_range_min={value}"))


def test_integer_filter_at_the_columns_bounds_is_an_empty_match(admin):
    for value in (2**31 - 1, -(2**31)):
        r = admin.get(f"/v2.0/networks?revision_number={value}")
        assert r.status_code == 200, r.text
        assert r.json() == {"networks": []}


# --- 405 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/v2.0/networks", {"GET", "HEAD", "POST"}),
        ("PUT", "/v2.0/networks", {"GET", "HEAD", "POST"}),
        ("POST", "/v2.0/networks/x", {"GET", "HEAD", "PUT", "DELETE"}),
        ("POST", "/", {"GET", "HEAD"}),
        ("POST", "/v2.0/networks/x/tags/t", {"GET", "HEAD", "PUT", "DELETE"}),
        # A literal path is its own resource, not an id of /v2.0/agents/{id} beside it.
        ("OPTIONS", "/v2.0/agents/report", {"POST"}),
        ("PATCH", "/v2.0/quotas/project", {"GET", "HEAD"}),
        ("POST", "/v2.0/quotas", {"GET", "HEAD"}),
    ],
)
def test_405_says_what_is_allowed(admin, method, path, allowed):
    r = admin.request(method, path)
    assert r.status_code == 405, r.text
    assert r.json()["NeutronError"]["type"] == "HTTPMethodNotAllowed"
    assert {m.strip() for m in r.headers["allow"].split(",")} == allowed


def test_405_from_a_service_says_what_is_allowed(admin):
    r = admin.post("/v2.0/agents", json={"agent": {}})
    assert r.status_code == 405, r.text
    assert "GET" in {m.strip() for m in r.headers["allow"].split(",")}
    assert "POST" not in {m.strip() for m in r.headers["allow"].split(",")}


# --- page_reverse ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["maybe", "2", "yes", "truee", "%00"])
def test_page_reverse_must_be_a_boolean(admin, value):
    bad_request(admin.get(f"/v2.0/networks?limit=1&page_reverse={value}"))


@pytest.mark.parametrize("value", ["True", "true", "FALSE", "false", "1", "0"])
def test_page_reverse_booleans_are_accepted(admin, network, value):
    r = admin.get(f"/v2.0/networks?limit=1&page_reverse={value}")
    assert r.status_code == 200, r.text


# --- bulk size ------------------------------------------------------------------------


def test_bulk_over_the_cap_is_refused_before_any_item_is_read(admin):
    cap = Settings().max_bulk_size
    # Items that would each fail validation: the cap is checked first.
    message = bad_request(admin.post("/v2.0/networks", json={"networks": ["not an item"] * (cap + 1)}))
    assert str(cap) in message and "bulk" in message.lower()
    at_cap = bad_request(admin.post("/v2.0/networks", json={"networks": ["not an item"] * cap}))
    assert "bulk" not in at_cap.lower()


def test_bulk_within_the_cap_still_works(admin):
    prefix = f"bulk-{uuid.uuid4().hex[:8]}"
    r = admin.post("/v2.0/networks", json={"networks": [{"name": f"{prefix}-{i}"} for i in range(3)]})
    assert r.status_code == 201, r.text
    assert len(names_like(admin, prefix)) == 3
