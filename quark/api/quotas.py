"""HTTP handlers of Neutron's quota API (extensions ``quotas``,
``quota_details``, ``quota-check-limit``): ``/v2.0/quotas``,
``/v2.0/quotas/{project_id}`` (GET, PUT, DELETE), its ``/default`` and
``/details``, and ``/v2.0/quotas/project`` (``/tenant``): the caller's project.

Rules are in ``quark.services.common.quotas``; who may call is the policy's
(``get_quota``, ``update_quota``, ``delete_quota``: quark.policy.defaults.quotas),
checked here against the caller's own project, as Neutron does.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark.api import body as bodies
from quark.api import validators as v
from quark.api.definitions.base import Attr, Resource
from quark.api.openapi.schemas import request_object
from quark.api.resources import authorizer, ctx_of, read_json
from quark.api.responses import json_response, no_content
from quark.services.common.quotas import MAX_LIMIT, RESOURCES, UNLIMITED, QuotaService

# The body of PUT /v2.0/quotas/{id}: a limit per resource, and Neutron's two
# flags (``force``: set a limit below what the project has; ``check_limit``:
# accepted, the usage is checked anyway unless forced).
QUOTA = Resource(
    "quota",
    "quotas",
    tuple(Attr(name, schema="integer", put=True, convert=v.integer(UNLIMITED, MAX_LIMIT)) for name in RESOURCES)
    + (Attr("force", schema="boolean", put=True, convert=v.boolean),)
    + (Attr("check_limit", schema="boolean", put=True, convert=v.boolean),),
    bulk=False,
    has_tags=False,
)


def _service(request: Request) -> QuotaService:
    return request.app.state.services.quotas


def _require(request: Request, rule: str, project_id: str | None = None) -> None:
    """``rule`` for the caller, unless it reads its own project (which needs none)."""
    ctx = ctx_of(request)
    if project_id is None or project_id != ctx.project_id:
        authorizer(request).require(rule, {"project_id": ctx.project_id or None})


async def index(request: Request) -> Response:
    _require(request, "get_quota")
    return json_response({"quotas": await _service(request).list_all(ctx_of(request))})


def _project_route(key: str):
    async def handler(request: Request) -> Response:
        return json_response({key: QuotaService.project_info(ctx_of(request), key)})

    return handler


async def show(request: Request) -> Response:
    _require(request, "get_quota", request.path_params["project_id"])
    limits = await _service(request).show(ctx_of(request), request.path_params["project_id"])
    return json_response({"quota": limits})


async def show_default(request: Request) -> Response:
    _require(request, "get_quota", request.path_params["project_id"])
    limits = _service(request).show_default(ctx_of(request), request.path_params["project_id"])
    return json_response({"quota": limits})


async def details(request: Request) -> Response:
    found = await _service(request).details(ctx_of(request), request.path_params["project_id"])
    return json_response({"quota": found})


async def update(request: Request) -> Response:
    ctx = ctx_of(request)
    _require(request, "update_quota")  # before the body, as Neutron
    attrs = bodies.parse_update(QUOTA, await read_json(request), ctx)
    force = attrs.pop("force", False) is True
    attrs.pop("check_limit", None)
    limits = await _service(request).update(ctx, request.path_params["project_id"], attrs, force=force)
    return json_response({"quota": limits})


async def reset(request: Request) -> Response:
    _require(request, "delete_quota")
    await _service(request).reset(ctx_of(request), request.path_params["project_id"])
    return no_content()


def openapi_paths() -> dict[str, Any]:
    limit_props: dict[str, Any] = {name: {"type": "integer", "minimum": UNLIMITED} for name in RESOURCES}
    limits = {"type": "object", "properties": limit_props}
    detail = {
        "type": "object",
        "properties": {k: {"type": "integer"} for k in ("limit", "used", "reserved")},
    }
    details = {"type": "object", "properties": {name: detail for name in RESOURCES}}
    # As parse_update reads it: {"quota": {...}} and nothing else, each limit in its bounds.
    update = {
        "type": "object",
        "properties": {"quota": request_object(QUOTA, "put")},
        "required": ["quota"],
        "additionalProperties": False,
    }
    listed = {"type": "object", "properties": {"quotas": {"type": "array", "items": limits}}}
    project = [{"name": "project_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/NeutronError"}}}}
    errs = {code: {"description": code, **error} for code in ("400", "403", "404")}

    def answer(schema: dict) -> dict:
        wrapped = {"type": "object", "properties": {"quota": schema}}
        return {"200": {"description": "OK", "content": {"application/json": {"schema": wrapped}}}, **errs}

    def get(op: str, schema: dict) -> dict:
        return {"get": {"operationId": op, "tags": ["quotas"], "parameters": project, "responses": answer(schema)}}

    return {
        "/v2.0/quotas": {
            "get": {
                "operationId": "list_quotas",
                "tags": ["quotas"],
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": listed}}},
                    "403": errs["403"],  # every project's quotas: an admin's read
                },
            }
        },
        "/v2.0/quotas/{project_id}": {
            **get("show_quota", limits),
            "put": {
                "operationId": "update_quota",
                "tags": ["quotas"],
                "parameters": project,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": update}},
                },
                "responses": answer(limits),
            },
            "delete": {
                "operationId": "reset_quota",
                "tags": ["quotas"],
                "parameters": project,
                "responses": {"204": {"description": "back to the defaults"}, **errs},
            },
        },
        "/v2.0/quotas/{project_id}/default": get("show_default_quota", limits),
        "/v2.0/quotas/{project_id}/details": get("show_quota_details", details),
    }


ROUTES = [
    Route("/v2.0/quotas", index, methods=["GET"]),
    Route("/v2.0/quotas/project", _project_route("project"), methods=["GET"]),
    Route("/v2.0/quotas/tenant", _project_route("tenant"), methods=["GET"]),
    Route("/v2.0/quotas/{project_id}", show, methods=["GET"]),
    Route("/v2.0/quotas/{project_id}", update, methods=["PUT"]),
    Route("/v2.0/quotas/{project_id}", reset, methods=["DELETE"]),
    Route("/v2.0/quotas/{project_id}/default", show_default, methods=["GET"]),
    Route("/v2.0/quotas/{project_id}/details", details, methods=["GET"]),
]
