"""The /openapi.json document: valid OpenAPI 3, and what it promises about bodies."""

from __future__ import annotations

import re

import jsonschema
import pytest
from openapi_spec_validator import validate

from quark import errors
from quark.api.openapi import document
from quark.api.query import _page_reverse
from tests.openapi_check import request_schema, response_schema


def test_document_is_valid_openapi_3():
    doc = document()
    assert doc["openapi"].startswith("3.")
    validate(doc)


def test_paths_that_answer_are_declared():
    paths = document()["paths"]
    for path in ("/", "/v2.0/", "/v2.0/extensions", "/v2.0/extensions/{alias}", "/healthz", "/readyz", "/metrics"):
        assert "get" in paths[path]


def test_create_answer_discriminates_single_from_bulk():
    schema = response_schema(document(), "/v2.0/networks", "post", 201)
    net = {"id": "x"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"network": net, "networks": [net]}, {**schema, "oneOf": schema["oneOf"]})
    links = document()["paths"]["/v2.0/networks"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} == {"show_network", "update_network", "delete_network"}


def test_request_bodies_refuse_unknown_and_require_what_post_requires():
    schema = request_schema(document(), "/v2.0/subnets", "post")
    ok = {"subnet": {"network_id": "n", "ip_version": 4, "cidr": "10.0.0.0/24"}}
    jsonschema.validate(ok, schema)
    for bad in (
        {"subnet": {"network_id": "n", "ip_version": 5}},
        {"subnet": {"ip_version": 4}},
        {"subnet": {"network_id": "n", "ip_version": 4, "bogus": 1}},
        {"subnets": []},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    bulk = {"subnets": [ok["subnet"], ok["subnet"]]}
    jsonschema.validate(bulk, schema)


def test_query_parameters_are_typed():
    params = {p["name"]: p for p in document()["paths"]["/v2.0/networks"]["get"]["parameters"]}
    assert params["admin_state_up"]["schema"]["items"]["type"] == "boolean"
    assert params["mtu"]["schema"]["items"]["type"] == "integer"
    assert params["admin_state_up"]["explode"] is True
    assert "name" in params["sort_key"]["schema"]["items"]["enum"]
    assert params["sort_dir"]["schema"]["items"]["enum"] == ["asc", "desc"]
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 0}
    # Any string: a marker that names no resource is an empty page, not a 400.
    assert params["marker"]["schema"] == {"type": "string"}
    # 32-bit, as the columns an integer filter compares with (a 500 on PostgreSQL beyond).
    assert params["mtu"]["schema"]["items"]["maximum"] == 2**31 - 1
    # Unknown names are ignored, as in Neutron: no enum.
    assert params["fields"]["schema"]["items"] == {"type": "string"}


@pytest.mark.parametrize("value", ["True", "true", "FALSE", "1", "0", "", "maybe", "2", "yes", " true"])
def test_page_reverse_schema_accepts_what_the_parser_accepts(value):
    """The document's pattern and query.py's parser agree, value by value."""
    pattern = {p["name"]: p for p in document()["paths"]["/v2.0/networks"]["get"]["parameters"]}["page_reverse"]
    try:
        _page_reverse([value])
        accepted = True
    except errors.HTTPBadRequest:
        accepted = False
    assert (re.search(pattern["schema"]["pattern"], value) is not None) is accepted


def test_public_paths_do_not_answer_401():
    paths = document()["paths"]
    for path in ("/", "/healthz", "/readyz", "/metrics"):
        assert "401" not in paths[path]["get"]["responses"]
    assert "401" in paths["/v2.0/extensions"]["get"]["responses"]
    assert "401" in paths["/v2.0/quotas"]["get"]["responses"]


def test_errors_are_declared():
    responses = document()["paths"]["/v2.0/networks/{id}"]["put"]["responses"]
    assert {"400", "401", "403", "404", "409", "412", "413", "503"} <= set(responses)


