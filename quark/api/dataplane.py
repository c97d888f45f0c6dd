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
from quark.api.links import linker
from quark.api.resources import authorizer, read_json
from quark.api.responses import json_response
from quark.services.dataplane.agents import Report
from quark.services.dataplane.l3_ha import HA_STATES

MAX_WAIT = 60
PORT_STATUSES = ("ACTIVE", "DOWN", "ERROR")


def _bad(msg: str) -> errors.HTTPBadRequest:
    return errors.HTTPBadRequest(msg=msg)


def _allowed(request: Request, rule: str):
    """The caller's context, if the policy lets it use this host route (agents:
    the service and admin personas; ``quark.policy.defaults.dataplane``)."""
    authz = authorizer(request)
    authz.require(rule, {"project_id": authz.ctx.project_id, "host": request.path_params.get("host")})
    return authz.ctx


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
            binary=v.string(255, allow_none=True)(item.get("binary")) or "",
            topic=v.string(255, allow_none=True)(item.get("topic")) or "",
            configurations=configurations,
            availability_zone=v.string(255, allow_none=True)(item.get("availability_zone")),
            resources_synced=None if synced is None else v.boolean(synced),
            start_flag=start_flag,
        )
    except ValueError as exc:
        raise _bad(f"Invalid input for agent. Reason: {exc}.") from None


async def report(request: Request) -> Response:
    ctx = _allowed(request, "create_agent_report")
    agent = await request.app.state.services.agents.report(ctx, parse_report(await read_json(request)))
    return json_response({"agent": linker(request, "agents").add(agent)})  # an agent's view, as GET shows it


def _long_poll_query(request: Request) -> tuple[int | None, float]:
    params = request.query_params
    try:
        raw_since, raw_wait = params.get("since"), params.get("wait")
        since = None if raw_since in (None, "") else v.integer(-(2**63), 2**63 - 1)(raw_since)
        wait = 0.0 if raw_wait in (None, "") else float(v.integer(0, MAX_WAIT)(raw_wait))
    except ValueError as exc:
        raise _bad(f"Invalid input for since or wait. Reason: {exc}.") from None
    return since, wait


def _host(request: Request) -> str:
    host = request.path_params["host"]
    if not host or len(host) > 255:
        raise _bad("Invalid host")
    return host


async def desired_state(request: Request) -> Response:
    ctx = _allowed(request, "get_desired_state")
    since, wait = _long_poll_query(request)
    state = await request.app.state.services.hosts.desired_state(
        ctx, _host(request), since, wait, gone=request.is_disconnected
    )
    return json_response(state)


async def dhcp_state(request: Request) -> Response:
    ctx = _allowed(request, "get_dhcp_state")
    since, wait = _long_poll_query(request)
    state = await request.app.state.services.hosts.dhcp_state(
        ctx, _host(request), since, wait, gone=request.is_disconnected
    )
    return json_response(state)


def parse_port_status(body: Any) -> dict[str, str]:
    if not isinstance(body, dict) or set(body) != {"ports"} or not isinstance(body["ports"], dict):
        raise _bad("Unable to find 'ports' in request body")
    out = {}
    for port_id, status in body["ports"].items():
        if not port_id or len(port_id) > 36:
            raise _bad(f"Invalid port id {port_id!r}")
        if status not in PORT_STATUSES:
            raise _bad(
                f"Invalid input for ports. Reason: status of {port_id} must be one of {', '.join(PORT_STATUSES)}."
            )
        out[port_id] = status
    return out


async def port_status(request: Request) -> Response:
    ctx = _allowed(request, "update_port_status")
    statuses = parse_port_status(await read_json(request))
    updated = await request.app.state.services.hosts.port_status(ctx, _host(request), statuses)
    return json_response({"updated": updated})


