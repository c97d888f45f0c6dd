"""HTTP handlers of the router actions: ``PUT /v2.0/routers/{id}/add_router_interface``,
``remove_router_interface`` (Neutron's ``router``), ``add_extraroutes`` and
``remove_extraroutes`` (``extraroute-atomic``). The collection's own routes come
from ``resources.CollectionRoutes``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import errors
from quark.api import validators as v
from quark.api.authz import present
from quark.api.definitions.l3 import EXTRA_ROUTES, ROUTER
from quark.api.resources import authorizer, ctx_of, read_json
from quark.api.responses import json_response


def _service(request: Request):
    return request.app.state.services.routers


async def _allowed(request: Request, rule: str) -> None:
    """The router must be one the caller can see (404), then ``rule`` allow it (403)."""
    authz, service, router_id = authorizer(request), _service(request), request.path_params["id"]
    current = await service.get(authz.ctx, router_id)
    await authz.sub_action(ROUTER, rule, current, service.missing(router_id))


def _interface(action: str):
    async def handler(request: Request) -> Response:
        body = await read_json(request)
        await _allowed(request, action)
        change = getattr(_service(request), action.replace("_router", ""))
        return json_response(await change(ctx_of(request), request.path_params["id"], body))

    return handler


def _extraroutes(add: bool):
    async def handler(request: Request) -> Response:
        body = await read_json(request)
        routes = body.get("router") if isinstance(body, dict) else None
        if not isinstance(routes, dict) or set(routes) != {"routes"}:
            raise errors.HTTPBadRequest(msg="The body must be {'router': {'routes': [...]}}")
        try:
            EXTRA_ROUTES(routes["routes"])
        except ValueError as exc:
            raise errors.InvalidInput(error_message=str(exc)) from None
        await _allowed(request, "add_extraroutes" if add else "remove_extraroutes")
        authz = authorizer(request)
        view = await _service(request).change_routes(ctx_of(request), request.path_params["id"], routes, add=add)
        return json_response({"router": present(authz, ROUTER, view, [])})

    return handler


ROUTES = [
    Route("/v2.0/routers/{id}/add_router_interface", _interface("add_router_interface"), methods=["PUT"]),
    Route("/v2.0/routers/{id}/remove_router_interface", _interface("remove_router_interface"), methods=["PUT"]),
    Route("/v2.0/routers/{id}/add_extraroutes", _extraroutes(True), methods=["PUT"]),
    Route("/v2.0/routers/{id}/remove_extraroutes", _extraroutes(False), methods=["PUT"]),
]


def openapi_paths() -> dict[str, Any]:
    """The actions' paths (the collection's come from the attribute map)."""
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/NeutronError"}}}}
    errs = {code: {"description": code, **error} for code in ("400", "403", "404", "409")}
    router_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    uuid = {"type": "string"}
    interface_body = {
        "type": "object",
        "properties": {"subnet_id": uuid, "port_id": uuid},
        "additionalProperties": False,
    }
    interface_info = {
        "type": "object",
        "properties": {
            **{k: {"type": "string"} for k in ("id", "tenant_id", "project_id")},
            "port_id": uuid,
            "subnet_id": {"type": "string", "nullable": True},
            "subnet_ids": {"type": "array", "items": uuid},
            "network_id": uuid,
        },
    }
    routes_body = {
        "type": "object",
        "properties": {
            "router": {
                "type": "object",
                "properties": {"routes": v.describe(EXTRA_ROUTES)},
                "required": ["routes"],
                "additionalProperties": False,
            }
        },
        "required": ["router"],
    }
    router = {"type": "object", "properties": {"router": {"$ref": "#/components/schemas/Router"}}}

    def put(op: str, body: dict, answer: dict) -> dict:
        return {
            "put": {
                "operationId": op,
                "tags": ["routers"],
                "parameters": router_id,
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": answer}}},
                    **errs,
                },
            }
        }

    return {
        f"/v2.0/routers/{{id}}/{op}": put(op, body, answer)
        for op, body, answer in (
            ("add_router_interface", interface_body, interface_info),
            ("remove_router_interface", interface_body, interface_info),
            ("add_extraroutes", routes_body, router),
            ("remove_extraroutes", routes_body, router),
        )
    }
