"""The MAC ranges' usage counter (quark.ipam.mac_usage) on every database: after
any sequence of port creates (drawn MACs, explicit ones, refused ones once a
range is full), port deletes, MAC changes, quarantines ending (reuse), ranges
created over held MACs and range deletes, each range's counter is the number
of its live ``mac_allocations`` rows, the range views show it, and a deleted
range leaves no counter behind."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import false, func, select

from quark import errors
from quark.api.app import prepare_database
from quark.config import Settings
from quark.context import Context
from quark.db import models
from quark.db.engine import Database
from quark.db.mac_usage_model import mac_range_usage
from quark.ipam import mac_usage, repair
from quark.services.common.listing import ListQuery
from quark.services.registry import build_services
from tests.clock import Clock
from tests.dbs import migrated_database, selected_backends
from tests.services.conftest import empty_database

ADMIN = Context.admin()
REUSE_AFTER = 60
DEFAULT = "02:00:00:00:00:00/45"  # 8 MACs: full after a few creates
SECOND = "02:00:00:00:01:00/46"  # 4 MACs, made over explicit MACs already held
EXPLICIT = ["02:00:00:00:01:01", "02:00:00:00:01:02", "02:00:00:00:00:05"]
m = models.mac_allocations

OPS = st.one_of(
    st.just(("create",)),
    st.tuples(st.just("explicit"), st.sampled_from(EXPLICIT)),
    st.tuples(st.just("delete"), st.integers(0, 20)),
    st.tuples(st.just("regenerate"), st.integers(0, 20)),
    st.just(("quarantine_over",)),
    st.just(("add_range",)),
    st.tuples(st.just("delete_range"), st.integers(0, 3)),
)


@pytest.fixture(scope="module", params=selected_backends())
def usage_database(request, tmp_path_factory):
    with migrated_database(request.param, tmp_path_factory) as url:
        yield url


async def live_and_counted(db: Database) -> tuple[dict[str, int], dict[str, int]]:
    """(live rows, counter) per existing range; a counter of a deleted range shows as itself."""
    async with db.read() as conn:
        ranges = (await conn.execute(select(models.mac_address_ranges.c.id))).scalars().all()
        live = dict(
            (
                await conn.execute(
                    select(m.c.range_id, func.count()).where(m.c.deallocated == false()).group_by(m.c.range_id)
                )
            ).all()
        )
        counted = await mac_usage.used(conn)
        shards = await conn.scalar(select(func.count()).select_from(mac_range_usage))
    assert shards == 16 * len(ranges), "every range has its 16 shards, a deleted one none"
    return {r: int(live.get(r, 0)) for r in ranges}, counted


async def scenario(url: str, ops: list[tuple]) -> None:
    clock = Clock()
    config = Settings(ipam_reuse_after=REUSE_AFTER, default_mac_range=DEFAULT)
    db = Database(url, pool_size=2, max_overflow=2)
    try:
        await empty_database(db)
        await prepare_database(db, config)
        services = build_services(db, config, clock=clock)
        network = (await services.networks.create(ADMIN, {"name": "macs"}))["id"]
        ports: list[str] = []
        for op in ops:
            try:
                await apply(services, network, ports, clock, op)
            except (errors.MacAddressGenerationFailure, errors.MacAddressInUse, errors.MacAddressRangeInUse):
                pass  # refused: rolled back whole, counter included
            live, counted = await live_and_counted(db)
            assert counted == live, op
        views = await services.mac_ranges.list(ADMIN, ListQuery())
        assert {v["id"]: v["allocated"] for v in views} == live
        assert (await repair.check(db)).problems == []  # the check agrees
    finally:
        await db.dispose()


async def apply(services, network: str, ports: list[str], clock: Clock, op: tuple) -> None:
    kind = op[0]
    if kind == "create":
        ports.append((await services.ports.create(ADMIN, {"network_id": network}))["id"])
    elif kind == "explicit":
        ports.append((await services.ports.create(ADMIN, {"network_id": network, "mac_address": op[1]}))["id"])
    elif kind in ("delete", "regenerate") and ports:
        port_id = ports[op[1] % len(ports)]
        if kind == "delete":
            ports.remove(port_id)
            await services.ports.delete(ADMIN, port_id)
        else:
            await services.ports.update(ADMIN, port_id, {"mac_address": None})
    elif kind == "quarantine_over":
        clock.advance(REUSE_AFTER + 1)
    elif kind == "add_range":
        try:
            await services.mac_ranges.create(ADMIN, {"cidr": SECOND})
        except errors.MacAddressRangeOverlap:
            pass
    elif kind == "delete_range":
        ranges = sorted(v["id"] for v in await services.mac_ranges.list(ADMIN, ListQuery()))
        if ranges:
            await services.mac_ranges.delete(ADMIN, ranges[op[1] % len(ranges)])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(OPS, min_size=4, max_size=18))
def test_each_range_s_counter_is_its_live_macs_after_any_sequence(usage_database, ops):
    asyncio.run(scenario(usage_database, ops))


def test_a_full_walk_through_every_kind_of_change(usage_database):
    """One fixed sequence that reaches each path at least once (hypothesis may not draw them all)."""
    ops = [
        ("explicit", "02:00:00:00:01:01"),  # outside every range: not recorded
        ("add_range",),  # over the held MAC: recorded, the counter starts at 1
        *[("create",)] * 9,  # the default range fills up, then the second one
        ("delete", 0),
        ("delete", 1),
        ("regenerate", 2),
        ("quarantine_over",),
        ("create",),  # a reused MAC
        ("explicit", "02:00:00:00:00:05"),  # held already: refused
        ("delete_range", 1),  # in use: refused
        *[("delete", 0)] * 12,
        ("delete_range", 0),
        ("delete_range", 0),
    ]
    asyncio.run(scenario(usage_database, ops))
