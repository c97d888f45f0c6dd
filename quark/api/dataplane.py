"""HTTP side of the dataplane contract (docs/agent_api.md), admin only:

* ``POST /v2.0/agents/report``                 an agent's heartbeat (upsert)
* ``GET  /v2.0/hosts/{host}/desired_state``    what a host's L2 agent realises (long-poll)
* ``PUT  /v2.0/hosts/{host}/port_status``      what it found (ACTIVE / DOWN / ERROR per port)
* ``GET  /v2.0/hosts/{host}/dhcp_state``       what a host's DHCP service serves (long-poll)

Handlers parse and check, call the agents / dataplane services, and answer.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import errors
from quark.api import validators as v
from quark.api.resources import ctx_of, read_json
from quark.api.responses import json_response
from quark.services.agents import Report

MAX_WAIT = 60
PORT_STATUSES = ("ACTIVE", "DOWN", "ERROR")


def _bad(msg: str) -> errors.HTTPBadRequest:
    return errors.HTTPBadRequest(msg=msg)


def _require_admin(request: Request):
    ctx = ctx_of(request)
    if not ctx.is_admin:
        raise errors.AdminRequired(reason="the dataplane API is for agents (admin)")
    return ctx


def parse_report(body: Any) -> Report:
    if not isinstance(body, dict) or not isinstance(body.get("agent"), dict) or len(body) != 1:
        raise _bad("Unable to find 'agent' in request body")
    item = body["agent"]
    for key in ("host", "agent_type"):
        if not item.get(key):
            raise _bad(f"Failed to parse request. Required attribute '{key}' not specified")
    try:
        configurations = item.get("configurations")
        configurations = {} if configurations is None else configurations
        if not isinstance(configurations, dict):
            raise ValueError("'configurations' must be an object")
        start_flag = v.boolean(item.get("start_flag", False))
        synced = item.get("resources_synced")
        return Report(
            host=v.string(255)(item["host"]),
            agent_type=v.string(64)(item["agent_type"]),
            binary=v.string(255)(item.get("binary") or ""),
            topic=v.string(255)(item.get("topic") or ""),
            configurations=configurations,
            availability_zone=v.string(255, allow_none=True)(item.get("availability_zone")),
            resources_synced=None if synced is None else v.boolean(synced),
            start_flag=start_flag,
        )
    except ValueError as exc:
        raise _bad(f"Invalid input for agent. Reason: {exc}.") from None


async def report(request: Request) -> Response:
    ctx = _require_admin(request)
    agent = await request.app.state.services.agents.report(ctx, parse_report(await read_json(request)))
    return json_response({"agent": agent})


ROUTES = [
    Route("/v2.0/agents/report", report, methods=["POST"]),
]


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return {"description": description, **_json({"$ref": "#/components/schemas/NeutronError"})}


def openapi_paths() -> dict[str, Any]:
    agent_report = {"type": "object", "required": ["agent"], "properties": {"agent": {
        "type": "object", "required": ["host", "agent_type"],
        "properties": {
            "host": {"type": "string", "minLength": 1, "maxLength": 255},
            "agent_type": {"type": "string", "minLength": 1, "maxLength": 64,
                           "description": "\"Quark L2 agent\" or \"DHCP agent\""},
            "binary": {"type": "string", "maxLength": 255},
            "topic": {"type": "string", "maxLength": 255},
            "configurations": {"type": "object", "description": "bridge_mappings, tunnel_ip, tunnel_types, "
                                                                "vlan_supported, devices, ..."},
            "availability_zone": {"type": "string", "nullable": True, "maxLength": 255},
            "resources_synced": {"type": "boolean", "nullable": True},
            "start_flag": {"type": "boolean"},
        }}}}
    return {
        "/v2.0/agents/report": {"post": {
            "operationId": "report_agent_state",
            "requestBody": {"required": True, **_json(agent_report)},
            "responses": {"200": {"description": "The agent after the report",
                                  **_json({"type": "object", "properties": {
                                      "agent": {"$ref": "#/components/schemas/Agent"}}})},
                          "400": _error("Bad request"), "403": _error("Forbidden")}}},
    }
