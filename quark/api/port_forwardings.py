"""HTTP handlers of ``/v2.0/floatingips/{floatingip_id}/port_forwardings``
(Neutron's ``floating-ip-port-forwarding``): a floating IP's sub-resource, so
its routes are here rather than ``resources.CollectionRoutes``'.

Every request first reads the floating IP as the caller sees it (404
``FloatingIPNotFound`` otherwise); the policy's rules are Neutron's
``<verb>_floatingip_port_forwarding``, whose target carries the floating IP's
project as ``ext_parent:project_id`` (Neutron's ``ext_parent_owner``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import errors
from quark.api import body as bodies
from quark.api import idempotency
from quark.api.authz import Authorizer, present
from quark.api.definitions.port_forwardings import PORT_FORWARDING, UNFILTERABLE
from quark.api.links import add_if_asked
from quark.api.query import parse_list_query
from quark.api.resources import authorizer, ctx_of, if_match_revision, pagination_links, read_json, with_job
from quark.api.responses import json_response, no_content
from quark.services.l3.port_forwarding_errors import PortForwardingNotFound, PortForwardingNotSupportFilterField

RULE = "floatingip_port_forwarding"
COLLECTION = "/v2.0/floatingips/{floatingip_id}/port_forwardings"
MEMBER = COLLECTION + "/{id}"


def _service(request: Request):
    return request.app.state.services.port_forwardings


def _fields(request: Request) -> list[str]:
    return [f for f in request.query_params.getlist("fields") if f]


def _path(request: Request) -> str:
    """The collection's path as links name it (without the version)."""
    return f"floatingips/{request.path_params['floatingip_id']}/port_forwardings"


async def _parent(request: Request, authz: Authorizer) -> dict[str, Any]:
    """The policy target's parent facts: the floating IP, if the caller sees it (404 otherwise)."""
    fip = await request.app.state.services.floating_ips.get(authz.ctx, request.path_params["floatingip_id"])
    return {"project_id": fip["project_id"], "tenant_id": fip["project_id"], "ext_parent:project_id": fip["project_id"]}


