"""Keystone authentication: keystonemiddleware's ``auth_token`` in front of the ASGI app.

``auth_strategy = "keystone"``. keystonemiddleware is WSGI; Quark is ASGI. For
each request, ``KeystoneAuth.authenticate`` builds a minimal WSGI environ from
the request's headers (the token headers only: a client's own identity
headers never reach auth_token, and are stripped from the ASGI request too),
runs ``auth_token`` on it in a worker thread (its Keystone calls and memcached
lookups block) and reads the identity headers auth_token set
(``X-Identity-Status``, ``X-User-Id``, ``X-Project-Id``, ``X-Roles``,
``X-Service-Roles``, ...) into the request ``Context``.

auth_token is configured by the ``[keystone_authtoken]`` table of quark.toml:
keystonemiddleware's own option names, passed as a paste-style conf dict, so
an operator copies the section of an existing ``neutron.conf``. Its token
cache applies: memcached with ``memcached_servers``, in-process otherwise.

A confirmed token's Context is also kept in ``TokenMemo``, per process, for
no longer than auth_token's own cache would trust it (``token_cache_time``,
default 300 s, and never past the token's expiry): a request whose token is
there skips the worker thread and auth_token altogether (~0.4 ms of CPU per
request otherwise, measured; bench/auth_overhead.py). ``token_cache_time = -1``
turns both caches off.

``GET /`` (the versions document) stays unauthenticated, as in Neutron, whose
api-paste serves it outside the auth pipeline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import time
from collections.abc import Mapping
from typing import Any

from quark.api.faults import error_body
from quark.context import Context

LOG = logging.getLogger(__name__)

# Paths served without a token: Neutron's versions app is outside its auth pipeline.
PUBLIC_PATHS = frozenset({"/", "/healthz", "/readyz", "/metrics"})  # version discovery, probes, metrics

# The headers auth_token reads (the user's and a service's tokens); nothing else of
# the client's request is given to it.
TOKEN_HEADERS = {b"x-auth-token": "HTTP_X_AUTH_TOKEN", b"x-service-token": "HTTP_X_SERVICE_TOKEN"}

# Identity headers a client may not send: they are dropped from every request
# before anything reads them (auth_token's own list and the legacy tenant names).
IDENTITY_HEADER_PREFIXES = (
    b"x-identity-status",
    b"x-service-",
    b"x-user",
    b"x-project-",
    b"x-tenant",
    b"x-domain-",
    b"x-roles",
    b"x-role",
    b"x-system-scope",
    b"x-is-admin-project",
    b"x-auth-",
    b"x-service-catalog",
    b"x-trust-",
)
KEPT_HEADERS = frozenset(TOKEN_HEADERS)

UNAUTHORIZED_MESSAGE = "The request you have made requires authentication."
# keystonemiddleware's default token_cache_time.
DEFAULT_TOKEN_CACHE_TIME = 300
MEMO_SIZE = 10_000


def strip_identity_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The request's headers without any identity header a client sent."""
    return [
        (name, value)
        for name, value in headers
        if name.lower() in KEPT_HEADERS or not name.lower().startswith(IDENTITY_HEADER_PREFIXES)
    ]


def paste_conf(table: Mapping[str, Any]) -> dict[str, str]:
    """The TOML table as the string options a paste ``[filter:authtoken]`` section gives."""
    conf: dict[str, str] = {}
    for key, value in table.items():
        if isinstance(value, bool):
            conf[key] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            conf[key] = ",".join(str(v) for v in value)
        else:
            conf[key] = str(value)
    return conf


def _header(environ: Mapping[str, Any], name: str) -> str:
    return str(environ.get("HTTP_" + name.upper().replace("-", "_"), "") or "")


def _roles(value: str) -> frozenset[str]:
    return frozenset(r.strip().lower() for r in value.split(",") if r.strip())


def context_from_environ(environ: Mapping[str, Any], request_id: str) -> Context | None:
    """The caller auth_token confirmed, or None when the token was not valid."""
    if _header(environ, "X-Identity-Status") != "Confirmed":
        return None
    roles = _roles(_header(environ, "X-Roles"))
    return Context(
        project_id=_header(environ, "X-Project-Id"),
        roles=roles,
        is_admin="admin" in roles,
        user_id=_header(environ, "X-User-Id") or None,
        request_id=request_id,
        user_domain_id=_header(environ, "X-User-Domain-Id") or None,
        project_domain_id=_header(environ, "X-Project-Domain-Id") or None,
        domain_id=_header(environ, "X-Domain-Id") or None,
        system_scope=_header(environ, "X-System-Scope") or None,
        service_roles=_roles(_header(environ, "X-Service-Roles")),
    )


