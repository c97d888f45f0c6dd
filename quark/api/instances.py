"""HTTP side of the Quark ``instances`` extension (docs/instances.md):

* ``POST   /v2.0/instances``            all of a device's ports in one transaction
* ``GET    /v2.0/instances/{device_id}`` the device's network info in one response
* ``DELETE /v2.0/instances/{device_id}`` all of the device's ports, all or nothing
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import errors, owners
from quark.api import body as bodies
from quark.api import idempotency
from quark.api import validators as v
from quark.api.authz import Authorizer, present
from quark.api.definitions.core import NETWORK, PORT, SUBNET
from quark.api.links import ATTRIBUTE, Linker, base_url
from quark.api.openapi.schemas import LINKS, bookmark, request_object_without
from quark.api.resources import authorizer, ctx_of, read_json
from quark.api.responses import json_response
from quark.context import Context

# Attributes of the instance body itself; ports carry port attributes.
_INSTANCE_KEYS = {"device_id", "device_owner", "binding:host_id", "project_id", "tenant_id", "ports"}
_SET_BY_INSTANCE = frozenset({"device_id", "device_owner"})


def _bad(msg: str) -> errors.HTTPBadRequest:
    return errors.HTTPBadRequest(msg=msg)


def parse_provision(body: Any, ctx: Context) -> dict:
    """``{"instance": {...}}`` checked in this order: its keys, ``device_id``, the port
    bodies (each as a port POST would be), the instance's own values; the policy
    comes after (``authorize_provision``)."""
    item = _instance_item(body)
    parsed = _parse_ports(item.get("ports"), ctx)
    out = _instance_values(item)
    out["ports"] = parsed
    return out


async def authorize_provision(authz: Authorizer, spec: dict) -> None:
    """``create_instance`` (and ``:binding:host_id`` to bind), then every port as
    its own create would be checked, with the device and host it gets."""
    target = {"project_id": spec["project_id"] or authz.ctx.project_id, "device_id": spec["device_id"]}
    authz.require("create_instance", target)
    device = {"device_id": spec["device_id"], "device_owner": spec["device_owner"]}
    if spec["host"] is not None:
        authz.require("create_instance:binding:host_id", {**target, "binding:host_id": spec["host"]})
        device["binding:host_id"] = spec["host"]
    if spec["project_id"] is not None:
        device["project_id"] = spec["project_id"]
    await authz.create(PORT, [{**port, **device} for port in spec["ports"]])


def _instance_item(body: Any) -> dict:
    """The instance object of the body, with known keys and a ``device_id``."""
    if not isinstance(body, dict) or set(body) != {"instance"} or not isinstance(body["instance"], dict):
        raise _bad("Unable to find 'instance' in request body")
    item = body["instance"]
    unknown = sorted(set(item) - _INSTANCE_KEYS)
    if unknown:
        raise _bad(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    if not item.get("device_id"):
        raise _bad("Failed to parse request. Required attribute 'device_id' not specified")
    return item


def _parse_ports(ports: Any, ctx: Context) -> list[dict]:
    """Port bodies (``{"port": {...}}`` or bare objects) without the attributes the instance sets."""
    if not isinstance(ports, list) or not ports:
        raise _bad("Invalid input for ports. Reason: a non-empty list of port bodies is required.")
    parsed = []
    for port in ports:
        if isinstance(port, dict) and set(port) == {"port"}:
            port = port["port"]
        if isinstance(port, dict) and _SET_BY_INSTANCE & set(port):
            raise _bad("Invalid input for ports. Reason: device_id and device_owner are set on the instance.")
        parsed.append(bodies.parse_create_item(PORT, port, ctx))
    return parsed


def _instance_values(item: dict) -> dict[str, Any]:
    """device_id, device_owner (a compute owner by default), host and project, converted."""
    try:
        return {
            "device_id": v.string(255)(item["device_id"]),
            "device_owner": v.string(255)(item.get("device_owner", owners.COMPUTE_DEFAULT)),
            "host": v.string(255, allow_none=True)(item.get("binding:host_id")),
            "project_id": v.string(255, allow_none=True)(item.get("project_id") or item.get("tenant_id")),
        }
    except ValueError as exc:
        raise _bad(f"Invalid input for instance. Reason: {exc}.") from None


def present_info(authz: Authorizer, info: dict, base: str) -> dict:
    """Hide what the caller may not read in the nested port, network and subnet views;
    links on the instance and on every view in it (docs/links.md)."""
    ports, networks, subnets = Linker(base, "ports"), Linker(base, "networks"), Linker(base, "subnets")
    fips = Linker(base, "floatingips")
    for port in info["ports"]:
        network = port.get("network")
        if network is not None:
            port["network"] = networks.add(present(authz, NETWORK, network, []))
        port["subnets"] = [subnets.add(present(authz, SUBNET, subnet, [])) for subnet in port["subnets"]]
        port["floating_ips"] = [fips.add(fip) for fip in port["floating_ips"]]
        nested = {k: port.pop(k) for k in ("network", "subnets", "floating_ips")}
        shown = ports.add(present(authz, PORT, port, []))
        port.clear()
        port.update(shown, **nested)
    groups = Linker(base, "security-groups")
    for group in info.get("security_groups", ()):
        groups.add(group)
    info[ATTRIBUTE] = Linker(base, "instances").of(quote(info["device_id"], safe=""))
    return info


def _service(request: Request):
    return request.app.state.services.instances


async def provision(request: Request) -> Response:
    body = await read_json(request)
    return await idempotency.guarded(request, ctx_of(request), body, lambda keyed: _provision(request, body, keyed))


async def _provision(request: Request, body: Any, keyed: idempotency.Keyed) -> Response:
    ctx, authz = keyed.ctx, authorizer(request)
    spec = parse_provision(body, ctx)
    await authorize_provision(authz, spec)
    base = base_url(request)

    def render(info: dict) -> dict:
        return {"instance": present_info(authz, info, base)}  # once: keyed.respond

    info = await _service(request).provision(
        keyed.context(render),
        spec["device_id"],
        spec["ports"],
        device_owner=spec["device_owner"],
        host=spec["host"],
        project_id=spec["project_id"],
    )
    return keyed.respond(render, info)


async def show(request: Request) -> Response:
    ctx, authz = ctx_of(request), authorizer(request)
    device_id = request.path_params["device_id"]
    info = await _service(request).network_info(ctx, device_id)
    if not info["ports"] or not authz.allowed(
        "get_instance", {"project_id": info["ports"][0].get("project_id"), "device_id": device_id}
    ):
        raise errors.HTTPNotFound()
    return json_response({"instance": present_info(authz, info, base_url(request))})


async def teardown(request: Request) -> Response:
    if (await request.body()).strip():
        raise errors.HTTPBadRequest(msg="Request body is not supported in DELETE.")
    authz = authorizer(request)
    device_id = request.path_params["device_id"]
    authz.require("delete_instance", {"project_id": authz.ctx.project_id, "device_id": device_id})
    deleted = await _service(request).teardown(authz.ctx, device_id)
    if not deleted:
        raise errors.HTTPNotFound()
    return json_response({"deleted_ports": deleted})


ROUTES = [
    Route("/v2.0/instances", provision, methods=["POST"]),
    Route("/v2.0/instances/{device_id}", show, methods=["GET"]),
    Route("/instances/{device_id}", show, methods=["GET"]),  # the bookmark link
    Route("/v2.0/instances/{device_id}", teardown, methods=["DELETE"]),
]


def openapi_paths() -> dict[str, Any]:
    device = [{"name": "device_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    instance = {"type": "object", "properties": {"links": LINKS}, "required": ["links"]}
    info = {"type": "object", "properties": {"instance": instance}, "required": ["instance"]}
    # A port's create body less what the instance sets for all its ports.
    port_body = request_object_without(PORT, _SET_BY_INSTANCE)
    text = {"type": "string", "maxLength": 255}
    create = {
        "type": "object",
        "required": ["instance"],
        "additionalProperties": False,
        "properties": {
            "instance": {
                "type": "object",
                "required": ["device_id", "ports"],
                "additionalProperties": False,
                "properties": {
                    "device_id": {**text, "minLength": 1},
                    "device_owner": text,
                    "binding:host_id": {**text, "nullable": True},
                    "project_id": {**text, "nullable": True},
                    "tenant_id": {**text, "nullable": True},
                    "ports": {"type": "array", "minItems": 1, "items": port_body},
                },
            }
        },
    }
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/NeutronError"}}}}
    errs = {code: {"description": code, **error} for code in ("400", "403", "404", "409")}
    ok = {"content": {"application/json": {"schema": info}}}
    deleted = {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"deleted_ports": {"type": "array", "items": {"type": "string"}}},
                }
            }
        }
    }
    show = {
        "operationId": "show_instance_network_info",
        "parameters": device,
        "responses": {"200": {"description": "OK", **ok}, **errs},
    }
    return {
        "/v2.0/instances": {
            "post": {
                "operationId": "provision_instance",
                "requestBody": {"required": True, "content": {"application/json": {"schema": create}}},
                "responses": {"201": {"description": "Created", **ok}, **errs},
            }
        },
        "/instances/{device_id}": {"get": bookmark(show)},
        "/v2.0/instances/{device_id}": {
            "get": show,
            "delete": {
                "operationId": "teardown_instance",
                "parameters": device,
                "responses": {"200": {"description": "Deleted", **deleted}, **errs},
            },
        },
    }
