"""The pieces of Keystone auth that need no Keystone: the [keystone_authtoken] and
[nova] tables in quark.toml and through the workers' environment, the identity
headers a client may not send, the Context from auth_token's headers."""

from __future__ import annotations

import os

import pytest

from quark.api.auth import context_from_environ, paste_conf, strip_identity_headers, wsgi_environ
from quark.config import Settings, load_settings

TOML = """
[quark]
auth_strategy = "keystone"
workers = 2

[keystone_authtoken]
www_authenticate_uri = "http://ks:5000"
auth_url = "http://ks:5000"
auth_type = "password"
username = "quark"
password = "secret"
memcached_servers = "127.0.0.1:11211"
service_token_roles_required = true

[nova]
auth_type = "password"
auth_url = "http://ks:5000"
username = "nova"
region_name = "RegionOne"
"""


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("QUARK_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_tables_are_read_and_travel_to_the_workers(clean_env, tmp_path):
    path = tmp_path / "quark.toml"
    path.write_text(TOML)
    settings = load_settings(str(path))
    assert settings.auth_strategy == "keystone"
    assert settings.keystone_authtoken["username"] == "quark"
    assert settings.keystone_authtoken["service_token_roles_required"] is True
    assert settings.nova == {
        "auth_type": "password",
        "auth_url": "http://ks:5000",
        "username": "nova",
        "region_name": "RegionOne",
    }
    # a worker has only the environment `quark serve` exported
    for name, value in settings.to_env().items():
        clean_env.setenv(name, value)
    assert load_settings() == settings


def test_top_level_tables_without_quark_table(clean_env, tmp_path):
    path = tmp_path / "quark.toml"
    path.write_text('auth_strategy = "keystone"\n[keystone_authtoken]\nauth_url = "http://ks"\n')
    assert load_settings(str(path)).keystone_authtoken == {"auth_url": "http://ks"}


def test_keystone_without_table_is_an_error(clean_env):
    clean_env.setenv("QUARK_AUTH_STRATEGY", "keystone")
    with pytest.raises(ValueError, match=r"\[keystone_authtoken\]"):
        load_settings()


def test_unknown_strategy_is_an_error(clean_env):
    clean_env.setenv("QUARK_AUTH_STRATEGY", "keystoen")
    with pytest.raises(ValueError, match="auth_strategy"):
        load_settings()


def test_noauth_allow_remote_from_env(clean_env):
    assert load_settings().noauth_allow_remote is False
    clean_env.setenv("QUARK_NOAUTH_ALLOW_REMOTE", "true")
    assert load_settings().noauth_allow_remote is True
    assert Settings(noauth_allow_remote=True).to_env()["QUARK_NOAUTH_ALLOW_REMOTE"] == "true"


def test_paste_conf_is_strings():
    assert paste_conf({"a": True, "b": 3, "c": ["x", "y"], "d": "s"}) == {"a": "true", "b": "3", "c": "x,y", "d": "s"}


def test_client_identity_headers_are_stripped():
    sent = [
        (b"x-auth-token", b"t"),
        (b"x-service-token", b"s"),
        (b"X-Project-Id", b"p"),
        (b"x-tenant-id", b"p"),
        (b"x-tenant", b"p"),
        (b"x-roles", b"admin"),
        (b"x-role", b"admin"),
        (b"x-user-id", b"u"),
        (b"x-user", b"u"),
        (b"x-identity-status", b"Confirmed"),
        (b"x-service-roles", b"service"),
        (b"x-service-identity-status", b"Confirmed"),
        (b"x-domain-id", b"d"),
        (b"x-system-scope", b"all"),
        (b"x-is-admin-project", b"True"),
        (b"content-type", b"application/json"),
        (b"x-openstack-request-id", b"req-1"),
    ]
    kept = strip_identity_headers(sent)
    assert kept == [
        (b"x-auth-token", b"t"),
        (b"x-service-token", b"s"),
        (b"content-type", b"application/json"),
        (b"x-openstack-request-id", b"req-1"),
    ]
    # the WSGI environ auth_token sees holds the tokens and nothing else of the client's
    environ = wsgi_environ({"method": "GET", "path": "/v2.0/ports", "headers": sent})
    assert {k for k in environ if k.startswith("HTTP_")} == {"HTTP_X_AUTH_TOKEN", "HTTP_X_SERVICE_TOKEN"}


def test_context_from_auth_token_headers():
    environ = {
        "HTTP_X_IDENTITY_STATUS": "Confirmed",
        "HTTP_X_USER_ID": "u1",
        "HTTP_X_PROJECT_ID": "p1",
        "HTTP_X_ROLES": "Member,reader",
        "HTTP_X_SERVICE_ROLES": "service",
        "HTTP_X_USER_DOMAIN_ID": "default",
        "HTTP_X_PROJECT_DOMAIN_ID": "default",
    }
    ctx = context_from_environ(environ, "req-1")
    assert ctx is not None
    assert (ctx.project_id, ctx.user_id, ctx.roles, ctx.is_admin) == (
        "p1",
        "u1",
        frozenset({"member", "reader"}),
        False,
    )
    assert ctx.service_roles == frozenset({"service"}) and ctx.user_domain_id == "default"
    system = context_from_environ(
        {"HTTP_X_IDENTITY_STATUS": "Confirmed", "HTTP_X_ROLES": "admin", "HTTP_X_SYSTEM_SCOPE": "all"}, "r"
    )
    assert system is not None and system.system_scope == "all" and system.project_id == "" and system.is_admin
    assert context_from_environ({**environ, "HTTP_X_IDENTITY_STATUS": "Invalid"}, "r") is None


class _Ref:
    def __init__(self, seconds: float) -> None:
        import datetime

        self.expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)


