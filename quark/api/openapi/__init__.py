"""The OpenAPI 3 document of the API, generated from the attribute maps.

Served at /openapi.json (used for fuzzing): the Neutron envelopes
(``{"port": {...}}``, ``{"ports": [...]}``) are the schemas.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from quark.api import validators as v
from quark.api.auth import PUBLIC_PATHS
from quark.api.definitions.addresses import IP_ADDRESS_PORT
from quark.api.definitions.base import Resource
from quark.api.definitions.catalog import RESOURCES
from quark.api.definitions.core import NESTED_CREATE
from quark.api.openapi.extra import extra_paths
from quark.api.openapi.schemas import (
    bookmark,
    declare_idempotency,
    errors,
    json_body,
    list_parameters,
    narrowed,
    ref,
    request_object,
    request_object_without,
    too_many_requests,
    view_object,
)
from quark.api.openapi.schemas import cap as _cap

_ref, _json, _errors = ref, json_body, errors
_UUID = {"type": "string"}


def _links(name: str) -> dict[str, Any]:
    """Create → show/update/delete, the new resource's id taken from the response body."""
    ops = ("show", "update", "delete")
    return {
        f"{op.title()}{name.title().replace('_', '')}": {
            "operationId": f"{op}_{name}",
            "parameters": {"id": f"$response.body#/{name}/id"},
        }
        for op in ops
    }


def _paths_for(resource: Resource) -> dict[str, Any]:
    name, coll, body_coll = resource.name, resource.collection, resource.body_collection
    cap = _cap(resource)
    id_param = [{"name": "id", "in": "path", "required": True, "schema": _UUID}]
    single = {"type": "object", "properties": {name: _ref(cap)}, "required": [name]}
    many = {"type": "object", "properties": {body_coll: {"type": "array", "items": _ref(cap)}}, "required": [body_coll]}
    # GET takes ``fields``: what it answers may lack any attribute (the {cap}Fields schema).
    shown = {"type": "object", "properties": {name: _ref(f"{cap}Fields")}, "required": [name]}
    listed = {
        "type": "object",
        "properties": {body_coll: {"type": "array", "items": _ref(f"{cap}Fields")}},
        "required": [body_coll],
    }
    create_body = {
        "type": "object",
        "properties": {name: _ref(f"{cap}Create")},
        "required": [name],
        "additionalProperties": False,
    }
    if resource.bulk:
        bulk = {
            "type": "object",
            "properties": {body_coll: {"type": "array", "items": _ref(f"{cap}Create"), "minItems": 1}},
            "required": [body_coll],
            "additionalProperties": False,
        }
        create_body = {"oneOf": [create_body, bulk]}
    update_body = {
        "type": "object",
        "properties": {name: _ref(f"{cap}Update")},
        "required": [name],
        "additionalProperties": False,
    }
    paths: dict[str, Any] = {
        f"/v2.0/{coll}": {
            "get": {
                "operationId": f"list_{body_coll}",
                "parameters": list_parameters(resource),
                "responses": {"200": {"description": "OK", **_json(listed)}, **_errors("400", "403")},
            },
            "post": {
                "operationId": f"create_{name}",
                "requestBody": {"required": True, **_json(create_body)},
                "responses": {
                    "201": {
                        "description": "Created (the bulk form answers the bulk form)",
                        **_json({"oneOf": [single, many]} if resource.bulk else single),
                        "links": _links(name),
                    },
                    **_errors("400", "403", "404", "409"),
                },
            },
        },
        f"/v2.0/{coll}/{{id}}": {
            "get": {
                "operationId": f"show_{name}",
                "parameters": id_param,
                "responses": {"200": {"description": "OK", **_json(shown)}, **_errors("403", "404")},
            },
            "put": {
                "operationId": f"update_{name}",
                "parameters": id_param,
                "requestBody": {"required": True, **_json(update_body)},
                "responses": {
                    "200": {"description": "OK", **_json(single)},
                    **_errors("400", "403", "404", "409", "412"),
                },
            },
            "delete": {
                "operationId": f"delete_{name}",
                "parameters": id_param,
                "responses": {"204": {"description": "Deleted"}, **_errors("403", "404", "409", "412")},
            },
        },
    }
    paths[f"/{coll}/{{id}}"] = {"get": bookmark(paths[f"/v2.0/{coll}/{{id}}"]["get"])}
    if resource.delete_by_filter:
        paths[f"/v2.0/{coll}"]["delete"] = {
            "operationId": f"delete_{coll}_by_filter",
            "parameters": list_parameters(resource),
            "responses": {
                "200": {
                    "description": "Deleted",
                    **_json(
                        {
                            "type": "object",
                            "properties": {
                                f"deleted_{resource.body_collection}": {"type": "array", "items": {"type": "string"}}
                            },
                        }
                    ),
                },
                **_errors("400", "403", "409"),
            },
        }
    if resource.read_only:
        for path, ops in paths.items():
            paths[path] = {"get": ops["get"]}
    elif not resource.creatable:
        del paths[f"/v2.0/{coll}"]["post"]
    if resource.has_tags:
        tags_body = {
            "type": "object",
            "properties": {"tags": {"type": "array", "items": v.describe(v.tag)}},
            "required": ["tags"],
        }
        tag_param = id_param + [{"name": "tag", "in": "path", "required": True, "schema": v.describe(v.tag)}]
        paths[f"/v2.0/{coll}/{{id}}/tags"] = {
            "get": {
                "operationId": f"list_{name}_tags",
                "parameters": id_param,
                "responses": {"200": {"description": "OK", **_json(tags_body)}, **_errors("404")},
            },
            "put": {
                "operationId": f"replace_{name}_tags",
                "parameters": id_param,
                "requestBody": {"required": True, **_json(tags_body)},
                "responses": {"200": {"description": "OK", **_json(tags_body)}, **_errors("400", "404")},
            },
            "post": {
                "operationId": f"add_{name}_tags",
                "parameters": id_param,
                "requestBody": {"required": True, **_json(tags_body)},
                "responses": {"200": {"description": "OK", **_json(tags_body)}, **_errors("400", "404")},
            },
            "delete": {
                "operationId": f"delete_{name}_tags",
                "parameters": id_param,
                "responses": {"204": {"description": "Deleted"}, **_errors("404")},
            },
        }
        paths[f"/v2.0/{coll}/{{id}}/tags/{{tag}}"] = {
            "get": {
                "operationId": f"check_{name}_tag",
                "parameters": tag_param,
                "responses": {"204": {"description": "Present"}, **_errors("404")},
            },
            "put": {
                "operationId": f"add_{name}_tag",
                "parameters": tag_param,
                "responses": {"201": {"description": "Added"}, **_errors("400", "404")},
            },
            "delete": {
                "operationId": f"delete_{name}_tag",
                "parameters": tag_param,
                "responses": {"204": {"description": "Deleted"}, **_errors("404")},
            },
        }
    return paths


