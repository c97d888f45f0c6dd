"""The policy engine: Neutron's defaults for each persona, Quark's custom checks,
the rule analysis the API layer relies on, and an operator's file."""

from __future__ import annotations

import os
import time

import pytest

from quark.context import Context
from quark.policy import Parent, Policy
from quark.policy import engine as engine_module
from quark.policy.defaults import all_rules


def persona(*roles: str, project: str = "p1") -> dict:
    implied = set(roles)
    if "admin" in implied:
        implied |= {"manager", "member", "reader"}
    if "manager" in implied:
        implied |= {"member", "reader"}
    if "member" in implied:
        implied.add("reader")
    return Context(project_id=project, roles=frozenset(implied), is_admin="admin" in implied).policy_credentials()


ADMIN, MANAGER, MEMBER, READER, SERVICE = (persona(r) for r in ("admin", "manager", "member", "reader", "service"))
OTHER = persona("member", project="p2")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy("")


def test_rule_names_are_unique_and_every_reference_is_defined(policy):
    names = [r.name for r in all_rules()]
    assert len(names) == len(set(names))
    assert policy.enforcer.check_rules(raise_on_violation=True)


@pytest.mark.parametrize(
    ("rule", "creds", "target", "expected"),
    [
        ("create_network", MEMBER, {"project_id": "p1"}, True),
        ("create_network", READER, {"project_id": "p1"}, False),
        ("create_network", OTHER, {"project_id": "p1"}, False),
        ("create_network:shared", MEMBER, {"project_id": "p1"}, False),
        ("create_network:shared", ADMIN, {"project_id": "p1"}, True),
        ("get_network", READER, {"project_id": "p1", "shared": False}, True),
        ("get_network", OTHER, {"project_id": "p1", "shared": False}, False),
        ("get_network", OTHER, {"project_id": "p1", "shared": True}, True),
        ("get_network", OTHER, {"project_id": "p1", "router:external": True}, True),
        ("get_network:provider:network_type", MEMBER, {"project_id": "p1"}, False),
        ("get_network:provider:network_type", ADMIN, {"project_id": "p1"}, True),
        ("create_port:binding:host_id", SERVICE, {"project_id": "p1"}, True),
        ("create_port:binding:host_id", MEMBER, {"project_id": "p1"}, False),
        ("create_port:binding:profile", SERVICE, {"project_id": "p1"}, True),
        ("create_port:binding:profile", ADMIN, {"project_id": "p1"}, False),
        ("get_port:binding:vif_type", MEMBER, {"project_id": "p1"}, False),
        ("get_port:binding:vif_type", SERVICE, {"project_id": "p1"}, True),
        ("update_port:mac_address", MEMBER, {"project_id": "p1", "network:project_id": "p1"}, False),
        ("update_port:mac_address", MANAGER, {"project_id": "p1", "network:project_id": "p1"}, True),
        ("get_agent", MEMBER, {}, False),
        ("get_agent", ADMIN, {}, True),
        ("get_desired_state", SERVICE, {"project_id": "p1"}, True),
        ("get_desired_state", MEMBER, {"project_id": "p1"}, False),
        ("create_mac_address_range", MEMBER, {"project_id": "p1"}, False),
    ],
)
def test_defaults_by_persona(policy, rule, creds, target, expected):
    assert policy.check(rule, target, creds) is expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"network_id": "n", "network:project_id": "p1", "network:shared": False}, True),
        ({"network_id": "n", "network:project_id": "p2", "network:shared": True}, True),
        ({"network_id": "n", "network:project_id": "p2", "network:shared": False}, False),
        ({"network_id": "n"}, False),
    ],
)
def test_owner_and_field_checks_read_the_parent_network(policy, target, expected):
    assert policy.check("create_port", {"project_id": "p1", **target}, MEMBER) is expected


def test_a_member_may_not_change_port_security_on_a_shared_network_it_does_not_own(policy):
    others = {"project_id": "p1", "network:project_id": "p2", "network:shared": True}
    assert policy.check("create_port", others, MEMBER)
    assert not policy.check("create_port:port_security_enabled", others, MEMBER)
    assert not policy.check("create_port:allowed_address_pairs", others, MEMBER)
    assert policy.check("create_port:port_security_enabled", {**others, "network:project_id": "p1"}, MEMBER)


def test_device_owner_regex_field_check(policy):
    assert not policy.check(
        "create_port:device_owner", {"device_owner": "network:dhcp", "network:project_id": "p2"}, MEMBER
    )
    assert policy.check(
        "create_port:device_owner", {"device_owner": "network:dhcp", "network:project_id": "p1"}, MEMBER
    )
    assert policy.check(
        "create_port:device_owner", {"device_owner": "compute:nova", "network:project_id": "p2"}, MEMBER
    )


def test_system_scoped_credentials_fail_project_scoped_rules(policy):
    system = Context(project_id="", roles=frozenset({"admin"}), is_admin=True, system_scope="all")
    assert not policy.check("create_network", {}, system.policy_credentials())


def test_context_is_admin(policy):
    assert policy.is_admin(Context(project_id="p", roles=frozenset({"admin"})))
    assert not policy.is_admin(Context(project_id="p", roles=frozenset({"member"}), is_admin=True))


def test_analysis_of_rules(policy):
    assert policy.target_free("get_port:binding:host_id")
    assert not policy.target_free("get_port")
    assert policy.parent_use("create_port") is Parent.MONOTONE
    assert policy.parent_use("get_security_group") is Parent.NONE
    assert policy.parent_use("get_agent") is Parent.NONE


def test_policy_file_overrides_and_is_reloaded_on_change(tmp_path, monkeypatch):
    monkeypatch.setattr(engine_module, "RECHECK", 0.0)
    path = tmp_path / "policy.yaml"
    path.write_text('"create_network": "role:admin"\n')
    policy = Policy(str(path))
    assert not policy.check("create_network", {"project_id": "p1"}, MEMBER)
    assert policy.check("create_network", {"project_id": "p1"}, ADMIN)
    assert not policy.check("get_agent", {}, MEMBER)  # the defaults still stand beside the file
    path.write_text('"create_network": "role:member"\n"get_agent": "role:reader"\n')
    later = time.time() + 5
    os.utime(path, (later, later))
    assert policy.check("create_network", {"project_id": "p1"}, MEMBER)
    assert policy.check("get_agent", {}, READER)
    assert not policy.target_free("get_agent") or policy.check("get_agent", {}, MEMBER)


def test_a_negated_parent_reference_needs_the_parent(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text('"get_port": "not rule:network_owner"\n')
    policy = Policy(str(path))
    assert policy.parent_use("get_port") is Parent.ANY
