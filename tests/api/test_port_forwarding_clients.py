"""Port forwardings through the unmodified clients: openstacksdk
(``conn.network.create_floating_ip_port_forwarding`` …) on every database, and
the ``openstack floating ip port forwarding`` commands of python-openstackclient."""

from __future__ import annotations

import uuid

import pytest
from openstack import exceptions as sdk_exc

from tests.api.test_openstack_cli import osc, osc_failure, osc_json
from tests.api.test_port_forwardings import build_world
from tests.api.test_sdk_workflows import connect


@pytest.fixture
def world(admin, tenant):
    return build_world(admin, tenant, 180 + uuid.uuid4().int % 40)


def test_openstacksdk(api_server, tenant, world):
    conn = connect(api_server.url, tenant.project_id)
    fip_id, port_id = world.fip["id"], world.port["id"]
    pf = conn.network.create_floating_ip_port_forwarding(
        fip_id,
        internal_port_id=port_id,
        internal_ip_address=world.address,
        internal_port=22,
        external_port=2022,
        protocol="tcp",
        description="ssh",
    )
    assert (pf.external_port, pf.internal_port, pf.protocol, pf.description) == (2022, 22, "tcp", "ssh")
    ranged = conn.network.create_floating_ip_port_forwarding(
        fip_id,
        internal_port_id=port_id,
        internal_ip_address=world.address,
        internal_port_range="8000:8009",
        external_port_range="9000:9009",
        protocol="udp",
    )
    assert (ranged.external_port_range, ranged.internal_port_range) == ("9000:9009", "8000:8009")
    got = conn.network.get_floating_ip_port_forwarding(fip_id, pf.id)
    assert (got.internal_port_id, got.internal_ip_address) == (port_id, world.address)
    listed = list(conn.network.floating_ip_port_forwardings(fip_id, protocol="tcp"))
    assert [p.id for p in listed] == [pf.id]
    paged = list(conn.network.floating_ip_port_forwardings(fip_id, limit=1, sort_key="external_port_range"))
    assert sorted(p.id for p in paged) == sorted([pf.id, ranged.id])  # the SDK followed the next link
    updated = conn.network.update_floating_ip_port_forwarding(fip_id, pf.id, external_port=2023)
    assert updated.external_port == 2023
    fip = conn.network.get_ip(fip_id)
    assert fip.router_id == world.router["id"]
    assert sorted(p["id"] for p in fip.port_forwardings) == sorted([pf.id, ranged.id])
    with pytest.raises(sdk_exc.BadRequestException):
        conn.network.create_floating_ip_port_forwarding(
            fip_id,
            internal_port_id=port_id,
            internal_ip_address=world.address,
            internal_port=24,
            external_port=2023,
            protocol="tcp",
        )
    with pytest.raises(sdk_exc.ConflictException):
        conn.network.delete_ip(fip_id)
    conn.network.delete_floating_ip_port_forwarding(fip_id, pf.id, ignore_missing=False)
    conn.network.delete_floating_ip_port_forwarding(fip_id, ranged.id, ignore_missing=False)
    with pytest.raises(sdk_exc.NotFoundException):
        conn.network.get_floating_ip_port_forwarding(fip_id, pf.id)
    assert conn.network.get_ip(fip_id).router_id is None


def test_openstack_cli(api_server, world):
    # The CLI speaks HTTP only: one run, on the first backend's server, covers it (~2 s a command).
    if api_server.database_url != _first_database(api_server):
        pytest.skip("the CLI walkthrough runs against one backend's server")
    fip = world.fip["floating_ip_address"]
    pf = osc_json(
        api_server,
        *("floating", "ip", "port", "forwarding", "create"),
        *("--internal-ip-address", world.address, "--port", world.port["id"]),
        *("--internal-protocol-port", "22", "--external-protocol-port", "2122", "--protocol", "tcp"),
        *("--description", "cli", world.fip["id"]),
    )
    assert (pf["external_port"], pf["internal_port"], pf["description"]) == (2122, 22, "cli")
    listed = osc_json(api_server, "floating", "ip", "port", "forwarding", "list", fip)
    assert [row["ID"] for row in listed] == [pf["id"]]
    osc(api_server, "floating", "ip", "port", "forwarding", "set", "--external-protocol-port", "2123", fip, pf["id"])
    shown = osc_json(api_server, "floating", "ip", "port", "forwarding", "show", fip, pf["id"])
    assert shown["external_port"] == 2123
    failure = osc_failure(api_server, "floating", "ip", "delete", world.fip["id"])
    assert (409, "FipInUseByPortForwarding") in failure.answered("DELETE", world.fip["id"])
    osc(api_server, "floating", "ip", "port", "forwarding", "delete", fip, pf["id"])
    assert osc_json(api_server, "floating", "ip", "port", "forwarding", "list", fip) == []


_FIRST: dict[str, str] = {}


def _first_database(server) -> str:
    return _FIRST.setdefault("database", server.database_url)
