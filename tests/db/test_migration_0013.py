"""Migration 0013 (rbac) on every database: networks already shared or external,
and subnet pools and address scopes already shared, get their wildcard
policies, so what was visible stays visible."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest
from sqlalchemy import insert, select

from quark.db import migrate, models, pool_models
from quark.db.engine import Database
from quark.db.rbac_models import rbac_policies
from tests.dbs import create_database, selected_backends


async def _seed(url: str) -> dict[tuple[bool, bool], str]:
    db = Database(url)
    now = datetime(2026, 1, 1)
    ids = {}
    try:
        async with db.write() as conn:
            for shared, external in ((False, False), (True, False), (False, True), (True, True)):
                ids[(shared, external)] = network_id = str(uuid.uuid4())
                await conn.execute(
                    insert(models.networks).values(
                        id=network_id,
                        project_id="seed",
                        name="seed",
                        admin_state_up=True,
                        status="ACTIVE",
                        shared=shared,
                        router_external=external,
                        mtu=1450,
                        port_security_enabled=True,
                        dns_domain="",
                        availability_zone_hints=[],
                        ipam_strategy="NEUTRON",
                        description="",
                        created_at=now,
                        updated_at=now,
                        revision_number=0,
                        network_type="local",
                    )
                )
    finally:
        await db.dispose()
    return ids


async def _policies(url: str) -> list:
    db = Database(url)
    try:
        async with db.read() as conn:
            return list(await conn.execute(select(rbac_policies)))
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", selected_backends())
def test_migration_0013_writes_the_wildcard_policies_of_shared_and_external_networks(backend, tmp_path_factory):
    url, drop = create_database(backend, tmp_path_factory)
    try:
        migrate.upgrade(url, "0008")
        ids = asyncio.run(_seed(url))
        migrate.upgrade(url)
        rows = asyncio.run(_policies(url))
        got = sorted((r.object_id, r.action, r.target_project, r.project_id, r.object_type) for r in rows)
        want = sorted(
            [
                (ids[(True, False)], "access_as_shared", "*", "seed", "network"),
                (ids[(False, True)], "access_as_external", "*", "seed", "network"),
                (ids[(True, True)], "access_as_shared", "*", "seed", "network"),
                (ids[(True, True)], "access_as_external", "*", "seed", "network"),
            ]
        )
        assert got == want
    finally:
        drop()


async def _seed_pools(url: str) -> dict[str, str]:
    """A shared and a private address scope and subnet pool (before 0013)."""
    db = Database(url)
    now = datetime(2026, 1, 1)
    std = {"project_id": "seed", "name": "seed", "description": "", "created_at": now, "updated_at": now}
    ids = {}
    try:
        async with db.write() as conn:
            for shared in (True, False):
                ids[f"scope-{shared}"] = scope_id = str(uuid.uuid4())
                await conn.execute(
                    insert(pool_models.address_scopes).values(
                        id=scope_id, shared=shared, ip_version=4, revision_number=0, **std
                    )
                )
                ids[f"pool-{shared}"] = pool_id = str(uuid.uuid4())
                await conn.execute(
                    insert(pool_models.subnetpools).values(
                        id=pool_id,
                        ip_version=4,
                        default_prefixlen=24,
                        min_prefixlen=8,
                        max_prefixlen=32,
                        shared=shared,
                        is_default=False,
                        revision_number=0,
                        **std,
                    )
                )
    finally:
        await db.dispose()
    return ids


@pytest.mark.parametrize("backend", selected_backends())
def test_migration_0013_writes_the_wildcard_policies_of_shared_pools_and_scopes(backend, tmp_path_factory):
    url, drop = create_database(backend, tmp_path_factory)
    try:
        migrate.upgrade(url, "0012")
        ids = asyncio.run(_seed_pools(url))
        migrate.upgrade(url)
        rows = asyncio.run(_policies(url))
        got = sorted((r.object_id, r.action, r.target_project, r.project_id, r.object_type) for r in rows)
        want = sorted(
            [
                (ids["scope-True"], "access_as_shared", "*", "seed", "address_scope"),
                (ids["pool-True"], "access_as_shared", "*", "seed", "subnetpool"),
            ]
        )
        assert got == want
    finally:
        drop()