def _ip_address_ports_paths() -> dict[str, Any]:
    """Quark's /ip_addresses/{id}/ports sub-resource (holders of an address)."""
    ids = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    both = ids + [{"name": "port_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    single = {"type": "object", "properties": {"port": _ref("IpAddressPort")}, "required": ["port"]}
    many = {"type": "object", "properties": {"ports": {"type": "array", "items": _ref("IpAddressPort")}}}
    update_body = {
        "type": "object",
        "properties": {"port": _ref("IpAddressPortUpdate")},
        "required": ["port"],
        "additionalProperties": False,
    }
    show = {
        "operationId": "show_ip_address_port",
        "parameters": both,
        "responses": {"200": {"description": "OK", **_json(single)}, **_errors("404")},
    }
    return {
        "/v2.0/ip_addresses/{id}/ports": {
            "get": {
                "operationId": "list_ip_address_ports",
                "parameters": ids,
                "responses": {"200": {"description": "OK", **_json(many)}, **_errors("404")},
            }
        },
        "/ip_addresses/{id}/ports/{port_id}": {"get": bookmark(show)},
        "/v2.0/ip_addresses/{id}/ports/{port_id}": {
            "get": show,
            "put": {
                "operationId": "update_ip_address_port",
                "parameters": both,
                "requestBody": {"required": True, **_json(update_body)},
                "responses": {"200": {"description": "OK", **_json(single)}, **_errors("400", "404")},
            },
        },
    }


def idempotent_posts(paths: dict[str, Any]) -> list[str]:
    """The paths whose POST honours Idempotency-Key: every collection create and /v2.0/instances."""
    creates = [
        f"/v2.0/{segment}"
        for r in RESOURCES.values()
        if r.creatable and not r.read_only
        for segment in (r.collection, *r.aliases)
    ]
    return [path for path in [*creates, "/v2.0/instances"] if "post" in paths.get(path, {})]


def _nest_children(schemas: dict[str, Any]) -> None:
    """A nested create's items (a network's ``subnets``) are the child's create bodies less the parent id."""
    by_name = {resource.name: resource for resource in RESOURCES.values()}
    for parent, nested in NESTED_CREATE.items():
        create = schemas[f"{_cap(by_name[parent])}Create"]
        for name, (child, parent_key) in nested.items():
            create["properties"][name]["items"] = request_object_without(child, frozenset({parent_key}))


def _declare_common_errors(paths: dict[str, Any]) -> None:
    """401/413/503 on every operation, the per-module paths (quotas, instances, dataplane)
    included; 401 and 429 (rate limits) on every one but the public paths."""
    common = {**errors(), "429": too_many_requests()}
    for path, operations in paths.items():
        for operation in operations.values():
            for code, response in common.items():
                if code in ("401", "429") and path in PUBLIC_PATHS:
                    continue
                operation["responses"].setdefault(code, response)


def _alias_paths(paths: dict[str, Any], coll: str, alias: str) -> dict[str, Any]:
    """The paths of ``coll`` again under ``alias`` (``Resource.aliases``), each
    operation the same but for an operationId of its own."""
    suffix = "_" + alias.replace("-", "_")
    out: dict[str, Any] = {}
    for path, operations in paths.items():
        if path == f"/v2.0/{coll}" or path.startswith((f"/v2.0/{coll}/", f"/{coll}/")):
            other = path.replace(f"/{coll}", f"/{alias}", 1)
            out[other] = {
                method: {**op, "operationId": op["operationId"] + suffix} for method, op in operations.items()
            }
    return out


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "NeutronError": {
            "type": "object",
            "properties": {
                "NeutronError": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "message": {"type": "string"},
                        "detail": {"type": "string"},
                    },
                    "required": ["type", "message", "detail"],
                }
            },
            "required": ["NeutronError"],
        }
    }
    paths: dict[str, Any] = {}
    for resource in RESOURCES.values():
        cap = _cap(resource)
        schemas[cap] = view_object(resource)
        schemas[f"{cap}Fields"] = narrowed(schemas[cap])
        if not resource.read_only:
            if resource.creatable:
                schemas[f"{cap}Create"] = request_object(resource, "post")
            schemas[f"{cap}Update"] = request_object(resource, "put")
        paths.update(_paths_for(resource))
        for alias in resource.aliases:
            paths.update(_alias_paths(paths, resource.collection, alias))
    _nest_children(schemas)
    from quark.api import instances  # imports definitions too; late to keep this module a leaf

    paths.update(instances.openapi_paths())
    from quark.api import dataplane

    paths.update(dataplane.openapi_paths())
    from quark.api import l3_agents

    paths.update(l3_agents.openapi_paths())
    from quark.api import quotas

    paths.update(quotas.openapi_paths())
    from quark.api import routers

    paths.update(routers.openapi_paths())
    from quark.api import port_forwardings

    schemas.update(port_forwardings.openapi_schemas())
    paths.update(port_forwardings.openapi_paths())

    from quark.api import member_actions

    paths.update(member_actions.openapi_paths())
    from quark.api import auto_allocate

    paths.update(auto_allocate.openapi_paths())
    from quark.api import flavors

    paths.update(flavors.openapi_paths())
    from quark.api import external_ipam

    paths.update(external_ipam.openapi_paths())
    schemas["IpAddressPort"] = view_object(IP_ADDRESS_PORT)
    schemas["IpAddressPortUpdate"] = request_object(IP_ADDRESS_PORT, "put")
    paths.update(_ip_address_ports_paths())
    paths.update(extra_paths())
    for path in idempotent_posts(paths):
        declare_idempotency(paths[path]["post"])
    _declare_common_errors(paths)
    return {
        "openapi": "3.0.3",
        "info": {"title": "Quark — OpenStack Networking (Neutron) v2.0 API", "version": "2.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