class _TokenAuth:
    def __init__(self, user: float, service: float | None = None) -> None:
        self.user = _Ref(user)
        self.service = _Ref(service) if service is not None else None


def test_token_memo_keeps_a_context_no_longer_than_allowed(monkeypatch):
    import time

    from quark.api.auth import TokenMemo
    from quark.context import Context

    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    ctx = Context(project_id="p1", roles=frozenset({"member"}))
    memo = TokenMemo(ttl=300)
    memo.put((b"t1", b""), ctx, {"keystone.token_auth": _TokenAuth(user=3600)})
    memo.put((b"t2", b""), ctx, {"keystone.token_auth": _TokenAuth(user=3600, service=10)})
    memo.put((b"t3", b""), ctx, {"keystone.token_auth": _TokenAuth(user=-5)})  # already expired
    memo.put((b"", b""), ctx, {"keystone.token_auth": _TokenAuth(user=3600)})  # no token: never
    assert memo.get((b"t1", b"")) is ctx and memo.get((b"t2", b"")) is ctx
    assert memo.get((b"t3", b"")) is None and memo.get((b"", b"")) is None
    assert memo.get((b"t1", b"other-service-token")) is None
    clock[0] += 11  # past the service token's expiry
    assert memo.get((b"t2", b"")) is None and memo.get((b"t1", b"")) is ctx
    clock[0] += 290  # past token_cache_time
    assert memo.get((b"t1", b"")) is None


def test_token_memo_off_and_bounded():
    from quark.api.auth import TokenMemo
    from quark.context import Context

    ctx = Context(project_id="p1")
    off = TokenMemo(ttl=-1)
    off.put((b"t", b""), ctx, {"keystone.token_auth": _TokenAuth(user=3600)})
    assert off.get((b"t", b"")) is None
    small = TokenMemo(ttl=300, size=10)
    for i in range(25):
        small.put((f"t{i}".encode(), b""), ctx, {"keystone.token_auth": _TokenAuth(user=3600)})
    assert len(small.entries) <= 10 and small.get((b"t24", b"")) is ctx and small.get((b"t0", b"")) is None


UNREACHABLE = {
    "www_authenticate_uri": "http://127.0.0.1:1",
    "auth_url": "http://127.0.0.1:1",
    "auth_type": "password",
    "username": "quark",
    "password": "p",
    "project_name": "service",
    "user_domain_name": "Default",
    "project_domain_name": "Default",
    "http_request_max_retries": 0,
}


async def test_keystone_down_is_503_and_no_token_is_401():
    from quark.api.auth import KeystoneAuth, Rejection

    auth = KeystoneAuth(UNREACHABLE)
    with pytest.raises(Rejection) as down:
        await auth.authenticate({"method": "GET", "path": "/v2.0/ports", "headers": [(b"x-auth-token", b"t")]}, "r")
    assert down.value.status == 503 and down.value.body["NeutronError"]["type"] == "ServiceUnavailable"
    with pytest.raises(Rejection) as missing:
        await auth.authenticate({"method": "GET", "path": "/v2.0/ports", "headers": []}, "r")
    assert missing.value.status == 401
    assert missing.value.headers == [(b"www-authenticate", b'Keystone uri="http://127.0.0.1:1"')]
