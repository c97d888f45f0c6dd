"""Migration 0030 (segment host mappings) on every database: the segments of
physical networks are mapped to the hosts whose agents report those physical
networks in their bridge (interface, device) mappings at upgrade; segments
without a physical network, and agents without mappings, map nothing; routers
get a NULL ``flavor_id``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest
from sqlalchemy import column, insert, select, table

from quark.db import l3_models, migrate, models, segment_models
from quark.db.engine import Database
from tests.dbs import create_database, selected_backends

AT = datetime(2026, 1, 1)
# (network_type, physical_network, segmentation_id, segment_key)
SEGMENTS = [
    ("vlan", "rack1", 100, "vlan:rack1:100"),
    ("flat", "rack2", None, "flat:rack2:"),
    ("vxlan", None, 5001, "vxlan::5001"),
]
# host -> configurations
AGENTS = {
    "h1": {"bridge_mappings": {"rack1": "eth1"}},
    "h2": {"interface_mappings": {"rack1": "eth1", "rack2": "eth2"}},
    "h3": {"tunnel_types": ["vxlan"]},
}


async def _seed(url: str) -> tuple[list[str], str]:
    db = Database(url)
    segment_ids = []
    router_id = str(uuid.uuid4())
    try:
        async with db.write() as conn:
            network_id = str(uuid.uuid4())
            await conn.execute(
                insert(models.networks).values(
                    id=network_id, project_id="p", name="n", admin_state_up=True, status="ACTIVE",
                    shared=False, router_external=False, mtu=1450, port_security_enabled=True,
                    network_type="vlan", physical_network="rack1", segmentation_id=100,
                    segment_key="vlan:rack1:100", dns_domain="", availability_zone_hints=[], ipam_strategy="NEUTRON",
                    description="", created_at=AT, updated_at=AT, revision_number=0,
                )
            )  # fmt: skip
            for index, (network_type, physnet, seg_id, key) in enumerate(SEGMENTS):
                segment_id = str(uuid.uuid4())
                segment_ids.append(segment_id)
                await conn.execute(
                    insert(segment_models.network_segments).values(
                        id=segment_id, network_id=network_id, name=None, network_type=network_type,
                        physical_network=physnet, segmentation_id=seg_id, segment_key=key, segment_index=index,
                        description="", created_at=AT, updated_at=AT, revision_number=0,
                    )
                )  # fmt: skip
            for host, configurations in AGENTS.items():
                await conn.execute(
                    insert(models.agents).values(
                        id=str(uuid.uuid4()), agent_type="Quark L2 agent", binary="", topic="", host=host,
                        admin_state_up=True, description="", configurations=configurations,
                        created_at=AT, started_at=AT, heartbeat_timestamp=AT,
                    )
                )  # fmt: skip
            values = dict(
                id=router_id, project_id="p", name="r", admin_state_up=True, status="ACTIVE", enable_snat=True,
                description="", created_at=AT, updated_at=AT, revision_number=0,
            )  # fmt: skip
            # Only the columns the routers table has before 0030 (the model has flavor_id).
            old_routers = table("routers", *(column(name) for name in values))
            await conn.execute(insert(old_routers).values(**values))
    finally:
        await db.dispose()
    return segment_ids, router_id


async def _read(url: str) -> tuple[set[tuple[str, str]], list]:
    db = Database(url)
    try:
        async with db.read() as conn:
            shm = segment_models.segment_host_mappings
            mapped = {(row.segment_id, row.host) for row in await conn.execute(select(shm))}
            flavors = list((await conn.execute(select(l3_models.routers.c.flavor_id))).scalars())
            return mapped, flavors
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", selected_backends())
def test_migration_0030_maps_segments_to_the_hosts_reporting_them(backend, tmp_path_factory):
    url, drop = create_database(backend, tmp_path_factory)
    try:
        migrate.upgrade(url, "0023_host_changes")
        (vlan, flat, _vxlan), _router = asyncio.run(_seed(url))
        migrate.upgrade(url)
        mapped, flavors = asyncio.run(_read(url))
        assert mapped == {(vlan, "h1"), (vlan, "h2"), (flat, "h2")}
        assert flavors == [None]
    finally:
        drop()
