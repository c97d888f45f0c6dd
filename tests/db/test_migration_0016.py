"""Migration 0016 (segment ranges) on every database: ranges made before it
keep their bounds and cursor, become shared, and the ones the
``segment_ranges`` setting made (recognised by their fixed ids) become
Neutron's default ranges; the default security-group rule templates start
as Neutron's."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import pytest
from sqlalchemy import select, text

from quark.db import migrate, models, security_models
from quark.db.engine import Database
from quark.ipam.segments import RangeSpec
from quark.services.core.segment_ranges import seed_range_id
from quark.services.security.templates import NEUTRON_DEFAULTS
from tests.dbs import create_database, selected_backends

SEEDED = RangeSpec("vxlan", "", 1, 65535)


async def _seed(url: str) -> str:
    """A seeded range and an admin's range, as revision 0014 stored them."""
    db = Database(url)
    other = str(uuid.uuid4())
    try:
        async with db.write() as conn:
            for range_id, name, spec, cursor in (
                (seed_range_id(SEEDED), "default", SEEDED, 7),
                (other, "rack1", RangeSpec("vlan", "physnet1", 100, 199), None),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO segment_ranges (id, name, network_type, physical_network, minimum, maximum,"
                        " next_id, created_at) VALUES (:id, :name, :type, :phys, :low, :high, :cursor, :at)"
                    ),
                    {"id": range_id, "name": name, "type": spec.network_type, "phys": spec.physical_network,
                     "low": spec.minimum, "high": spec.maximum, "cursor": cursor, "at": datetime(2026, 1, 1)},
                )  # fmt: skip
    finally:
        await db.dispose()
    return other


async def _read(url: str) -> tuple[list, list]:
    db = Database(url)
    try:
        async with db.read() as conn:
            r = models.segment_ranges
            ranges = list(await conn.execute(select(r).order_by(r.c.name)))
            templates = list(await conn.execute(select(security_models.default_security_group_rules)))
            return ranges, templates
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", selected_backends())
def test_migration_0016_marks_default_ranges_and_seeds_templates(backend, tmp_path_factory):
    url, drop = create_database(backend, tmp_path_factory)
    try:
        migrate.upgrade(url, "0014_outbox_jobs")
        other = asyncio.run(_seed(url))
        migrate.upgrade(url)
        ranges, templates = asyncio.run(_read(url))
        got = [
            (x.id, x.is_default, x.shared, x.project_id, x.next_id, x.revision_number, x.description) for x in ranges
        ]
        assert got == [
            (seed_range_id(SEEDED), True, True, None, 7, 0, ""),
            (other, False, True, None, None, 0, ""),
        ]
        assert all(x.updated_at == x.created_at for x in ranges)
        shapes = {(t.direction, t.ethertype, t.remote_group_id, t.used_in_default_sg, t.used_in_non_default_sg)
                  for t in templates}  # fmt: skip
        assert shapes == {
            ("egress", "IPv4", None, True, True),
            ("egress", "IPv6", None, True, True),
            ("ingress", "IPv4", "PARENT", True, False),
            ("ingress", "IPv6", "PARENT", True, False),
        }
        assert shapes == set(NEUTRON_DEFAULTS)  # what tests' emptied databases get back
        assert {t.description for t in templates} == {
            "Legacy default SG rule for egress traffic",
            "Legacy default SG rule for ingress traffic",
        }
    finally:
        drop()
