"""HTTP handlers of a flavor's service profiles (Neutron's ``flavors``
sub-resource; docs/flavors.md): ``POST /v2.0/flavors/{flavor_id}/service_profiles``
(body ``{"service_profile": {"id": ...}}``), ``GET`` and ``DELETE``
``/v2.0/flavors/{flavor_id}/service_profiles/{id}``. The flavors and service
profiles themselves are collections of ``resources.CollectionRoutes``.
``GET /v2.0/flavors/{flavor_id}/next_providers``: the provider the flavor's
first profile resolves to (``quark.services.l3.router_flavors``).

Rules: ``create_flavor_service_profile``, ``get_flavor_service_profile``,
``delete_flavor_service_profile`` (Neutron's defaults), ``get_flavor_next_providers``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import errors
from quark.api import validators as v
from quark.api.resources import authorizer, read_json
from quark.api.responses import json_response, no_content

COLLECTION = "/v2.0/flavors/{flavor_id}/service_profiles"
MEMBER = COLLECTION + "/{id}"
NEXT_PROVIDERS = "/v2.0/flavors/{flavor_id}/next_providers"


def _service(request: Request):
    return request.app.state.services.flavors


def _allowed(request: Request, verb: str, what: str = "service_profile") -> Any:
    authz = authorizer(request)
    authz.require(f"{verb}_flavor_{what}", {"project_id": authz.ctx.project_id})
    return authz.ctx


def _profile_id(body: Any) -> str:
    item = body.get("service_profile") if isinstance(body, dict) else None
    if not isinstance(item, dict) or "id" not in item:
        raise errors.HTTPBadRequest(msg="Body contains invalid data: the body must be {'service_profile': {'id': ...}}")
    try:
        return str(v.uuid_str(item["id"]))
    except ValueError as exc:
        raise errors.HTTPBadRequest(msg=f"Invalid input for id. Reason: {str(exc).rstrip('.')}.") from None


async def create(request: Request) -> Response:
    ctx = _allowed(request, "create")
    profile_id = _profile_id(await read_json(request))
    bound = await _service(request).bind(ctx, request.path_params["flavor_id"], profile_id)
    return json_response({"service_profile": bound}, status=201)


async def show(request: Request) -> Response:
    ctx = _allowed(request, "get")
    found = await _service(request).binding(ctx, request.path_params["flavor_id"], request.path_params["id"])
    return json_response({"service_profile": found})


async def delete(request: Request) -> Response:
    ctx = _allowed(request, "delete")
    await _service(request).unbind(ctx, request.path_params["flavor_id"], request.path_params["id"])
    return no_content()


async def next_providers(request: Request) -> Response:
    ctx = _allowed(request, "get", "next_providers")
    found = await _service(request).next_providers(ctx, request.path_params["flavor_id"])
    return json_response({"next_providers": found})


ROUTES = [
    Route(NEXT_PROVIDERS, next_providers, methods=["GET"]),
    Route(COLLECTION, create, methods=["POST"]),
    Route(MEMBER, show, methods=["GET"]),
    Route(MEMBER, delete, methods=["DELETE"]),
]


def openapi_paths() -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/NeutronError"}}}}
    errs = {code: {"description": code, **error} for code in ("400", "401", "403", "404", "409")}
    flavor = {"name": "flavor_id", "in": "path", "required": True, "schema": {"type": "string"}}
    profile = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    ref = {"type": "object", "properties": {"id": {"type": "string", **v.describe(v.uuid_str)}}, "required": ["id"]}
    envelope = {"type": "object", "properties": {"service_profile": ref}, "required": ["service_profile"]}
    binding = {
        "type": "object",
        "properties": {
            "service_profile": {
                "type": "object",
                "properties": {"service_profile_id": {"type": "string"}, "flavor_id": {"type": "string"}},
            }
        },
    }
    provider = {"type": "object", "properties": {"driver": {"type": "string"}, "provider": {"type": "string"}}}
    providers = {"type": "object", "properties": {"next_providers": {"type": "array", "items": provider}}}
    return {
        NEXT_PROVIDERS: {
            "get": {
                "operationId": "get_flavor_next_providers",
                "tags": ["flavors"],
                "parameters": [flavor],
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": providers}}},
                    **errs,
                },
            }
        },
        COLLECTION: {
            "post": {
                "operationId": "create_flavor_service_profile",
                "tags": ["flavors"],
                "parameters": [flavor],
                "requestBody": {"required": True, "content": {"application/json": {"schema": envelope}}},
                "responses": {
                    "201": {"description": "bound", "content": {"application/json": {"schema": envelope}}},
                    **errs,
                },
            }
        },
        MEMBER: {
            "get": {
                "operationId": "get_flavor_service_profile",
                "tags": ["flavors"],
                "parameters": [flavor, profile],
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": binding}}},
                    **errs,
                },
            },
            "delete": {
                "operationId": "delete_flavor_service_profile",
                "tags": ["flavors"],
                "parameters": [flavor, profile],
                "responses": {"204": {"description": "unbound"}, **errs},
            },
        },
    }
