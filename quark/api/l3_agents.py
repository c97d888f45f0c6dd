"""HTTP handlers of Neutron's ``l3_agent_scheduler`` (docs/l3.md), admin by
default, with Neutron's policy rules (``get_l3-agents``, ``get_l3-routers``,
``create_l3-router``, ``delete_l3-router``):

* ``GET    /v2.0/routers/{id}/l3-agents``                  the L3 agents hosting a router
* ``GET    /v2.0/agents/{agent_id}/l3-routers``            the routers an agent hosts
* ``POST   /v2.0/agents/{agent_id}/l3-routers``            ``{"router_id": …}``: host it there
* ``DELETE /v2.0/agents/{agent_id}/l3-routers/{router_id}`` take it off the agent

The policy is asked first (403 before any lookup, as Neutron's controller).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import errors
from quark.api.authz import Authorizer, present
from quark.api.definitions.dataplane import AGENT
from quark.api.definitions.l3 import ROUTER
from quark.api.resources import authorizer, read_json
from quark.api.responses import json_response, no_content
from quark.services.common.listing import ListQuery


def _allowed(request: Request, rule: str) -> Authorizer:
    authz = authorizer(request)
    authz.require(rule, {"project_id": authz.ctx.project_id})
    return authz


def _fields(request: Request) -> list[str]:
    return [f for f in request.query_params.getlist("fields") if f]


async def agents_hosting_router(request: Request) -> Response:
    authz = _allowed(request, "get_l3-agents")
    services = request.app.state.services
    router = await services.routers.get(authz.ctx, request.path_params["id"])  # 404 RouterNotFound
    agents = await services.l3_agents.agents_hosting(router["id"])
    return json_response({"agents": [present(authz, AGENT, agent, _fields(request)) for agent in agents]})


async def routers_on_agent(request: Request) -> Response:
    authz = _allowed(request, "get_l3-routers")
    services = request.app.state.services
    ids = await services.l3_agents.routers_on(request.path_params["agent_id"])  # 404 AgentNotFound
    fields = _fields(request)
    routers = await services.routers.list(authz.ctx, ListQuery(filters={"id": ids}, fields=fields)) if ids else []
    return json_response({"routers": [present(authz, ROUTER, router, fields) for router in routers]})


def parse_router_id(body: Any) -> str:
    if not isinstance(body, dict) or "router_id" not in body:
        raise errors.HTTPBadRequest(msg="Unable to find 'router_id' in request body")
    router_id = body["router_id"]
    if not isinstance(router_id, str) or not router_id:
        raise errors.InvalidInput(
            error_message=f"Invalid input for router_id. Reason: '{router_id}' is not a valid UUID"
        )
    return router_id  # any other string: the router is looked up (404 RouterNotFound), as Neutron's


async def add_router(request: Request) -> Response:
    _allowed(request, "create_l3-router")
    router_id = parse_router_id(await read_json(request))
    services = request.app.state.services
    await services.l3_agents.add(request.path_params["agent_id"], router_id, services.routers.missing(router_id))
    return json_response(None, status=201)  # Neutron's controller answers the plugin's None


async def remove_router(request: Request) -> Response:
    _allowed(request, "delete_l3-router")
    services = request.app.state.services
    router_id = request.path_params["router_id"]
    await services.l3_agents.remove(request.path_params["agent_id"], router_id, services.routers.missing(router_id))
    return no_content()


ROUTES = [
    Route("/v2.0/routers/{id}/l3-agents", agents_hosting_router, methods=["GET"]),
    Route("/v2.0/agents/{agent_id}/l3-routers", routers_on_agent, methods=["GET"]),
    Route("/v2.0/agents/{agent_id}/l3-routers", add_router, methods=["POST"]),
    Route("/v2.0/agents/{agent_id}/l3-routers/{router_id}", remove_router, methods=["DELETE"]),
]


def openapi_paths() -> dict[str, Any]:
    """The four operations (docs/l3.md); ``fields`` narrows the listed views."""
    from quark.api.openapi.schemas import errors as errs
    from quark.api.openapi.schemas import json_body, ref

    def path(name: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}

    fields = {
        "name": "fields",
        "in": "query",
        "required": False,
        "schema": {"type": "array", "items": {"type": "string"}},
    }

    def listed(key: str, item: str) -> dict[str, Any]:
        return json_body(
            {"type": "object", "required": [key], "properties": {key: {"type": "array", "items": ref(item)}}}
        )

    body = {
        "type": "object",
        "required": ["router_id"],
        "properties": {"router_id": {"type": "string", "minLength": 1}},
    }
    return {
        "/v2.0/routers/{id}/l3-agents": {
            "get": {
                "operationId": "list_l3_agents_hosting_router",
                "parameters": [path("id"), fields],
                "responses": {"200": {"description": "OK", **listed("agents", "AgentFields")}, **errs("403", "404")},
            }
        },
        "/v2.0/agents/{agent_id}/l3-routers": {
            "get": {
                "operationId": "list_routers_on_l3_agent",
                "parameters": [path("agent_id"), fields],
                "responses": {"200": {"description": "OK", **listed("routers", "RouterFields")}, **errs("403", "404")},
            },
            "post": {
                "operationId": "add_router_to_l3_agent",
                "parameters": [path("agent_id")],
                "requestBody": {"required": True, **json_body(body)},
                "responses": {
                    "201": {"description": "Created (the body is null)", **json_body({"nullable": True})},
                    **errs("400", "403", "404", "409"),
                },
            },
        },
        "/v2.0/agents/{agent_id}/l3-routers/{router_id}": {
            "delete": {
                "operationId": "remove_router_from_l3_agent",
                "parameters": [path("agent_id"), path("router_id")],
                "responses": {"204": {"description": "No Content"}, **errs("403", "404")},
            }
        },
    }