class Rejection(Exception):
    """auth_token did not accept the request: the answer to send instead."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: dict) -> None:
        super().__init__(status)
        self.status = status
        self.headers = headers
        self.body = body


def _confirmed_app(environ: dict, start_response) -> list[bytes]:
    """The WSGI app behind auth_token: reached only by requests it let through."""
    environ["quark.authenticated"] = True
    start_response("204 No Content", [])
    return []


class TokenMemo:
    """Confirmed tokens → their Context, each until a deadline (monotonic seconds)."""

    def __init__(self, ttl: float, size: int = MEMO_SIZE) -> None:
        self.ttl = ttl
        self.size = size
        self.entries: dict[tuple[bytes, bytes], tuple[Context, float]] = {}

    def get(self, key: tuple[bytes, bytes]) -> Context | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            self.entries.pop(key, None)
            return None
        return entry[0]

    def put(self, key: tuple[bytes, bytes], ctx: Context, environ: Mapping[str, Any]) -> None:
        if self.ttl <= 0 or not key[0]:
            return
        lifetime = min(self.ttl, _seconds_left(environ))
        if lifetime <= 0:
            return
        if len(self.entries) >= self.size:  # the oldest entries go first
            for old in list(self.entries)[: self.size // 10 or 1]:
                del self.entries[old]
        self.entries[key] = (ctx, time.monotonic() + lifetime)


def _seconds_left(environ: Mapping[str, Any]) -> float:
    """Seconds until the first of the request's tokens expires (0: unknown)."""
    auth = environ.get("keystone.token_auth")
    refs = [getattr(auth, "user", None), getattr(auth, "service", None)]
    left = [ref.expires.timestamp() - time.time() for ref in refs if ref is not None and ref.expires is not None]
    return min(left) if left else 0.0


def _token_key(scope: dict) -> tuple[bytes, bytes]:
    user = service = b""
    for name, value in scope.get("headers", ()):
        lowered = name.lower()
        if lowered == b"x-auth-token":
            user = value
        elif lowered == b"x-service-token":
            service = value
    return user, service


class KeystoneAuth:
    def __init__(self, table: Mapping[str, Any]) -> None:
        from keystonemiddleware import auth_token  # only a keystone server pays for importing it

        conf = paste_conf(table)
        self.protocol = auth_token.AuthProtocol(_confirmed_app, conf)
        self.memo = TokenMemo(float(conf.get("token_cache_time", DEFAULT_TOKEN_CACHE_TIME)))

    def _validate(self, environ: dict) -> tuple[str, list[tuple[str, str]]]:
        """Run auth_token (blocking); its status and headers when it answered itself."""
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            answer["status"], answer["headers"] = status, headers

        for _ in self.protocol(environ, start_response):
            pass
        return answer.get("status", "500 Internal Server Error"), answer.get("headers", [])

    async def authenticate(self, scope: dict, request_id: str) -> Context:
        """The caller's Context from its token; raises ``Rejection`` (401, 503) otherwise."""
        key = _token_key(scope)
        known = self.memo.get(key)
        if known is not None:
            return dataclasses.replace(known, request_id=request_id)
        environ = wsgi_environ(scope)
        status, headers = await asyncio.to_thread(self._validate, environ)
        if environ.get("quark.authenticated"):
            ctx = context_from_environ(environ, request_id)
            if ctx is not None:
                self.memo.put(key, ctx, environ)
                return ctx
            code = 401  # delay_auth_decision: an unconfirmed caller reached the app
        else:
            code = int(status.split()[0])
        if code == 401:
            kept = [(k.lower().encode(), v.encode()) for k, v in headers if k.lower() == "www-authenticate"]
            if not kept:
                kept = [(b"www-authenticate", f'Keystone uri="{self.protocol.www_authenticate_uri}"'.encode())]
            raise Rejection(401, kept, error_body("HTTPUnauthorized", UNAUTHORIZED_MESSAGE))
        LOG.warning("auth_token answered %s", status)
        raise Rejection(
            code if code >= 500 else 503,
            [],
            error_body("ServiceUnavailable", "The identity service could not validate the token; try again later."),
        )


def wsgi_environ(scope: dict) -> dict[str, Any]:
    """A WSGI environ with only what auth_token needs: the method, the path, the tokens."""
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.get("method", "GET"),
        "SCRIPT_NAME": "",
        "PATH_INFO": scope.get("path", "/"),
        "QUERY_STRING": "",
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in scope.get("headers", ()):
        key = TOKEN_HEADERS.get(name.lower())
        if key is not None:
            environ[key] = value.decode("latin-1")
    return environ
