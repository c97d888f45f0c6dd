"""HTTP handlers of the list-changing member actions: a subnet pool's
``PUT /v2.0/subnetpools/{id}/add_prefixes`` and ``remove_prefixes``
(``subnetpool-prefix-ops``, body and answer ``{"prefixes": [...]}``), and an
address group's ``PUT /v2.0/address-groups/{id}/add_addresses`` and
``remove_addresses`` (``address-group``, body ``{"addresses": [...]}``,
answer ``{"address_group": {...}}``). Each action is its own policy rule, on
an object the caller must be able to see. The collections' own routes come
from ``resources.CollectionRoutes``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import errors
from quark.api import validators as v
from quark.api.definitions.base import Resource
from quark.api.definitions.pools import PREFIXES, SUBNETPOOL
from quark.api.definitions.security import ADDRESS_GROUP, ADDRESSES, REMOVED_ADDRESSES
from quark.api.resources import authorizer, ctx_of, read_json
from quark.api.responses import json_response


@dataclass(frozen=True)
class MemberActions:
    resource: Resource
    service: str  # attribute of quark.services.registry.Services
    key: str  # the body's one key
    convert: v.Converter
    names: tuple[str, str]
    answer: dict[str, Any]  # the answer's JSON schema
    # An action whose list is read otherwise than ``convert`` (by name).
    converts: dict[str, v.Converter] = field(default_factory=dict)

    def converter(self, name: str) -> v.Converter:
        return self.converts.get(name, self.convert)

    def body(self, name: str, body: Any) -> list[str]:
        """neutron's ``get_operation_request_body``: a dict with the list."""
        if not isinstance(body, dict) or self.key not in body:
            raise errors.HTTPBadRequest(msg=f"Body contains invalid data: the body must be {{'{self.key}': [...]}}")
        try:
            return list(self.converter(name)(body[self.key]))
        except ValueError as exc:
            raise errors.InvalidInput(error_message=str(exc)) from None

    def handler(self, name: str):
        async def handle(request: Request) -> Response:
            items = self.body(name, await read_json(request))
            authz, object_id = authorizer(request), request.path_params["id"]
            service = getattr(request.app.state.services, self.service)
            current = await service.get(authz.ctx, object_id)
            await authz.sub_action(self.resource, name, current, service.missing(object_id))
            return json_response(await getattr(service, name)(ctx_of(request), object_id, items))

        return handle

    def path(self, name: str) -> str:
        return f"/v2.0/{self.resource.collection}/{{id}}/{name}"

    def routes(self) -> list[Route]:
        return [Route(self.path(name), self.handler(name), methods=["PUT"]) for name in self.names]

    def openapi_paths(self) -> dict[str, Any]:
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/NeutronError"}}}}
        errs = {code: {"description": code, **error} for code in ("400", "403", "404", "409")}
        ok = {"description": "OK", "content": {"application/json": {"schema": self.answer}}}

        def body(name: str) -> dict[str, Any]:
            schema = {self.key: v.describe(self.converter(name))}
            return {"type": "object", "properties": schema, "required": [self.key]}

        return {
            self.path(name): {
                "put": {
                    "operationId": name,
                    "tags": [self.resource.collection],
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": body(name)}}},
                    "responses": {"200": ok, **errs},
                }
            }
            for name in self.names
        }


_STRINGS = {"type": "array", "items": {"type": "string"}}
ACTIONS = (
    MemberActions(
        SUBNETPOOL,
        "subnet_pools",
        "prefixes",
        PREFIXES,
        ("add_prefixes", "remove_prefixes"),
        {"type": "object", "properties": {"prefixes": _STRINGS}},
    ),
    MemberActions(
        ADDRESS_GROUP,
        "address_groups",
        "addresses",
        ADDRESSES,
        ("add_addresses", "remove_addresses"),
        {"type": "object", "properties": {"address_group": {"$ref": "#/components/schemas/AddressGroup"}}},
        # Neutron reads what to remove as netaddr.IPNetwork: a bare address is its /32 (/128).
        {"remove_addresses": REMOVED_ADDRESSES},
    ),
)
ROUTES = [route for actions in ACTIONS for route in actions.routes()]


def openapi_paths() -> dict[str, Any]:
    return {path: spec for actions in ACTIONS for path, spec in actions.openapi_paths().items()}
