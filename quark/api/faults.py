"""Errors → HTTP: one fault map over the base classes, resolved by MRO.

Every error response is Neutron's body
``{"NeutronError": {"type": <class name>, "message": <text>, "detail": ""}}``.
"""

from __future__ import annotations

import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from quark import errors
from quark.api.responses import json_response
from quark.db.engine import is_outage

LOG = logging.getLogger(__name__)

# Seconds a client is told to wait before retrying a 503.
RETRY_AFTER = "1"
OUTAGE_MESSAGE = "The database is unavailable; try again later."
INTERNAL_MESSAGE = "Request Failed: internal server error while processing your request."

FAULT_MAP: dict[type[errors.QuarkError], int] = {
    errors.BadRequest: 400,
    errors.NotAuthorized: 403,
    errors.NotFound: 404,
    errors.MethodNotAllowed: 405,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.UnprocessableEntity: 422,
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
    if status == 503:
        headers = {"Retry-After": RETRY_AFTER}
    elif "retry_after" in exc.kwargs:  # a request that is worth retrying soon (an Idempotency-Key in flight)
        headers = {"Retry-After": str(exc.kwargs["retry_after"])}
    return json_response(error_body(exc.type_name, exc.msg), status, headers)


METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> str:
    """The ``Allow`` header of a 405: the methods the routes of this path serve.

    Every route of the path counts (each method is a route of its own), less
    the request's method: when a route took it, its service refused it.
    """
    matching = [route for route in request.app.router.routes if route.matches(request.scope)[0] != Match.NONE]
    # A literal path (/v2.0/agents/report) is its own resource, not an id of the
    # templated one beside it (/v2.0/agents/{id}): only its own methods count.
    literal = [route for route in matching if not getattr(route, "param_convertors", None)]
    methods: set[str] = set()
    for route in literal or matching:
        methods.update(getattr(route, "methods", None) or ())
    methods.discard(request.method)
    if request.method == "GET":
        methods.discard("HEAD")
    return ", ".join(sorted(methods, key=lambda m: (METHOD_ORDER + (m,)).index(m)))


def _outage(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 5:  # the error or what it was raised from
        if is_outage(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class ErrorBoundary:
    """Answer every error no handler took as a normal response, and swallow it.

    Starlette's ServerErrorMiddleware re-raises after sending its 500, and
    uvicorn then closes the keep-alive connection without a word: a client
    cannot tell whether its POST was applied. Here a lost database is a 503
    with ``Retry-After`` and anything else a 500, both Neutron bodies, and
    the connection stays open. Only an error after the response started
    (nothing left to answer with) goes on up.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            await answer_error(scope, send, exc)


async def answer_error(scope, send, exc: Exception) -> None:
    """Answer an error no handler took: 503 + Retry-After for a lost database, else 500."""
    headers: list[tuple[bytes, bytes]] = []
    if _outage(exc):
        LOG.error("database unavailable on %s %s: %s", scope["method"], scope["path"], exc)
        status, body = 503, error_body("ServiceUnavailable", OUTAGE_MESSAGE)
        headers.append((b"retry-after", RETRY_AFTER.encode()))
    else:
        LOG.error("unexpected error on %s %s", scope["method"], scope["path"], exc_info=exc)
        status, body = 500, error_body("HTTPInternalServerError", INTERNAL_MESSAGE)
    await send_json(send, status, body, headers)


async def send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A whole JSON answer sent from ASGI middleware (outside Starlette's responses)."""
    raw = orjson.dumps(body)
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": raw})
