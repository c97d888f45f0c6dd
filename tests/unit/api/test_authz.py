"""The policy as the API applies it: create, show, list, update, delete, the
fields a response shows, and when a parent's facts are loaded."""

from __future__ import annotations

import pytest

from quark import errors
from quark.api import authz as authz_module
from quark.api.authz import Authorizer
from quark.api.definitions.core import NETWORK, PORT
from quark.api.definitions.dataplane import AGENT
from quark.context import Context
from quark.policy import Policy

POLICY = Policy("")
MEMBER = Context(project_id="p1", roles=frozenset({"member", "reader"}))
READER = Context(project_id="p1", roles=frozenset({"reader"}))
SERVICE = Context(project_id="svc", roles=frozenset({"service"}))
ADMIN = Context.admin()


class FakeNetworks:
    def __init__(self, networks: dict[str, dict]) -> None:
        self.networks = networks
        self.calls = 0

    async def facts(self, ids, names, ctx=None):
        self.calls += 1
        return {i: {n: self.networks[i][n] for n in names} for i in ids if i in self.networks}


class FakeServices:
    def __init__(self) -> None:
        self.networks = FakeNetworks(
            {
                "mine": {"project_id": "p1", "shared": False, "router:external": False},
                "shared": {"project_id": "p2", "shared": True, "router:external": False},
                "private": {"project_id": "p2", "shared": False, "router:external": False},
            }
        )


@pytest.fixture(autouse=True)
def forget_owners():
    """The owners remembered across requests start empty in every test."""
    authz_module._OWNERS.clear()
    yield
    authz_module._OWNERS.clear()


def authz(ctx: Context) -> Authorizer:
    return Authorizer(POLICY, ctx, FakeServices())


async def test_member_may_not_set_admin_attributes():
    with pytest.raises(errors.PolicyNotAuthorized) as caught:
        await authz(MEMBER).create(NETWORK, [{"name": "n", "shared": True}])
    assert caught.value.msg == "(rule:create_network:shared) is disallowed by policy."
    await authz(MEMBER).create(NETWORK, [{"name": "n", "shared": False}])  # the default is not checked


async def test_reader_cannot_create():
    with pytest.raises(errors.PolicyNotAuthorized) as caught:
        await authz(READER).create(NETWORK, [{"name": "n"}])
    assert "rule:create_network)" in caught.value.msg


async def test_port_create_loads_the_network_only_when_needed():
    admin = authz(ADMIN)
    await admin.create(PORT, [{"network_id": "private"}])
    assert admin.services.networks.calls == 0
    member = authz(MEMBER)
    await member.create(PORT, [{"network_id": "mine", "mac_address": "fa:16:3e:00:00:01"}])
    await member.create(PORT, [{"network_id": "shared"}])
    assert member.services.networks.calls == 2  # once per network, then known for the request
    # The next request on its own network decides from the remembered owner alone...
    again = authz(MEMBER)
    await again.create(PORT, [{"network_id": "mine", "mac_address": "fa:16:3e:00:00:02"}])
    assert again.services.networks.calls == 0
    # ...but on someone else's shared network still reads whether it is shared.
    await again.create(PORT, [{"network_id": "shared"}])
    assert again.services.networks.calls == 1


async def test_shared_network_port_security_and_pairs_are_the_owner_s():
    for attrs, rule in (
        ({"port_security_enabled": False}, "create_port:port_security_enabled"),
        ({"allowed_address_pairs": [{"ip_address": "10.0.0.9"}]}, "create_port:allowed_address_pairs"),
        ({"fixed_ips": [{"ip_address": "10.0.0.9"}]}, "create_port:fixed_ips:ip_address"),
    ):
        with pytest.raises(errors.PolicyNotAuthorized) as caught:
            await authz(MEMBER).create(PORT, [{"network_id": "shared", **attrs}])
        assert rule in caught.value.msg
        await authz(MEMBER).create(PORT, [{"network_id": "mine", **attrs}])


async def test_invisible_or_missing_network_answers_not_found():
    for network in ("private", "nowhere"):
        with pytest.raises(errors.NetworkNotFound):
            await authz(MEMBER).create(PORT, [{"network_id": network}])


async def test_binding_is_the_service_s():
    await authz(SERVICE).create(PORT, [{"network_id": "private", "binding:host_id": "h1", "binding:profile": {"a": 1}}])
    with pytest.raises(errors.PolicyNotAuthorized):
        await authz(MEMBER).create(PORT, [{"network_id": "mine", "binding:host_id": "h1"}])


async def test_responses_hide_attributes_by_get_rules():
    port = {"id": "x", "project_id": "p1", "network_id": "mine", "binding:host_id": "h", "binding:vif_type": "ovs"}
    assert "binding:host_id" not in authz(MEMBER).strip(PORT, port)
    assert authz(SERVICE).strip(PORT, port) == port
    network = {"id": "n", "project_id": "p1", "provider:network_type": "vxlan", "shared": False}
    assert "provider:network_type" not in authz(MEMBER).strip(NETWORK, network)
    assert "provider:network_type" in authz(ADMIN).strip(NETWORK, network)


async def test_lists_keep_what_get_allows():
    ports = [
        {"id": "own", "project_id": "p1", "network_id": "private"},
        {"id": "on-my-network", "project_id": "p3", "network_id": "mine"},
        {"id": "foreign", "project_id": "p3", "network_id": "private"},
    ]
    member = authz(MEMBER)
    assert [p["id"] for p in await member.visible(PORT, ports)] == ["own", "on-my-network"]
    assert "network:project_id" not in ports[1]  # the facts stay out of the objects shown
    assert member.refuses_all(AGENT) and not authz(ADMIN).refuses_all(AGENT)


async def test_update_and_delete_answer_403_when_visible_else_404():
    shared = {"id": "s", "project_id": "p2", "shared": True}
    private = {"id": "q", "project_id": "p2", "shared": False}
    missing = errors.NetworkNotFound(net_id="x")
    with pytest.raises(errors.PolicyNotAuthorized):
        await authz(MEMBER).change(NETWORK, "delete", shared, {}, missing)
    with pytest.raises(errors.NetworkNotFound):
        await authz(MEMBER).change(NETWORK, "update", private, {"name": "x"}, missing)
    with pytest.raises(errors.PolicyNotAuthorized) as caught:
        await authz(MEMBER).change(NETWORK, "update", {"id": "m", "project_id": "p1"}, {"shared": True}, missing)
    assert "update_network:shared" in caught.value.msg


async def test_nested_subnets_are_checked_as_subnet_creates():
    nested = {"name": "n", "subnets": [{"ip_version": 4, "cidr": "10.0.0.0/24", "segment_id": "seg"}]}
    with pytest.raises(errors.PolicyNotAuthorized) as caught:
        await authz(MEMBER).create(NETWORK, [nested])
    assert "create_subnet:segment_id" in caught.value.msg
    await authz(MEMBER).create(NETWORK, [{"name": "n", "subnets": [{"ip_version": 4, "cidr": "10.0.0.0/24"}]}])
    await authz(ADMIN).create(NETWORK, [nested])