@pytest.mark.parametrize(
    ("value", "valid"),
    [("fa:16:3e:12:34:56", True), ("FA-16-3E-12-34-56", True), ("fa163e123456", True), ("01:16:3e:12:34:56", False)],
)
def test_mac_schema_follows_the_converter(value, valid):
    from quark.api import validators as v

    schema = v.describe(v.mac_address)
    try:
        v.mac_address(value)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted is valid
    assert (not list(jsonschema.Draft202012Validator(schema).iter_errors(value))) is valid


def test_every_resource_view_declares_its_links_and_bookmark():
    from quark.api.definitions.catalog import RESOURCES
    from quark.api.openapi.schemas import cap

    doc = document()
    for collection, resource in RESOURCES.items():
        view = doc["components"]["schemas"][cap(resource)]
        assert "links" in view["required"], collection
        jsonschema.validate(
            [{"rel": "self", "href": "h"}, {"rel": "bookmark", "href": "b"}], view["properties"]["links"]
        )
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate([{"rel": "self"}], view["properties"]["links"])
        bookmark = doc["paths"][f"/{collection}/{{id}}"]["get"]
        show = doc["paths"][f"/v2.0/{collection}/{{id}}"]["get"]
        assert bookmark["responses"]["200"] == show["responses"]["200"]
        assert bookmark["operationId"] == f"{show['operationId']}_bookmark"
        fields = {p["name"]: p for p in doc["paths"][f"/v2.0/{collection}"]["get"]["parameters"]}["fields"]
        assert "links" in fields["description"]  # a name fields may ask for (any string is taken)
    assert "links" in doc["components"]["schemas"]["IpAddressPort"]["required"]
    for path in ("/instances/{device_id}", "/ip_addresses/{id}/ports/{port_id}"):
        assert "get" in doc["paths"][path]


def test_rate_limited_operations_declare_429_with_its_headers():
    paths = document()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if path in ("/", "/healthz", "/readyz", "/metrics"):
                assert "429" not in responses, (method, path)
                continue
            assert set(responses["429"]["headers"]) == {
                "Retry-After",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            }, (method, path)
    assert paths["/v2.0/ports"]["post"]["responses"]["429"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NeutronError"
    }


def test_every_create_that_honours_idempotency_key_declares_it_and_nothing_else_does():
    from starlette.routing import Route

    from quark.api import instances, port_forwardings
    from quark.api.app import build_routes
    from quark.api.resources import CollectionRoutes

    guarded = set()
    for route in build_routes():
        if isinstance(route, Route) and "POST" in (route.methods or ()):
            endpoint = route.endpoint
            if getattr(endpoint, "__func__", None) is CollectionRoutes.create or endpoint in (
                instances.provision,
                port_forwardings.create,
            ):
                guarded.add(route.path)
    assert "/v2.0/ports" in guarded and "/v2.0/instances" in guarded and "/v2.0/ip_addresses" in guarded
    assert "/v2.0/floatingips/{floatingip_id}/port_forwardings" in guarded
    paths = document()["paths"]
    for path, operations in paths.items():
        if "post" not in operations:
            continue
        post = operations["post"]
        names = [p["name"] for p in post.get("parameters", []) if p["in"] == "header"]
        assert ("Idempotency-Key" in names) == (path in guarded), path
        if path in guarded:
            assert {"409", "422"} <= set(post["responses"])
            assert "Idempotent-Replayed" in post["responses"]["201"]["headers"]


def test_external_ipam_operations_are_declared():
    """/v2.0/ipam (Neutron's quark IPAM driver) is in the document, so fuzzing covers it."""
    from quark.api import external_ipam

    paths = document()["paths"]
    for route in external_ipam.ROUTES:
        for method in route.methods or ():
            if method != "HEAD":
                assert method.lower() in paths.get(route.path, {}), (method, route.path)
    schema = request_schema(document(), "/v2.0/ipam/subnets/{id}", "put")
    jsonschema.validate(
        {"subnet": {"network_id": "n", "cidr": "10.0.0.0/24", "ip_version": 4, "project_id": "p"}}, schema
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"subnet": {"network_id": "n", "cidr": "10.0.0.0/24", "ip_version": 5, "project_id": "p"}}, schema
        )
