"""Migration 0005 (dataplane) on every database: networks that already hold a
VLAN id or VNI get their segment allocation row, so no range hands it out again."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest
from sqlalchemy import insert, select

from quark.db import migrate, models
from quark.db.engine import Database
from tests.dbs import create_database, selected_backends


async def _seed(url: str) -> None:
    db = Database(url)
    now = datetime(2026, 1, 1)
    try:
        async with db.write() as conn:
            for net_type, physnet, seg in (
                ("vlan", "physnet1", 100),
                ("vxlan", None, 5001),
                ("vxlan", None, None),
                ("flat", "physnet2", None),
            ):
                await conn.execute(
                    insert(models.networks).values(
                        id=str(uuid.uuid4()),
                        project_id="seed",
                        name="seed",
                        admin_state_up=True,
                        status="ACTIVE",
                        shared=False,
                        router_external=False,
                        mtu=1450,
                        port_security_enabled=True,
                        dns_domain="",
                        availability_zone_hints=[],
                        ipam_strategy="NEUTRON",
                        description="",
                        created_at=now,
                        updated_at=now,
                        revision_number=0,
                        network_type=net_type,
                        physical_network=physnet,
                        segmentation_id=seg,
                    )
                )
    finally:
        await db.dispose()


async def _allocations(url: str) -> list:
    db = Database(url)
    try:
        async with db.read() as conn:
            return list(await conn.execute(select(models.segment_allocations)))
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", selected_backends())
def test_migration_0005_holds_existing_segment_ids(backend, tmp_path_factory):
    url, drop = create_database(backend, tmp_path_factory)
    try:
        migrate.upgrade(url, "0004")
        asyncio.run(_seed(url))
        migrate.upgrade(url)
        rows = asyncio.run(_allocations(url))
        assert sorted((r.network_type, r.physical_network, r.segmentation_id, r.allocated) for r in rows) == [
            ("vlan", "physnet1", 100, True),
            ("vxlan", "", 5001, True),
        ]
    finally:
        drop()
