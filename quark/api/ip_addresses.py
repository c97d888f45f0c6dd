"""HTTP handlers of ``/v2.0/ip_addresses/{id}/ports``: the holders of an
address, and the per-holder ``service`` of a shared one (Quark's sub-resource;
its collection routes come from ``resources.CollectionRoutes``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark.api import body as bodies
from quark.api.authz import Authorizer, present
from quark.api.definitions.addresses import IP_ADDRESS, IP_ADDRESS_PORT
from quark.api.links import add_if_asked, linker
from quark.api.resources import authorizer, ctx_of, read_json
from quark.api.responses import json_response


def _service(request: Request):
    return request.app.state.services.ip_addresses


def _holders_path(request: Request) -> str:
    """The holders of the address of the URL, as a collection path (their links)."""
    return f"ip_addresses/{request.path_params['id']}/ports"


async def _address(request: Request, authz: Authorizer, rule: str) -> None:
    """The address must be one the caller can see (404), then ``rule`` allow it (403)."""
    service = _service(request)
    address = await service.get(authz.ctx, request.path_params["id"])
    await authz.show(IP_ADDRESS, address, service.missing(request.path_params["id"]))
    authz.require(rule, address)


async def list_holders(request: Request) -> Response:
    ctx, authz = ctx_of(request), authorizer(request)
    fields = [f for f in request.query_params.getlist("fields") if f]
    await _address(request, authz, "get_ip_address_port")
    ports = await _service(request).list_holders(ctx, request.path_params["id"])
    link = add_if_asked(request, _holders_path(request), fields)
    return json_response({"ports": [present(authz, IP_ADDRESS_PORT, link(view), fields) for view in ports]})


async def show_holder(request: Request) -> Response:
    ctx, authz = ctx_of(request), authorizer(request)
    fields = [f for f in request.query_params.getlist("fields") if f]
    await _address(request, authz, "get_ip_address_port")
    view = await _service(request).get_holder(ctx, request.path_params["id"], request.path_params["port_id"])
    view = add_if_asked(request, _holders_path(request), fields)(view)
    return json_response({"port": present(authz, IP_ADDRESS_PORT, view, fields)})


async def update_holder(request: Request) -> Response:
    ctx, authz = ctx_of(request), authorizer(request)
    attrs = bodies.parse_update(IP_ADDRESS_PORT, await read_json(request), ctx)
    await _address(request, authz, "update_ip_address_port")
    view = await _service(request).update_holder(ctx, request.path_params["id"], request.path_params["port_id"], attrs)
    linker(request, _holders_path(request)).add(view)
    return json_response({"port": present(authz, IP_ADDRESS_PORT, view, [])})


ROUTES = [
    Route("/v2.0/ip_addresses/{id}/ports", list_holders, methods=["GET"]),
    Route("/v2.0/ip_addresses/{id}/ports/{port_id}", show_holder, methods=["GET"]),
    Route("/ip_addresses/{id}/ports/{port_id}", show_holder, methods=["GET"]),  # the bookmark link
    Route("/v2.0/ip_addresses/{id}/ports/{port_id}", update_holder, methods=["PUT"]),
]
