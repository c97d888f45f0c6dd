"""quark.db.statistics on every database: on PostgreSQL the tables changed by
more than autovacuum's rule since their last analyze are found and analyzed
(one process at a time), and a server analyzes them by itself after a bulk
create; on MariaDB and SQLite the keeper does nothing at all (InnoDB keeps its
own statistics; see the module)."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from sqlalchemy import insert, text

from quark.db import models, statistics
from quark.db.engine import Database
from tests.servers import quark_server


@pytest.fixture
async def db(database_url):
    database = Database(database_url, pool_size=2, max_overflow=2)
    yield database
    await database.dispose()


async def _enough(db: Database, table: str) -> int:
    """More changes than make ``table`` stale, whatever other tests left in it."""
    rows = 0.0
    if db.dialect == "postgresql":
        async with db.read() as conn:
            rows = await conn.scalar(
                text("SELECT greatest(reltuples, 0) FROM pg_class WHERE relname = :t"), {"t": table}
            )
    return int(statistics.THRESHOLD + statistics.SCALE * rows) + 100


async def _add_tags(db: Database, count: int | None = None) -> None:
    """``count`` new tag rows (default: enough to make the table stale), their
    counts published to pg_stat_user_tables when the transaction ends
    (PostgreSQL would otherwise publish them up to 10 s later)."""
    count = count if count is not None else await _enough(db, "tags")
    resource = str(uuid.uuid4())
    async with db.write() as conn:
        await conn.execute(insert(models.tags), [{"resource_id": resource, "tag": f"t{i}"} for i in range(count)])
        if db.dialect == "postgresql":
            await conn.execute(text("SELECT pg_stat_force_next_flush()"))


async def _analyze_count(db: Database, table: str) -> int:
    async with db.read() as conn:
        return await conn.scalar(
            text("SELECT analyze_count + autoanalyze_count FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}
        )


async def _wait_until_stale(db: Database, table: str) -> None:
    deadline = time.monotonic() + 30
    while table not in await statistics.stale_tables(db):
        assert time.monotonic() < deadline, f"{table} never reported as changed"
        await asyncio.sleep(0.2)


async def test_changed_tables_are_found_and_analyzed(db):
    await _add_tags(db)
    if db.dialect != "postgresql":
        assert await statistics.stale_tables(db) == []
        assert await statistics.analyze_stale(db) == []
        return
    await _wait_until_stale(db, "tags")
    before = await _analyze_count(db, "tags")
    analyzed = await statistics.analyze_stale(db)
    assert "tags" in analyzed
    assert set(analyzed) <= set(models.Base.metadata.tables)  # Quark's own tables only (not alembic_version)
    assert await _analyze_count(db, "tags") == before + 1
    assert "tags" not in await statistics.stale_tables(db)  # its changes are counted from the analyze on


async def test_a_few_changes_are_not_enough(db):
    await _add_tags(db)
    if db.dialect == "postgresql":
        await _wait_until_stale(db, "tags")
        assert "tags" in await statistics.analyze_stale(db)
    await _add_tags(db, 3)
    if db.dialect == "postgresql":
        await asyncio.sleep(1.5)  # time enough for the 3 changes to be published
    assert "tags" not in await statistics.stale_tables(db)


async def test_one_process_analyzes_at_a_time(db):
    await _add_tags(db)
    if db.dialect != "postgresql":
        assert await statistics.analyze_stale(db) == []
        return
    await _wait_until_stale(db, "tags")
    async with db.write() as other:  # another process holds the keeper's lock
        assert await other.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": statistics.LOCK_KEY})
        assert await statistics.analyze_stale(db) == []
    assert "tags" in await statistics.stale_tables(db)  # left for the next round
    assert "tags" in await statistics.analyze_stale(db)


async def test_keeper_goes_on_after_a_failed_round_and_stops_when_told(monkeypatch):
    rounds: list[int] = []
    stop = asyncio.Event()

    async def flaky(db):
        rounds.append(1)
        if len(rounds) == 1:
            raise RuntimeError("database went away")
        if len(rounds) == 3:
            stop.set()
        return []

    monkeypatch.setattr(statistics, "analyze_stale", flaky)
    await asyncio.wait_for(statistics.StatisticsKeeper(db=None, interval=0.01).run(stop), timeout=10)  # type: ignore[arg-type]
    assert len(rounds) == 3


def test_a_server_analyzes_what_a_bulk_create_changed(database_url):
    """The keeper runs in ``quark serve`` (its lifespan); not on other databases."""
    db = Database(database_url)

    async def count() -> int:
        try:
            return await _analyze_count(db, "ports") if db.dialect == "postgresql" else 0
        finally:
            await db.dispose()

    async def enough_ports() -> int:
        try:
            return await _enough(db, "ports")
        finally:
            await db.dispose()

    before, rows = asyncio.run(count()), asyncio.run(enough_ports())
    with quark_server(database_url, env={"QUARK_DB_ANALYZE_INTERVAL": "0.2"}) as server:
        net = httpx.post(f"{server.url}/v2.0/networks", json={"network": {"name": "stats"}}).json()["network"]
        body = {"ports": [{"network_id": net["id"], "fixed_ips": []} for _ in range(rows)]}
        assert httpx.post(f"{server.url}/v2.0/ports", json=body, timeout=60).status_code == 201
        if db.dialect != "postgresql":
            assert "analyzed" not in server.log_text()
            return
        deadline = time.monotonic() + 30  # counts published within 10 s, checked every 0.2 s
        while asyncio.run(count()) == before:
            assert time.monotonic() < deadline, "the server never analyzed the ports table"
            time.sleep(0.2)
    assert "analyzed" in server.log_text()  # at INFO, naming the tables
