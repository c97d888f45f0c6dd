"""``quark orphans``: a world with one orphan of each kind beside a healthy
twin of each; the report names exactly the orphans, in every format."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import update

from quark.clock import utcnow
from quark.db import models
from quark.db.external_ipam_models import external_allocations
from quark.db.jobs_model import SUCCEEDED, jobs
from quark.services.registry import build_services
from tests.services.conftest import ADMIN


async def build(env) -> dict[str, str]:
    """The orphans by kind, and the healthy ids that must not show."""
    env.clock.now = utcnow().replace(microsecond=0)  # agents' reports are the services' clock's
    net, sub = await env.network_with_subnet("10.5.0.0/24")
    ids: dict[str, str] = {}
    # hosts: one never had an agent, one's agent went silent two days ago, one is alive
    ids["no_agent_port"] = (await env.port(net["id"], **{"binding:host_id": "gone-host"}))["id"]
    env.clock.advance(-2 * 86400)
    await env.report_l2("dead-host")
    env.clock.advance(2 * 86400)
    ids["dead_host_port"] = (await env.port(net["id"], **{"binding:host_id": "dead-host"}))["id"]
    await env.report_l2("live-host", tunnel_ip="192.0.2.2")
    ids["live_host_port"] = (await env.port(net["id"], **{"binding:host_id": "live-host"}))["id"]
    # a router with an interface (healthy) and a router port whose router row is gone
    router = await env.services.routers.create(ADMIN, {"name": "r"})
    ids["router_interface"] = (await env.services.routers.add_interface(ADMIN, router["id"], {"subnet_id": sub["id"]}))[
        "port_id"
    ]
    lost = (await env.port(net["id"]))["id"]
    ids["router_port_orphan"] = lost
    ids["fip_port_orphan"] = fip_port = (await env.port(net["id"]))["id"]
    # an address whose port row is gone (a crash between two writes, a manual delete)
    holder = (await env.port(net["id"]))["id"]
    ids["held_allocation_port"] = holder

    # an external IPAM system's allocations: one fresh, one sixty days old
    fresh, _ = await env.services.external_ipam.allocate({"holder": "neutron-port-1", "subnet_ids": [sub["id"]]})
    old, _ = await env.services.external_ipam.allocate({"holder": "neutron-port-2", "subnet_ids": [sub["id"]]})
    ids["fresh_external"], ids["old_external"] = fresh["ip_address"], old["ip_address"]

    async def damage(conn):
        p, a, x = models.ports, models.ip_allocations, external_allocations
        await conn.execute(
            update(p).where(p.c.id == lost).values(device_owner="network:router_interface", device_id=str(uuid.uuid4()))
        )
        await conn.execute(
            update(p).where(p.c.id == fip_port).values(device_owner="network:floatingip", device_id=str(uuid.uuid4()))
        )
        await conn.execute(update(a).where(a.c.port_id == holder).values(port_id=str(uuid.uuid4())))
        await conn.execute(
            update(x).where(x.c.holder == "neutron-port-2").values(created_at=utcnow() - timedelta(days=60))
        )

    await env.in_transaction(damage)
    return ids


def by_kind(findings: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in findings:
        out.setdefault(f["kind"], []).append(f)
    return out


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_orphans_found_and_nothing_else(world, fmt):
    ids = world.do(build)
    result = world.quark("orphans", "-f", fmt)
    assert result.exit_code == 1, result.output  # orphans found
    found = by_kind(world.parsed("orphans", fmt=fmt))
    assert sorted(f["id"] for f in found["port_on_dead_host"]) == sorted([ids["no_agent_port"], ids["dead_host_port"]])
    assert [f["id"] for f in found["port_without_router"]] == [ids["router_port_orphan"]]
    assert [f["id"] for f in found["port_without_floatingip"]] == [ids["fip_port_orphan"]]
    [lost] = found["allocation_without_port"]
    assert "held by missing port" in lost["detail"]
    [stale] = found["stale_external_allocation"]
    assert ids["old_external"] in stale["detail"] and "neutron-port-2" in stale["detail"]
    assert set(found) == {
        "port_without_floatingip",
        "port_on_dead_host",
        "port_without_router",
        "allocation_without_port",
        "stale_external_allocation",
    }
    # the healthy twins are not there
    every_id = {f["id"] for fs in found.values() for f in fs}
    assert ids["live_host_port"] not in every_id and ids["router_interface"] not in every_id


def test_orphans_thresholds_and_table(world):
    ids = world.do(build)
    # a host silent for two days is alive for a three-day threshold; a 90-day age clears the external one
    found = by_kind(world.parsed("orphans", "--dead-after", "72", "--external-days", "90", fmt="json"))
    assert [f["id"] for f in found["port_on_dead_host"]] == [ids["no_agent_port"]]
    assert "stale_external_allocation" not in found
    table = world.quark("orphans")
    assert table.exit_code == 1 and "port_without_router" in table.stdout and "Orphans (6)" in table.stdout


def test_a_healthy_world_has_no_orphans(world):
    async def healthy(env):
        env.clock.now = utcnow().replace(microsecond=0)
        net, sub = await env.network_with_subnet("10.6.0.0/24")
        await env.report_l2("live-host")
        await env.port(net["id"], **{"binding:host_id": "live-host"})
        router = await env.services.routers.create(ADMIN, {"name": "r"})
        await env.services.routers.add_interface(ADMIN, router["id"], {"subnet_id": sub["id"]})
        await env.services.external_ipam.allocate({"holder": "neutron-port-1", "subnet_ids": [sub["id"]]})
        public = await env.network(**{"router:external": True})
        await env.subnet(public["id"], "203.0.113.0/24")
        await env.services.floating_ips.create(
            ADMIN, {"floating_network_id": public["id"]}
        )  # its port: network:floatingip

    world.do(healthy)
    result = world.quark("orphans", "-f", "json")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "[]"


def test_drift_from_a_backend_is_reported(world, tmp_path, monkeypatch):
    """A network whose job succeeded but that the statefile backend does not hold
    (lost behind Quark's back): the backend sync's comparison reports it missing
    (a queued job would make it pending, not drift); --no-drift skips the backend."""
    backend = {"statefile": {"path": str(tmp_path / "backend.db")}}

    async def network(env):
        services = build_services(
            env.db, replace(env.settings, backend_driver="statefile", backend_driver_options=backend)
        )
        made = await services.networks.create(ADMIN, {"name": "unsynced"})
        await env.in_transaction(lambda conn: conn.execute(update(jobs).values(status=SUCCEEDED)))
        return made

    net = world.do(network)
    monkeypatch.setenv("QUARK_BACKEND_DRIVER", "statefile")
    monkeypatch.setenv("QUARK_BACKEND_DRIVER_OPTIONS", json.dumps(backend))
    found = world.parsed("orphans", fmt="json")
    assert [(f["kind"], f["id"]) for f in found] == [("drift_missing", net["id"])]
    assert "driver statefile: network missing" in found[0]["detail"]
    assert world.parsed("orphans", "--no-drift", fmt="json") == []
