"""The dashboard's login where Keystone authenticates (``auth_strategy = "keystone"``).

The login form (``/dashboard/login``) asks Keystone for a project-scoped token
with a username, a password and a project (keystoneauth1's v3 password
plugin, against the ``[keystone_authtoken]`` table's ``www_authenticate_uri``
or ``auth_url``), or takes a token the user already has, and keeps it in the
``quark_dashboard_token`` cookie: HttpOnly (no script reads it), SameSite=Strict,
Path=/dashboard (the API never honours it: an API call needs its header, so
the cookie cannot be used to forge one), and Secure but for plain HTTP to a
loopback address (a test or a local try-out). On every dashboard request the
middleware hands the cookie's token to auth_token exactly as an
``X-Auth-Token`` header: the same validation, the same policy as the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

PREFIX = "/dashboard"
COOKIE = "quark_dashboard_token"
LOGIN = f"{PREFIX}/login"
# Reached without a token.
PUBLIC = frozenset({LOGIN})
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def is_dashboard(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def cookie_token(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The token the dashboard's cookie carries, if any."""
    for name, value in headers:
        if name.lower() != b"cookie":
            continue
        for part in value.split(b";"):
            key, _, token = part.strip().partition(b"=")
            if key == COOKIE.encode() and token:
                return token
    return None


def with_cookie_token(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The request's headers with the cookie's token as ``X-Auth-Token`` (a header sent wins)."""
    if any(name.lower() == b"x-auth-token" for name, _ in headers):
        return headers
    token = cookie_token(headers)
    return headers if token is None else [*headers, (b"x-auth-token", token)]


def secure_cookie(scheme: str, host: str) -> bool:
    return not (scheme == "http" and host in LOOPBACK)


def cookie_header(token: str, secure: bool) -> str:
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={token}; Path={PREFIX}; HttpOnly; SameSite=Strict{flags}"


def cleared_cookie_header() -> str:
    return f"{COOKIE}=; Path={PREFIX}; HttpOnly; SameSite=Strict; Max-Age=0"


def login_location(path: str) -> str:
    return f"{LOGIN}?next={quote(path)}"


def safe_next(value: str | None) -> str:
    """Where to go after the login: a dashboard path only (never another site)."""
    if value and is_dashboard(value) and not value.startswith("//"):
        return value
    return PREFIX


def keystone_url(table: Mapping[str, Any]) -> str | None:
    return table.get("www_authenticate_uri") or table.get("auth_url") or table.get("auth_uri")


async def password_token(auth_url: str, form: Mapping[str, str]) -> str:
    """A project-scoped token for the form's user (keystoneauth1 in a thread: it blocks).
    Raises keystoneauth1's ``Unauthorized`` when Keystone refuses."""
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    domain = form.get("domain") or "Default"
    auth = v3.Password(
        auth_url=auth_url,
        username=form.get("username", ""),
        password=form.get("password", ""),
        project_name=form.get("project", ""),
        user_domain_name=domain,
        project_domain_name=domain,
    )
    return await asyncio.to_thread(lambda: str(ks_session.Session(auth=auth).get_token()))
