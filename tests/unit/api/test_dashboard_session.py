"""The dashboard's cookie rules (quark/api/dashboard/session.py): which token a
request carries, where a login may send the browser, and the cookie's flags."""

from __future__ import annotations

from quark.api.dashboard import session


def test_the_cookie_becomes_the_token_header_unless_a_header_is_sent():
    cookie = (b"cookie", b"theme=dark; quark_dashboard_token=tok123; other=1")
    assert session.with_cookie_token([cookie]) == [cookie, (b"x-auth-token", b"tok123")]
    sent = [cookie, (b"X-Auth-Token", b"header")]
    assert session.with_cookie_token(sent) == sent
    assert session.with_cookie_token([(b"cookie", b"quark_dashboard_token=")]) == [
        (b"cookie", b"quark_dashboard_token=")
    ]
    assert session.cookie_token([(b"cookie", b"xquark_dashboard_token=no")]) is None


def test_only_dashboard_paths_are_dashboard_paths():
    assert session.is_dashboard("/dashboard") and session.is_dashboard("/dashboard/hosts")
    assert not session.is_dashboard("/dashboardx") and not session.is_dashboard("/v2.0/dashboard")


def test_a_login_only_returns_to_a_dashboard_page():
    assert session.safe_next("/dashboard/jobs?status=failed") == "/dashboard/jobs?status=failed"
    for bad in ("https://evil.example/", "//evil.example/dashboard", "/v2.0/networks", None, ""):
        assert session.safe_next(bad) == "/dashboard"


def test_the_cookie_is_httponly_strict_and_secure_but_on_loopback_http():
    header = session.cookie_header("tok", secure=True)
    assert header == "quark_dashboard_token=tok; Path=/dashboard; HttpOnly; SameSite=Strict; Secure"
    assert "Secure" not in session.cookie_header("tok", secure=False)
    assert session.secure_cookie("https", "127.0.0.1")
    assert session.secure_cookie("http", "quark.example.org")
    assert not session.secure_cookie("http", "127.0.0.1")
    assert "Max-Age=0" in session.cleared_cookie_header()


def test_keystone_url_prefers_the_public_one():
    assert session.keystone_url({"auth_url": "http://a/v3", "www_authenticate_uri": "http://w/v3"}) == "http://w/v3"
    assert session.keystone_url({"auth_url": "http://a/v3"}) == "http://a/v3"
    assert session.keystone_url({}) is None
