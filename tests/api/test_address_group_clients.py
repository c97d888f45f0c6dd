"""Address groups through the unmodified clients: openstacksdk on every
database (create, add/remove addresses, the errors it raises, a rule naming
the group) and the ``openstack`` CLI once (``address group create/set/unset``,
``--address``)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from openstack import exceptions as sdk_exc

from tests.api.test_openstack_cli import osc, osc_json
from tests.api.test_sdk_workflows import connect
from tests.dbs import selected_backends


@pytest.fixture(scope="module")
def dana(api_server):
    return connect(api_server.url, f"dana-{uuid.uuid4().hex[:6]}")


def test_sdk_address_groups(dana):
    net = dana.network
    group = net.create_address_group(name="sdk-ag", addresses=["10.70.0.9/24"], description="web admins")
    assert group.addresses == ["10.70.0.0/24"] and group.description == "web admins"
    grown = net.add_addresses_to_address_group(group, ["10.71.0.0/24", "2001:db8:70::/64"])
    assert grown.addresses == ["10.70.0.0/24", "10.71.0.0/24", "2001:db8:70::/64"]
    with pytest.raises(sdk_exc.BadRequestException):
        net.add_addresses_to_address_group(group, ["10.71.0.0/24"])
    with pytest.raises(sdk_exc.NotFoundException):
        net.remove_addresses_from_address_group(group, ["10.99.0.0/24"])
    shrunk = net.remove_addresses_from_address_group(group, ["10.70.0.0/24"])
    assert shrunk.addresses == ["10.71.0.0/24", "2001:db8:70::/64"]
    assert net.get_address_group(group.id).addresses == shrunk.addresses
    assert group.id in {g.id for g in net.address_groups(name="sdk-ag")}
    sg = net.create_security_group(name="sdk-ag-sg")
    rule = net.create_security_group_rule(
        security_group_id=sg.id, direction="ingress", ethertype="IPv4", remote_address_group_id=group.id
    )
    assert rule.remote_address_group_id == group.id
    with pytest.raises(sdk_exc.ConflictException):
        net.delete_address_group(group)
    net.delete_security_group_rule(rule)
    net.delete_address_group(group)
    with pytest.raises(sdk_exc.NotFoundException):
        net.get_address_group(group.id)


def test_openstack_cli_address_groups(api_server, request):
    # The CLI is slow to start (seconds a command); its requests are openstacksdk's,
    # which the test above runs on every database: once, on the first.
    if request.node.callspec.params["api_server"] != selected_backends()[0]:
        pytest.skip("the CLI runs on the first selected backend; the SDK test covers every database")
    name = f"cli-ag-{uuid.uuid4().hex[:8]}"
    made = osc_json(
        api_server, "address", "group", "create", "--address", "10.72.0.1", "--address", "10.73.0.0/16", name
    )
    assert sorted(made["addresses"]) == ["10.72.0.1/32", "10.73.0.0/16"]
    osc(api_server, "address", "group", "set", "--address", "10.74.0.0/24", "--name", f"{name}-b", made["id"])
    osc(api_server, "address", "group", "unset", "--address", "10.72.0.1", made["id"])
    with httpx.Client(base_url=api_server.url) as admin:  # what the CLI is not under test for: plain HTTP
        shown = admin.get(f"/v2.0/address-groups/{made['id']}").json()["address_group"]
    assert shown["addresses"] == ["10.73.0.0/16", "10.74.0.0/24"] and shown["name"] == f"{name}-b"
