"""HTTP handlers of ``/v2.0/ipam``: Quark as another system's IPAM (Neutron's
``quark`` IPAM driver; docs/neutron_ipam_driver.md). Admin or service only.

* ``PUT    /v2.0/ipam/subnets/{id}``                          register (or update) a subnet under its id
* ``GET    /v2.0/ipam/subnets/{id}``                          show it
* ``DELETE /v2.0/ipam/subnets/{id}``                          remove it (its holders' addresses released)
* ``POST   /v2.0/ipam/allocations``                           an address for a holder: 201 new, 200 already held
* ``GET    /v2.0/ipam/allocations?holder=&subnet_id=``        what holders hold
* ``DELETE /v2.0/ipam/subnets/{id}/allocations/{ip_address}?holder=``  release (a no-op when not held)

The policy is asked first (403 before any lookup).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import errors
from quark.api.resources import authorizer, read_json
from quark.api.responses import json_response, no_content
from quark.context import Context


def _allowed(request: Request, rule: str) -> Context:
    authz = authorizer(request)
    authz.require(rule, {"project_id": authz.ctx.project_id})
    return authz.ctx


def _service(request: Request):
    return request.app.state.services.external_ipam


# Subnets and networks are rows of Quark's own (ids of at most 36 characters, Neutron's UUIDs).
ID_LENGTH = 36


def _string(value: Any, name: str, *, empty: bool = False, length: int = 255) -> str:
    if not isinstance(value, str) or not (value or empty) or len(value) > length:
        raise errors.InvalidInput(error_message=f"'{name}' must be a non-empty string of at most {length} characters")
    return value


def _member(body: Any, key: str) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise errors.HTTPBadRequest(msg=f"Unable to find '{key}' in request body")
    return body[key]


def parse_subnet(body: Any) -> dict:
    """``{"subnet": {network_id, cidr, ip_version, project_id, gateway_ip?, allocation_pools?, name?}}``."""
    item = _member(body, "subnet")
    attrs: dict[str, Any] = {k: _string(item.get(k), k) for k in ("cidr", "project_id")}
    attrs["network_id"] = _string(item.get("network_id"), "network_id", length=ID_LENGTH)
    if item.get("ip_version") not in (4, 6):
        raise errors.InvalidInput(error_message="'ip_version' must be 4 or 6")
    attrs["ip_version"] = item["ip_version"]
    if "gateway_ip" in item:
        if item["gateway_ip"] is not None:
            _string(item["gateway_ip"], "gateway_ip")
        attrs["gateway_ip"] = item["gateway_ip"]
    pools = item.get("allocation_pools")
    if pools is not None:
        if not isinstance(pools, list) or not all(
            isinstance(p, dict) and isinstance(p.get("start"), str) and isinstance(p.get("end"), str) for p in pools
        ):
            raise errors.InvalidInput(error_message="'allocation_pools' must be a list of {start, end}")
        attrs["allocation_pools"] = [{"start": p["start"], "end": p["end"]} for p in pools]
    for optional in ("name", "network_name"):
        if isinstance(item.get(optional), str):
            attrs[optional] = item[optional][:255]
    return attrs


def parse_allocation(body: Any) -> dict:
    """``{"allocation": {holder, subnet_ids, ip_address?, device_owner?, project_id?}}``."""
    item = _member(body, "allocation")
    subnet_ids = item.get("subnet_ids")
    if not isinstance(subnet_ids, list) or not subnet_ids:
        raise errors.InvalidInput(error_message="'subnet_ids' must be a non-empty list")
    attrs: dict[str, Any] = {
        "holder": _string(item.get("holder"), "holder"),
        "subnet_ids": [_string(sid, "subnet_ids") for sid in subnet_ids],
    }
    for optional in ("ip_address", "device_owner", "project_id"):
        if item.get(optional) is not None:
            attrs[optional] = _string(item[optional], optional, empty=optional == "device_owner")
    return attrs


async def register_subnet(request: Request) -> Response:
    ctx = _allowed(request, "create_ipam_subnet")
    attrs = parse_subnet(await read_json(request))
    subnet_id = _string(request.path_params["id"], "id", length=ID_LENGTH)
    view, created = await _service(request).register_subnet(ctx, subnet_id, attrs)
    return json_response({"subnet": view}, status=201 if created else 200)


async def show_subnet(request: Request) -> Response:
    _allowed(request, "get_ipam_subnet")
    return json_response({"subnet": await _service(request).get_subnet(request.path_params["id"])})


async def remove_subnet(request: Request) -> Response:
    ctx = _allowed(request, "delete_ipam_subnet")
    await _service(request).remove_subnet(ctx, request.path_params["id"])
    return no_content()


async def allocate(request: Request) -> Response:
    _allowed(request, "create_ipam_allocation")
    view, created = await _service(request).allocate(parse_allocation(await read_json(request)))
    return json_response({"allocation": view}, status=201 if created else 200)


async def list_allocations(request: Request) -> Response:
    _allowed(request, "get_ipam_allocation")
    query = request.query_params
    views = await _service(request).list_allocations(query.get("holder"), query.get("subnet_id"))
    return json_response({"allocations": views})


async def release(request: Request) -> Response:
    _allowed(request, "delete_ipam_allocation")
    params = request.path_params
    await _service(request).release(params["id"], params["ip_address"], request.query_params.get("holder"))
    return no_content()


ROUTES = [
    Route("/v2.0/ipam/subnets/{id}", register_subnet, methods=["PUT"]),
    Route("/v2.0/ipam/subnets/{id}", show_subnet, methods=["GET"]),
    Route("/v2.0/ipam/subnets/{id}", remove_subnet, methods=["DELETE"]),
    Route("/v2.0/ipam/allocations", allocate, methods=["POST"]),
    Route("/v2.0/ipam/allocations", list_allocations, methods=["GET"]),
    Route("/v2.0/ipam/subnets/{id}/allocations/{ip_address}", release, methods=["DELETE"]),
]


def openapi_paths() -> dict[str, Any]:
    """The six operations, with what the parsers above check (types, lengths, ip_version);
    cidr, addresses and pools are checked by the service (InvalidInput, 400)."""
    from quark.api.openapi.schemas import errors as errs
    from quark.api.openapi.schemas import json_body

    def text(*, nullable: bool = False, min_length: int = 1, length: int = 255) -> dict[str, Any]:
        return {
            "type": "string",
            "minLength": min_length,
            "maxLength": length,
            **({"nullable": True} if nullable else {}),
        }

    def obj(required: list[str], **props: Any) -> dict[str, Any]:
        return {"type": "object", "required": required, "properties": props}

    def path(*names: str) -> list[dict[str, Any]]:
        return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]

    def query(*names: str) -> list[dict[str, Any]]:
        return [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in names]

    pool = obj(["start", "end"], start={"type": "string"}, end={"type": "string"})
    subnet_in = obj(
        ["network_id", "cidr", "ip_version", "project_id"],
        network_id=text(length=ID_LENGTH),
        cidr=text(),
        project_id=text(),
        ip_version={"type": "integer", "enum": [4, 6]},
        gateway_ip=text(nullable=True),
        allocation_pools={"type": "array", "items": pool, "nullable": True},
    )
    subnet_out = obj(
        ["id", "network_id", "project_id", "cidr", "ip_version", "gateway_ip", "allocation_pools"],
        id={"type": "string"},
        network_id={"type": "string"},
        project_id={"type": "string"},
        cidr={"type": "string"},
        ip_version={"type": "integer", "enum": [4, 6]},
        gateway_ip={"type": "string", "nullable": True},
        allocation_pools={"type": "array", "items": pool},
    )
    allocation_in = obj(
        ["holder", "subnet_ids"],
        holder=text(),
        subnet_ids={"type": "array", "minItems": 1, "items": text()},
        ip_address=text(nullable=True),
        device_owner=text(nullable=True, min_length=0),
        project_id=text(nullable=True),
    )
    allocation_out = obj(
        ["id", "subnet_id", "network_id", "ip_address", "holder", "project_id"],
        **{k: {"type": "string"} for k in ("id", "subnet_id", "network_id", "ip_address", "holder")},
        project_id={"type": "string", "nullable": True},
    )

    def body(key: str, schema: dict[str, Any]) -> dict[str, Any]:
        return json_body(obj([key], **{key: schema}))

    def answer(key: str, schema: dict[str, Any], *codes: str) -> dict[str, Any]:
        return {
            "201": {"description": "Created", **body(key, schema)},
            "200": {"description": "OK (already there)", **body(key, schema)},
            **errs(*codes),
        }

    gone = {"204": {"description": "No Content"}}
    return {
        "/v2.0/ipam/subnets/{id}": {
            "put": {
                "operationId": "register_ipam_subnet",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": text(length=ID_LENGTH)}],
                "requestBody": {"required": True, **body("subnet", subnet_in)},
                "responses": answer("subnet", subnet_out, "400", "403", "409"),
            },
            "get": {
                "operationId": "show_ipam_subnet",
                "parameters": path("id"),
                "responses": {"200": {"description": "OK", **body("subnet", subnet_out)}, **errs("403", "404")},
            },
            "delete": {
                "operationId": "remove_ipam_subnet",
                "parameters": path("id"),
                "responses": {**gone, **errs("403", "404", "409")},
            },
        },
        "/v2.0/ipam/allocations": {
            "post": {
                "operationId": "allocate_ipam_address",
                "requestBody": {"required": True, **body("allocation", allocation_in)},
                "responses": answer("allocation", allocation_out, "400", "403", "404", "409"),
            },
            "get": {
                "operationId": "list_ipam_allocations",
                "parameters": query("holder", "subnet_id"),
                "responses": {
                    "200": {"description": "OK", **body("allocations", {"type": "array", "items": allocation_out})},
                    **errs("400", "403"),
                },
            },
        },
        "/v2.0/ipam/subnets/{id}/allocations/{ip_address}": {
            "delete": {
                "operationId": "release_ipam_address",
                "parameters": path("id", "ip_address") + query("holder"),
                "responses": {**gone, **errs("400", "403", "404")},
            }
        },
    }