def _target(parent: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    return {**view, **parent}


def _change_allowed(authz: Authorizer, verb: str, target: dict[str, Any], pf_id: str) -> None:
    """``<verb>_floatingip_port_forwarding``: 403 when refused, 404 when the caller may not even read it."""
    if not authz.allowed(f"{verb}_{RULE}", target):
        if not authz.allowed(f"get_{RULE}", target):
            raise PortForwardingNotFound(id=pf_id)
        raise errors.PolicyNotAuthorized(action=f"rule:{verb}_{RULE}")


async def index(request: Request) -> Response:
    authz = authorizer(request)
    items = request.query_params.multi_items()
    for key, _ in items:
        if key in UNFILTERABLE:
            raise PortForwardingNotSupportFilterField(filter=key)
    query = parse_list_query(PORT_FORWARDING, items, request.app.state.settings.pagination_max_limit)
    parent = await _parent(request, authz)
    found = await _service(request).list_in(authz.ctx, request.path_params["floatingip_id"], query)
    link = add_if_asked(request, _path(request), query.fields)
    shown = [v for v in found if authz.allowed(f"get_{RULE}", _target(parent, v))]
    payload: dict[str, Any] = {
        "port_forwardings": [present(authz, PORT_FORWARDING, link(v), query.fields) for v in shown]
    }
    links = pagination_links(request, PORT_FORWARDING, query, found)
    if links is not None:
        payload["port_forwardings_links"] = links
    return json_response(payload)


async def show(request: Request) -> Response:
    authz, fields = authorizer(request), _fields(request)
    parent = await _parent(request, authz)
    pf_id = request.path_params["id"]
    view = await _service(request).get_in(authz.ctx, request.path_params["floatingip_id"], pf_id)
    if not authz.allowed(f"get_{RULE}", _target(parent, view)):
        raise PortForwardingNotFound(id=pf_id)
    view = add_if_asked(request, _path(request), fields)(view)
    return json_response({"port_forwarding": present(authz, PORT_FORWARDING, view, fields)})


async def create(request: Request) -> Response:
    body = await read_json(request)
    return await idempotency.guarded(request, ctx_of(request), body, lambda keyed: _create(request, body, keyed))


async def _create(request: Request, body: Any, keyed: idempotency.Keyed) -> Response:
    authz = authorizer(request)
    items, _ = bodies.parse_create(PORT_FORWARDING, body, keyed.ctx)
    parent = await _parent(request, authz)
    target = _target(parent, items[0])
    if not authz.allowed(f"create_{RULE}", target):
        if not authz.allowed(f"get_{RULE}", target):
            raise errors.FloatingIPNotFound(floatingip_id=request.path_params["floatingip_id"])
        raise errors.PolicyNotAuthorized(action=f"rule:create_{RULE}")
    link = add_if_asked(request, _path(request), [])

    def render(created: dict) -> dict:
        return {"port_forwarding": present(authz, PORT_FORWARDING, link(created), [])}

    service, ctx = _service(request), keyed.context(render)
    created = await service.create_in_fip(ctx, request.path_params["floatingip_id"], items[0])
    return with_job(keyed.respond(render, created), ctx, [created.get("id")])  # the backend's job, if any


async def update(request: Request) -> Response:
    authz = authorizer(request)
    attrs = bodies.parse_update(PORT_FORWARDING, await read_json(request), authz.ctx)
    parent = await _parent(request, authz)
    fip_id, pf_id, service = request.path_params["floatingip_id"], request.path_params["id"], _service(request)
    current = await service.get_in(authz.ctx, fip_id, pf_id)
    _change_allowed(authz, "update", _target(parent, {**current, **attrs}), pf_id)
    view = await service.update_in_fip(authz.ctx, fip_id, pf_id, attrs, if_match_revision(request))
    view = add_if_asked(request, _path(request), [])(view)
    return with_job(json_response({"port_forwarding": present(authz, PORT_FORWARDING, view, [])}), authz.ctx, [pf_id])


async def delete(request: Request) -> Response:
    if (await request.body()).strip():
        raise errors.HTTPBadRequest(msg="Request body is not supported in DELETE.")
    authz = authorizer(request)
    parent = await _parent(request, authz)
    fip_id, pf_id, service = request.path_params["floatingip_id"], request.path_params["id"], _service(request)
    current = await service.get_in(authz.ctx, fip_id, pf_id)
    _change_allowed(authz, "delete", _target(parent, current), pf_id)
    await service.delete_in_fip(authz.ctx, fip_id, pf_id, if_match_revision(request))
    return with_job(no_content(), authz.ctx, [pf_id])


ROUTES = [
    Route(COLLECTION, index, methods=["GET"]),
    Route(COLLECTION, create, methods=["POST"]),
    Route(MEMBER, show, methods=["GET"]),
    Route(MEMBER, update, methods=["PUT"]),
    Route(MEMBER, delete, methods=["DELETE"]),
    # The bookmark link: without a version in its URL, for good.
    Route("/floatingips/{floatingip_id}/port_forwardings/{id}", show, methods=["GET"]),
]


def openapi_schemas() -> dict[str, Any]:
    """The component schemas of the paths below, from the attribute map."""
    from quark.api.openapi.schemas import narrowed, request_object, view_object

    view = view_object(PORT_FORWARDING)
    return {
        "PortForwarding": view,
        "PortForwardingFields": narrowed(view),
        "PortForwardingCreate": request_object(PORT_FORWARDING, "post"),
        "PortForwardingUpdate": request_object(PORT_FORWARDING, "put"),
    }


def openapi_paths() -> dict[str, Any]:
    """The sub-resource's paths (the floating IP's id, then the forwarding's)."""
    from quark.api.openapi.schemas import bookmark, declare_idempotency, json_body, list_parameters, ref
    from quark.api.openapi.schemas import errors as errs

    fip = {"name": "floatingip_id", "in": "path", "required": True, "schema": {"type": "string"}}
    both = [fip, {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]

    def envelope(key: str, schema: dict[str, Any], closed: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object", "properties": {key: schema}, "required": [key]}
        return {**out, "additionalProperties": False} if closed else out

    single = envelope("port_forwarding", ref("PortForwarding"))
    show = {
        "operationId": "show_port_forwarding",
        "parameters": both,
        "responses": {
            "200": {"description": "OK", **json_body(envelope("port_forwarding", ref("PortForwardingFields")))},
            **errs("404"),
        },
    }
    create_op = {
        "operationId": "create_port_forwarding",
        "parameters": [fip],
        "requestBody": {
            "required": True,
            **json_body(envelope("port_forwarding", ref("PortForwardingCreate"), closed=True)),
        },
        "responses": {"201": {"description": "Created", **json_body(single)}, **errs("400", "403", "404", "409")},
    }
    declare_idempotency(create_op)
    listed = envelope("port_forwardings", {"type": "array", "items": ref("PortForwardingFields")})
    return {
        COLLECTION: {
            "get": {
                "operationId": "list_port_forwardings",
                "parameters": [fip, *list_parameters(PORT_FORWARDING)],
                "responses": {"200": {"description": "OK", **json_body(listed)}, **errs("400", "404")},
            },
            "post": create_op,
        },
        MEMBER: {
            "get": show,
            "put": {
                "operationId": "update_port_forwarding",
                "parameters": both,
                "requestBody": {
                    "required": True,
                    **json_body(envelope("port_forwarding", ref("PortForwardingUpdate"), closed=True)),
                },
                "responses": {
                    "200": {"description": "OK", **json_body(single)},
                    **errs("400", "403", "404", "409", "412"),
                },
            },
            "delete": {
                "operationId": "delete_port_forwarding",
                "parameters": both,
                "responses": {"204": {"description": "Deleted"}, **errs("403", "404", "409", "412")},
            },
        },
        "/floatingips/{floatingip_id}/port_forwardings/{id}": {"get": bookmark(show)},
    }
