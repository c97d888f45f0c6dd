"""HTTP handlers of ``auto-allocated-topology`` (docs/auto_allocated_topology.md):
``GET /v2.0/auto-allocated-topology/{project_id}`` (``?fields=dry-run`` only
checks the requirements) and ``DELETE`` of the same URL.

As Neutron's: the project ``None`` is the caller's own, another project's is
403 unless admin; the rules are ``get_auto_allocated_topology`` and
``delete_auto_allocated_topology`` with the project as target."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import errors
from quark.api.resources import authorizer
from quark.api.responses import json_response, no_content

PATH = "/v2.0/auto-allocated-topology/{project_id}"


def _project(request: Request, action: str) -> str:
    authz = authorizer(request)
    ctx = authz.ctx
    project_id = request.path_params["project_id"]
    if project_id == "None":  # the client sent no project: the caller's own
        project_id = ctx.project_id
    if not ctx.is_admin and project_id != ctx.project_id:
        raise errors.NotAuthorized()
    authz.require(f"{action}_auto_allocated_topology", {"project_id": project_id, "tenant_id": project_id})
    return project_id


async def show(request: Request) -> Response:
    project_id = _project(request, "get")
    fields = [f for f in request.query_params.getlist("fields") if f]
    topology = await request.app.state.services.auto_allocate.get(project_id, fields)
    return json_response({"auto_allocated_topology": topology})


async def remove(request: Request) -> Response:
    project_id = _project(request, "delete")
    await request.app.state.services.auto_allocate.delete(project_id)
    return no_content()


ROUTES = [Route(PATH, show, methods=["GET"]), Route(PATH, remove, methods=["DELETE"])]


def openapi_paths() -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/NeutronError"}}}}
    errs = {code: {"description": code, **error} for code in ("400", "401", "403", "409")}
    param = {"name": "project_id", "in": "path", "required": True, "schema": {"type": "string"}}
    fields = {
        "name": "fields",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["dry-run"]},
        "description": "dry-run: only check that a topology can be made",
    }
    topology = {
        "type": "object",
        "properties": {
            "auto_allocated_topology": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "the network's id, or dry-run=pass"},
                    "project_id": {"type": "string"},
                    "tenant_id": {"type": "string"},
                },
            }
        },
    }
    return {
        PATH: {
            "get": {
                "operationId": "get_auto_allocated_topology",
                "tags": ["auto-allocated-topology"],
                "parameters": [param, fields],
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": topology}}},
                    **errs,
                },
            },
            "delete": {
                "operationId": "delete_auto_allocated_topology",
                "tags": ["auto-allocated-topology"],
                "parameters": [param],
                "responses": {"204": {"description": "deleted (or there was none)"}, **errs},
            },
        }
    }