def parse_l3_status(body: Any) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """``{"routers": {id: status}, "floatingips": {id: status}, "ha_states": {id: active|standby}}``
    (any may be absent, not all)."""
    if not isinstance(body, dict) or not body or set(body) - {"routers", "floatingips", "ha_states"}:
        raise _bad("Unable to find 'routers', 'floatingips' or 'ha_states' in request body")
    out: list[dict[str, str]] = []
    for key, allowed in (("routers", PORT_STATUSES), ("floatingips", PORT_STATUSES), ("ha_states", HA_STATES)):
        items = body.get(key, {})
        if not isinstance(items, dict):
            raise _bad(f"Invalid input for {key}. Reason: must be an object.")
        for item_id, status in items.items():
            if not item_id or len(item_id) > 36:
                raise _bad(f"Invalid id {item_id!r} in {key}")
            if status not in allowed:
                raise _bad(f"Invalid input for {key}. Reason: status of {item_id} must be one of {', '.join(allowed)}.")
        out.append(dict(items))
    return out[0], out[1], out[2]


async def l3_status(request: Request) -> Response:
    ctx = _allowed(request, "update_l3_status")
    routers, floating_ips, ha_states = parse_l3_status(await read_json(request))
    updated = await request.app.state.services.hosts.l3_status(ctx, _host(request), routers, floating_ips, ha_states)
    return json_response({"updated": updated})


ROUTES = [
    Route("/v2.0/agents/report", report, methods=["POST"]),
    Route("/v2.0/hosts/{host}/desired_state", desired_state, methods=["GET"]),
    Route("/v2.0/hosts/{host}/dhcp_state", dhcp_state, methods=["GET"]),
    Route("/v2.0/hosts/{host}/port_status", port_status, methods=["PUT"]),
    Route("/v2.0/hosts/{host}/l3_status", l3_status, methods=["PUT"]),
]


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return {"description": description, **_json({"$ref": "#/components/schemas/NeutronError"})}


# An empty since or wait is taken as absent (_long_poll_query).
_EMPTY = {"type": "string", "maxLength": 0}


