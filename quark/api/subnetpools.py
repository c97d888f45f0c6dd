"""HTTP handlers of the subnet-pool actions (``subnetpool-prefix-ops``):
``PUT /v2.0/subnetpools/{id}/add_prefixes`` and ``remove_prefixes``, body and
answer ``{"prefixes": [...]}``. The collections' own routes come from
``resources.CollectionRoutes``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quark import errors
from quark.api import validators as v
from quark.api.definitions.pools import PREFIXES, SUBNETPOOL
from quark.api.resources import authorizer, ctx_of, read_json
from quark.api.responses import json_response


def _prefixes(body: Any) -> list[str]:
    """neutron's ``get_operation_request_body``: a dict with a list of prefixes."""
    if not isinstance(body, dict) or "prefixes" not in body:
        raise errors.HTTPBadRequest(msg="Body contains invalid data: the body must be {'prefixes': [...]}")
    try:
        return list(PREFIXES(body["prefixes"]))
    except ValueError as exc:
        raise errors.InvalidInput(error_message=str(exc)) from None


def _action(name: str):
    async def handler(request: Request) -> Response:
        prefixes = _prefixes(await read_json(request))
        authz, pool_id = authorizer(request), request.path_params["id"]
        service = request.app.state.services.subnet_pools
        current = await service.get(authz.ctx, pool_id)
        await authz.sub_action(SUBNETPOOL, name, current, service.missing(pool_id))
        return json_response(await getattr(service, name)(ctx_of(request), pool_id, prefixes))

    return handler


ROUTES = [
    Route(f"/v2.0/subnetpools/{{id}}/{name}", _action(name), methods=["PUT"])
    for name in ("add_prefixes", "remove_prefixes")
]


def openapi_paths() -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/NeutronError"}}}}
    errs = {code: {"description": code, **error} for code in ("400", "403", "404", "409")}
    body = {
        "type": "object",
        "properties": {"prefixes": v.describe(PREFIXES)},
        "required": ["prefixes"],
    }
    answer = {"type": "object", "properties": {"prefixes": {"type": "array", "items": {"type": "string"}}}}
    return {
        f"/v2.0/subnetpools/{{id}}/{name}": {
            "put": {
                "operationId": name,
                "tags": ["subnetpools"],
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {"schema": answer}}},
                    **errs,
                },
            }
        }
        for name in ("add_prefixes", "remove_prefixes")
    }
