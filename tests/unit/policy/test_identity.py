"""The header identity (noauth) runs through the same policy as a token: the
implied roles a Keystone token would carry, ``is_admin`` from ``context_is_admin``;
and the ``quark policy`` commands."""

from __future__ import annotations

from typer.testing import CliRunner

from quark.api.middleware import context_from_headers
from quark.cli.main import app
from quark.policy import Policy
from quark.policy.sample import sample


def test_header_roles_get_keystone_s_implied_roles():
    member = context_from_headers({b"x-project-id": b"p", b"x-roles": b"Member"}, "r")
    assert member.roles == {"member", "reader"} and not member.is_admin
    manager = context_from_headers({b"x-project-id": b"p", b"x-roles": b"manager"}, "r")
    assert manager.roles == {"manager", "member", "reader"}
    nobody = context_from_headers({b"x-project-id": b"p"}, "r")
    assert nobody.roles == frozenset() and not Policy("").check(
        "get_network", {"project_id": "p"}, nobody.policy_credentials()
    )
    noauth_admin = context_from_headers({}, "r")
    assert noauth_admin.is_admin and {"admin", "member", "reader"} <= noauth_admin.roles


def test_is_admin_follows_context_is_admin(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text('"context_is_admin": "role:cloud_admin"\n')
    policy = Policy(str(path))
    assert not policy.is_admin(context_from_headers({b"x-project-id": b"p", b"x-roles": b"admin"}, "r"))
    assert policy.is_admin(context_from_headers({b"x-project-id": b"p", b"x-roles": b"cloud_admin"}, "r"))


def test_policy_commands(tmp_path):
    runner = CliRunner()
    printed = runner.invoke(app, ["policy", "sample"])
    assert printed.exit_code == 0 and printed.stdout == sample()
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text('"create_network": "rule:admin_only"\n')
    bad.write_text('"create_network": "rule:no_such_rule"\n')
    for path, code in ((good, 0), (bad, 1)):
        config = tmp_path / f"{path.stem}.toml"
        config.write_text(f'[quark]\npolicy_file = "{path}"\n')
        assert runner.invoke(app, ["policy", "check", "--config", str(config)]).exit_code == code, path