def openapi_paths() -> dict[str, Any]:
    agent_report = {
        "type": "object",
        "required": ["agent"],
        "additionalProperties": False,  # parse_report: {"agent": {...}} and nothing else
        "properties": {
            "agent": {
                "type": "object",
                "required": ["host", "agent_type"],
                "properties": {
                    "host": {"type": "string", "minLength": 1, "maxLength": 255},
                    "agent_type": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 64,
                        "description": '"Quark L2 agent" or "DHCP agent"',
                    },
                    # null is read as absent, as parse_report does
                    "binary": {"type": "string", "maxLength": 255, "nullable": True},
                    "topic": {"type": "string", "maxLength": 255, "nullable": True},
                    "configurations": {
                        "type": "object",
                        "nullable": True,
                        "description": "bridge_mappings, tunnel_ip, tunnel_types, vlan_supported, devices, ...",
                    },
                    "availability_zone": {"type": "string", "nullable": True, "maxLength": 255},
                    "resources_synced": {**v.BOOLEAN, "nullable": True},
                    "start_flag": v.BOOLEAN,
                },
            }
        },
    }
    host = [
        {"name": "host", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 255}}
    ]
    poll = host + [
        {
            "name": "since",
            "in": "query",
            "required": False,
            "schema": {"anyOf": [{"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}, _EMPTY]},
            "description": "the generation the caller has; absent: answer at once",
        },
        {
            "name": "wait",
            "in": "query",
            "required": False,
            "schema": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_WAIT}, _EMPTY]},
            "description": "seconds to hold the request while the generation equals since",
        },
    ]
    fixed_ips = {
        "type": "array",
        "items": {"type": "object", "properties": {"subnet_id": {"type": "string"}, "ip_address": {"type": "string"}}},
    }
    segment = {
        "id": {"type": "string"},
        "network_type": {"type": "string"},
        "physical_network": {"type": "string", "nullable": True},
        "segmentation_id": {"type": "integer", "nullable": True},
        "mtu": {"type": "integer"},
        "bridge_name": {"type": "string"},
    }
    desired = {
        "type": "object",
        "required": ["host", "generation", "ports", "networks"],
        "properties": {
            "host": {"type": "string"},
            "generation": {"type": "integer"},
            "ports": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        **{
                            k: {"type": "string"}
                            for k in (
                                "id",
                                "mac_address",
                                "network_id",
                                "status",
                                "device_owner",
                                "device_id",
                                "device_name",
                                "vm_device_name",
                                "bridge_name",
                            )
                        },
                        "admin_state_up": {"type": "boolean"},
                        "mtu": {"type": "integer"},
                        "fixed_ips": fixed_ips,
                    },
                },
            },
            "networks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {**segment, "peers": {"type": "array", "items": {"type": "string"}}},
                },
            },
        },
    }
    dhcp = {
        "type": "object",
        "required": ["host", "generation", "networks"],
        "properties": {
            "host": {"type": "string"},
            "generation": {"type": "integer"},
            "networks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        **segment,
                        "dhcp_port": {
                            "type": "object",
                            "properties": {
                                **{
                                    k: {"type": "string"}
                                    for k in ("id", "mac_address", "device_name", "vm_device_name")
                                },
                                "fixed_ips": fixed_ips,
                            },
                        },
                        "subnets": {"type": "array", "items": {"type": "object"}},
                        "hosts": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    k: {"type": "string"}
                                    for k in ("port_id", "mac_address", "ip_address", "subnet_id", "hostname")
                                },
                            },
                        },
                    },
                },
            },
        },
    }
    status_body = {
        "type": "object",
        "required": ["ports"],
        "additionalProperties": False,
        "properties": {
            "ports": {"type": "object", "additionalProperties": {"type": "string", "enum": list(PORT_STATUSES)}}
        },
    }
    statuses = {
        "type": "object",
        "additionalProperties": {"type": "string", "enum": list(PORT_STATUSES)},
    }
    l3_body = {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,  # parse_l3_status
        "properties": {
            "routers": statuses,
            "floatingips": statuses,
            "ha_states": {"type": "object", "additionalProperties": {"type": "string", "enum": list(HA_STATES)}},
        },
    }
    return {
        "/v2.0/hosts/{host}/desired_state": {
            "get": {
                "operationId": "show_host_desired_state",
                "parameters": poll,
                "responses": {
                    "200": {"description": "What the host's L2 agent realises", **_json(desired)},
                    "400": _error("Bad request"),
                    "403": _error("Forbidden"),
                },
            }
        },
        "/v2.0/hosts/{host}/dhcp_state": {
            "get": {
                "operationId": "show_host_dhcp_state",
                "parameters": poll,
                "responses": {
                    "200": {"description": "What the host's DHCP service serves", **_json(dhcp)},
                    "400": _error("Bad request"),
                    "403": _error("Forbidden"),
                },
            }
        },
        "/v2.0/hosts/{host}/port_status": {
            "put": {
                "operationId": "update_host_port_status",
                "parameters": host,
                "requestBody": {"required": True, **_json(status_body)},
                "responses": {
                    "200": {
                        "description": "The ports whose report was taken",
                        **_json(
                            {
                                "type": "object",
                                "properties": {"updated": {"type": "array", "items": {"type": "string"}}},
                            }
                        ),
                    },
                    "400": _error("Bad request"),
                    "403": _error("Forbidden"),
                },
            }
        },
        "/v2.0/hosts/{host}/l3_status": {
            "put": {
                "operationId": "update_host_l3_status",
                "parameters": host,
                "requestBody": {"required": True, **_json(l3_body)},
                "responses": {
                    "200": {
                        "description": "The routers and floating IPs whose report was taken",
                        **_json({"type": "object", "properties": {"updated": {"type": "object"}}}),
                    },
                    "400": _error("Bad request"),
                    "403": _error("Forbidden"),
                },
            }
        },
        "/v2.0/agents/report": {
            "post": {
                "operationId": "report_agent_state",
                "requestBody": {"required": True, **_json(agent_report)},
                "responses": {
                    "200": {
                        "description": "The agent after the report",
                        **_json({"type": "object", "properties": {"agent": {"$ref": "#/components/schemas/Agent"}}}),
                    },
                    "400": _error("Bad request"),
                    "403": _error("Forbidden"),
                },
            }
        },
    }
