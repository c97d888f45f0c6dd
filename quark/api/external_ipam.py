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


def _string(value: Any, name: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or not (value or empty) or len(value) > 255:
        raise errors.InvalidInput(error_message=f"'{name}' must be a non-empty string of at most 255 characters")
    return value


def _member(body: Any, key: str) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise errors.HTTPBadRequest(msg=f"Unable to find '{key}' in request body")
    return body[key]


def parse_subnet(body: Any) -> dict:
    """``{"subnet": {network_id, cidr, ip_version, project_id, gateway_ip?, allocation_pools?, name?}}``."""
    item = _member(body, "subnet")
    attrs: dict[str, Any] = {k: _string(item.get(k), k) for k in ("network_id", "cidr", "project_id")}
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
    view, created = await _service(request).register_subnet(ctx, request.path_params["id"], attrs)
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
