"""ASGI middleware: request ids, the auth context, and Neutron's URL quirks.

Plain ASGI (not BaseHTTPMiddleware) so a client that disconnects cancels the
request task cleanly: the open transaction rolls back, nothing half-written.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from typing import Any
from urllib.parse import unquote_to_bytes

from quark import metrics
from quark.api.auth import PUBLIC_PATHS, KeystoneAuth, Rejection, strip_identity_headers
from quark.api.dashboard import session
from quark.api.faults import answer_error, error_body, send_json
from quark.context import NOAUTH_PROJECT, Context
from quark.logs import REQUEST_ID

ACCESS = logging.getLogger("quark.access")

ADMIN_ROLES = frozenset({"admin"})
# Keystone's default role implications (a token carries the implied roles too):
# admin → manager → member → reader. The header identity gets the same.
IMPLIED_ROLES = {"admin": ("manager", "member", "reader"), "manager": ("member", "reader"), "member": ("reader",)}


# Identity headers read in noauth mode, and the longest value each may carry
# (the project id is stored in String(255) columns; a user id is no longer).
IDENTITY_HEADERS = {b"x-project-id": 255, b"x-tenant-id": 255, b"x-tenant": 255, b"x-user-id": 255, b"x-roles": 0}
NUL_MESSAGE = "Invalid input: the NUL character (\\u0000) is not allowed"


class BadRequest(Exception):
    """A request refused before it reaches the application (400)."""


def check_identity_headers(headers: dict[bytes, bytes]) -> None:
    """Identity headers are UTF-8, NUL-free and, but for the roles, at most 255 characters."""
    for name, longest in IDENTITY_HEADERS.items():
        value = headers.get(name)
        if value is None:
            continue
        label = name.decode().title()
        try:
            text = value.decode()
        except UnicodeDecodeError:
            raise BadRequest(f"Invalid {label} header: not UTF-8") from None
        if "\x00" in text:
            raise BadRequest(f"Invalid {label} header: the NUL character is not allowed")
        if longest and len(text) > longest:
            raise BadRequest(f"Invalid {label} header: longer than {longest} characters")


def check_url(scope: dict[str, Any]) -> None:
    """No NUL in the path (ids, tags) nor in the query string (filters, markers, sorts, fields)."""
    if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
        raise BadRequest(NUL_MESSAGE)


def with_implied(roles: frozenset[str]) -> frozenset[str]:
    return roles.union(*(IMPLIED_ROLES.get(r, ()) for r in roles))


def context_from_headers(headers: dict[bytes, bytes], request_id: str) -> Context:
    """noauth (contract §1.4): X-Project-Id / X-Tenant-Id and X-Roles; no project = admin."""
    project = (headers.get(b"x-project-id") or headers.get(b"x-tenant-id") or headers.get(b"x-tenant") or b"").decode()
    roles = frozenset(r.strip().lower() for r in headers.get(b"x-roles", b"").decode().split(",") if r.strip())
    roles = with_implied(roles)
    user = headers.get(b"x-user-id", b"").decode() or None
    if not project:
        return Context(
            project_id=NOAUTH_PROJECT,
            roles=with_implied(roles | ADMIN_ROLES),
            is_admin=True,
            user_id=user,
            request_id=request_id,
        )
    return Context(
        project_id=project, roles=roles, is_admin=bool(roles & ADMIN_ROLES), user_id=user, request_id=request_id
    )


class QuarkMiddleware:
    """``keystone``: a ``KeystoneAuth`` gives the context (noauth: the headers)."""

    def __init__(self, app, keystone: KeystoneAuth | None = None) -> None:
        self.app = app
        self.keystone = keystone

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}"
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = [500]  # what the client got; 500 if the response never started
        raw_id = request_id.encode()

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = list(message.get("headers", ())) + [(b"x-openstack-request-id", raw_id)]
            await send(message)

        method, path, query = scope["method"], scope["path"], scope.get("query_string", b"")
        try:
            await self._serve(scope, receive, send_with_id, request_id)
        finally:
            ctx = scope.get("state", {}).get("ctx")
            metrics.observe_request(method, route_template(scope), status[0], time.perf_counter() - started)
            _access_line(method, path, query, status[0], started, ctx)
            REQUEST_ID.reset(token)

    async def _serve(self, scope, receive, send, request_id: str) -> None:
        headers = dict(scope["headers"])
        try:
            check_url(scope)
            if self.keystone is None:
                check_identity_headers(headers)
        except BadRequest as exc:
            await send_json(send, 400, error_body("HTTPBadRequest", str(exc)))
            return
        if self.keystone is None:
            ctx = context_from_headers(headers, request_id)
        else:
            scope["headers"] = strip_identity_headers(scope["headers"])
            dashboard = session.is_dashboard(scope["path"])
            if dashboard:  # the dashboard's cookie, only there (docs/dashboard.md)
                scope["headers"] = session.with_cookie_token(scope["headers"])
            try:
                ctx = await self._keystone_context(scope, request_id)
            except Rejection as exc:
                if dashboard and exc.status == 401:
                    await _to_login(send, scope["path"])
                    return
                await send_json(send, exc.status, exc.body, exc.headers)
                return
            except Exception as exc:  # noqa: BLE001 - answered (500/503), not a dropped connection
                await answer_error(scope, send, exc)
                return
        policy = getattr(getattr(scope.get("app"), "state", None), "policy", None)
        if policy is not None:
            # Neutron: a context is an admin one when ``context_is_admin`` says so,
            # whichever way the caller was identified.
            ctx = dataclasses.replace(ctx, is_admin=policy.is_admin(ctx))
        scope.setdefault("state", {})["ctx"] = ctx
        path = scope["path"]
        if path.startswith("/v2.0/") and path.endswith(".json"):
            # Neutron accepts a .json suffix on every resource URL.
            scope["path"] = path[:-5]
            scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)

    async def _keystone_context(self, scope: dict[str, Any], request_id: str) -> Context:
        assert self.keystone is not None
        if scope["path"] in PUBLIC_PATHS and scope["method"] in ("GET", "HEAD"):
            return Context(project_id="", request_id=request_id)  # no identity: nothing to read or write
        if scope["path"] in session.PUBLIC:  # the dashboard's login form: asks Keystone itself
            return Context(project_id="", request_id=request_id)
        return await self.keystone.authenticate(scope, request_id)


async def _to_login(send, path: str) -> None:
    """A dashboard page without a valid token: to the login form (the stale cookie goes)."""
    headers = [
        (b"location", session.login_location(path).encode()),
        (b"set-cookie", session.cleared_cookie_header().encode()),
        (b"content-length", b"0"),
    ]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def route_template(scope: dict[str, Any]) -> str | None:
    """The path template of the route that served the request (``/v2.0/ports/{id}``), never
    the raw path: the metrics' labels stay as few as the routes. None: no route matched."""
    return getattr(scope.get("route"), "path", None)


def _access_line(method: str, path: str, query: bytes, status: int, started: float, ctx: Context | None) -> None:
    """One line per request on ``quark.access`` (the request id comes from the log filter)."""
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    target = f"{path}?{query.decode('latin-1')}" if query else path
    project = (ctx.project_id if ctx is not None else "") or "-"
    user = (ctx.user_id if ctx is not None else None) or "-"
    ACCESS.info(
        '"%s %s" %d %.1fms project=%s user=%s',
        method,
        target,
        status,
        duration_ms,
        project,
        user,
        extra={
            "method": method,
            "path": target,
            "status": status,
            "duration_ms": duration_ms,
            "project_id": project,
            "user_id": user,
        },
    )
