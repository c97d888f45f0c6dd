"""Errors → HTTP: one fault map over the base classes, resolved by MRO.

Every error response is Neutron's body
``{"NeutronError": {"type": <class name>, "message": <text>, "detail": ""}}``.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from quark import errors
from quark.api.responses import json_response

LOG = logging.getLogger(__name__)

FAULT_MAP: dict[type[errors.QuarkError], int] = {
    errors.BadRequest: 400,
    errors.NotAuthorized: 403,
    errors.NotFound: 404,
    errors.MethodNotAllowed: 405,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.RequestEntityTooLarge: 413,
    errors.ServiceUnavailable: 503,
}


def status_for(exc: errors.QuarkError) -> int:
    for klass in type(exc).__mro__:
        if klass in FAULT_MAP:
            return FAULT_MAP[klass]
    return 500


def error_body(type_name: str, message: str) -> dict:
    return {"NeutronError": {"type": type_name, "message": message, "detail": ""}}


async def quark_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.QuarkError)
    status = status_for(exc)
    if status >= 500:
        LOG.error("request failed: %s", exc)
    headers = {"Allow": allowed_methods(request)} if status == 405 else None
    return json_response(error_body(exc.type_name, exc.msg), status, headers)


METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> str:
    """The ``Allow`` header of a 405: the methods the routes of this path serve.

    Every route of the path counts (each method is a route of its own), less
    the request's method: when a route took it, its service refused it.
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    methods.discard(request.method)
    if request.method == "GET":
        methods.discard("HEAD")
    return ", ".join(sorted(methods, key=lambda m: (METHOD_ORDER + (m,)).index(m)))


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    LOG.exception("unexpected error on %s %s", request.method, request.url.path)
    return json_response(
        error_body("HTTPInternalServerError", "Request Failed: internal server error while processing your request."),
        500,
    )
