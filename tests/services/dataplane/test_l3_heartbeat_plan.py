"""An agent's heartbeat looks for routers stranded on a dead L3 host
(``L3Scheduler.reschedule``) without scanning the routers table: on SQLite,
every statement of a report that reads ``routers`` is an index search
(EXPLAIN QUERY PLAN shows no ``SCAN routers``), and the stranded routers
still move."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import make_url

from quark.db import l3_models
from tests.dbs import migrated_database
from tests.services.dataplane.test_l3_scheduling import placed, report_l3, router_with_interface

r = l3_models.routers


@pytest.fixture(scope="module")
def services_database_url(tmp_path_factory):
    """SQLite only (overrides the conftest's backends): the plans are SQLite's."""
    with migrated_database("sqlite", tmp_path_factory) as url:
        yield url


def scans_of_routers(db_path: str, statements: list[tuple[str, tuple]]) -> list[str]:
    """The plan lines of ``statements`` that read the routers table whole."""
    found = []
    with sqlite3.connect(db_path) as plain:
        for sql, params in statements:
            for row in plain.execute(f"EXPLAIN QUERY PLAN {sql}", params):
                detail = row[-1]
                if detail.startswith("SCAN") and " routers" in f" {detail}":
                    found.append(f"{detail}  <- {sql}")
    return found


async def test_a_heartbeat_searches_the_routers_by_host(make_env):
    env = await make_env(agent_down_time=20)
    await report_l3(env, "n1")
    routers = [await router_with_interface(env, f"10.{120 + i}.0.0/24") for i in range(3)]
    await report_l3(env, "n2")
    moved = await router_with_interface(env, "10.130.0.0/24")
    assert (await placed(env, moved["id"]))[0] == "n2"

    seen: list[tuple[str, tuple]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        if "routers" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, tuple(parameters)))

    event.listen(env.db.engine.sync_engine, "before_cursor_execute", record)
    await env.report_l2("compute-1")  # a heartbeat with nothing to move
    assert seen, "the heartbeat read no routers: nothing checked"
    db_path = make_url(env.url).database
    assert scans_of_routers(db_path, seen) == []

    env.clock.advance(15)
    await report_l3(env, "n1")  # n1 lives on, n2 is dead from here
    env.clock.advance(10)
    seen.clear()
    await env.report_l2("compute-1")
    assert scans_of_routers(db_path, seen) == []
    assert (await placed(env, moved["id"]))[:2] == ("n1", "BUILD")  # moved off the dead host
    hosts = {row.l3_host for row in await env.read(select(r.c.l3_host))}
    assert hosts == {"n1"} and [(await placed(env, x["id"]))[0] for x in routers] == ["n1"] * 3
