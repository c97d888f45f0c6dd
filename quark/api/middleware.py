"""ASGI middleware: request ids, the auth context, and Neutron's URL quirks.

Plain ASGI (not BaseHTTPMiddleware) so a client that disconnects cancels the
request task cleanly: the open transaction rolls back, nothing half-written.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from quark.api.auth import PUBLIC_PATHS, KeystoneAuth, Rejection, strip_identity_headers
from quark.context import NOAUTH_PROJECT, Context

ADMIN_ROLES = frozenset({"admin"})


def context_from_headers(headers: dict[bytes, bytes], request_id: str) -> Context:
    """noauth (contract §1.4): X-Project-Id / X-Tenant-Id and X-Roles; no project = admin."""
    project = (headers.get(b"x-project-id") or headers.get(b"x-tenant-id") or headers.get(b"x-tenant") or b"").decode()
    roles = frozenset(r.strip().lower() for r in headers.get(b"x-roles", b"").decode().split(",") if r.strip())
    user = headers.get(b"x-user-id", b"").decode() or None
    if not project:
        return Context(
            project_id=NOAUTH_PROJECT, roles=roles | ADMIN_ROLES, is_admin=True, user_id=user, request_id=request_id
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
        raw_id = request_id.encode()
        if self.keystone is None:
            scope.setdefault("state", {})["ctx"] = context_from_headers(dict(scope["headers"]), request_id)
        else:
            scope["headers"] = strip_identity_headers(scope["headers"])
            try:
                ctx = await self._keystone_context(scope, request_id)
            except Rejection as exc:
                await _reject(send, exc, raw_id)
                return
            scope.setdefault("state", {})["ctx"] = ctx
        path = scope["path"]
        if path.startswith("/v2.0/") and path.endswith(".json"):
            # Neutron accepts a .json suffix on every resource URL.
            scope["path"] = path[:-5]
            scope["raw_path"] = scope["path"].encode()

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-openstack-request-id", raw_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)

    async def _keystone_context(self, scope: dict[str, Any], request_id: str) -> Context:
        assert self.keystone is not None
        if scope["path"] in PUBLIC_PATHS and scope["method"] in ("GET", "HEAD"):
            return Context(project_id="", request_id=request_id)  # no identity: nothing to read or write
        return await self.keystone.authenticate(scope, request_id)


async def _reject(send, exc: Rejection, raw_id: bytes) -> None:
    body = orjson.dumps(exc.body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-openstack-request-id", raw_id),
        *exc.headers,
    ]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
