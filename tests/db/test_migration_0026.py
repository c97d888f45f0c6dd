"""Migration 0026 (segments) on every database: each network made before it
gets its first segment as a row, with the id new networks get
(``primary_segment_id``), its type, physical network, id and key; a network
without a segment (made before 0005) gets none."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest
from sqlalchemy import insert, select

from quark.db import migrate, models, segment_models
from quark.db.engine import Database
from quark.services.core.segment_rules import primary_segment_id
from tests.dbs import create_database, selected_backends

AT = datetime(2026, 1, 1)
# (network_type, physical_network, segmentation_id, segment_key)
KINDS = [
    ("vlan", "physnet1", 100, "vlan:physnet1:100"),
    ("flat", "physnet2", None, "flat:physnet2:"),
    ("vxlan", None, 5001, "vxlan::5001"),
    (None, None, None, None),
]


async def _seed(url: str) -> list[str]:
    db = Database(url)
    ids = []
    try:
        async with db.write() as conn:
            for network_type, physnet, seg_id, key in KINDS:
                network_id = str(uuid.uuid4())
                ids.append(network_id)
                await conn.execute(
                    insert(models.networks).values(
                        id=network_id, project_id="p", name="n", admin_state_up=True, status="ACTIVE",
                        shared=False, router_external=False, mtu=1450, port_security_enabled=True,
                        network_type=network_type, physical_network=physnet, segmentation_id=seg_id,
                        segment_key=key, dns_domain="", availability_zone_hints=[], ipam_strategy="NEUTRON",
                        description="", created_at=AT, updated_at=AT, revision_number=3,
                    )
                )  # fmt: skip
    finally:
        await db.dispose()
    return ids


async def _read(url: str) -> list:
    db = Database(url)
    try:
        async with db.read() as conn:
            seg = segment_models.network_segments
            return list(await conn.execute(select(seg)))
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", selected_backends())
def test_migration_0026_gives_every_network_its_first_segment(backend, tmp_path_factory):
    url, drop = create_database(backend, tmp_path_factory)
    try:
        migrate.upgrade(url, "0025_external_allocations")
        ids = asyncio.run(_seed(url))
        migrate.upgrade(url)
        rows = {row.network_id: row for row in asyncio.run(_read(url))}
        assert set(rows) == set(ids[:3])  # the network without a segment has none
        for network_id, (network_type, physnet, seg_id, key) in zip(ids[:3], KINDS[:3]):
            row = rows[network_id]
            assert row.id == primary_segment_id(network_id)
            assert (row.network_type, row.physical_network, row.segmentation_id, row.segment_key) == (
                network_type,
                physnet,
                seg_id,
                key,
            )
            assert (row.segment_index, row.name, row.description, row.revision_number) == (0, None, "", 0)
            assert row.created_at == row.updated_at == AT
    finally:
        drop()
