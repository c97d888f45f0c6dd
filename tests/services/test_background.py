"""The periodic tasks of a server process: the services choose them from the
settings (quark.services.background), and the app's lifespan starts and stops
exactly the ones its services object lists, none by name."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from quark.api.app import create_app
from quark.config import Settings
from quark.db.engine import Database
from quark.db.statistics import StatisticsKeeper
from quark.services.background import NovaEventTask
from quark.services.registry import build_services

OFF = {"idempotency_purge_interval": 0, "host_changes_fold_interval": 0, "l3_reschedule_interval": 0}


async def built(url: str, **settings) -> list:
    db = Database(url)
    try:
        return build_services(db, Settings(**settings)).periodic_tasks
    finally:
        await db.dispose()


async def test_every_interval_zero_lists_no_task(tmp_path):
    assert await built(f"sqlite+aiosqlite:///{tmp_path}/q.db", **OFF) == []


async def test_the_defaults_list_the_purge_the_fold_and_the_l3_check(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/q.db")
    try:
        services = build_services(db, Settings())
        assert services.periodic_tasks == [services.idempotency, services.hosts, services.l3_agents]
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("url", "settings", "kind"),
    [
        ("sqlite+aiosqlite:///{tmp}/q.db", {"nova_events_url": "http://nova.invalid/events"}, NovaEventTask),
        ("postgresql+asyncpg://postgres@127.0.0.1/quark_none", {}, StatisticsKeeper),
    ],
)
async def test_nova_events_and_postgresql_statistics_add_their_task(tmp_path, url, settings, kind):
    tasks = await built(url.format(tmp=tmp_path), **OFF, **settings)
    assert [type(task) for task in tasks] == [kind]


async def test_postgresql_statistics_are_off_with_interval_zero():
    assert await built("postgresql+asyncpg://postgres@127.0.0.1/quark_none", **OFF, db_analyze_interval=0) == []


class _Db:
    dialect = "sqlite"

    def __init__(self) -> None:
        self.disposed = False

    async def dispose(self) -> None:
        self.disposed = True


class _Task:
    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.stopped = False

    async def run(self, stop: asyncio.Event) -> None:
        self.started.set()
        await stop.wait()
        self.stopped = True


async def test_the_lifespan_runs_the_listed_tasks_until_shutdown_and_no_other():
    tasks = [_Task(), _Task()]
    # Settings that would turn every built-in task on: the lifespan still runs only the list.
    settings = Settings(nova_events_url="http://nova.invalid/events", idempotency_purge_interval=0.01)
    stand_in = SimpleNamespace(db=_Db(), periodic_tasks=tasks)
    app = create_app(settings, services=stand_in)  # type: ignore[arg-type]
    before = set(asyncio.all_tasks())
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(asyncio.gather(*(t.started.wait() for t in tasks)), 5)
        assert len(set(asyncio.all_tasks()) - before) == len(tasks)
        assert not any(t.stopped for t in tasks)
    assert all(t.stopped for t in tasks)
    assert stand_in.db.disposed


async def test_a_stand_in_listing_no_task_starts_none():
    stand_in = SimpleNamespace(db=_Db(), periodic_tasks=[])
    app = create_app(Settings(l3_reschedule_interval=0.01), services=stand_in)  # type: ignore[arg-type]
    before = set(asyncio.all_tasks())
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.05)
        assert set(asyncio.all_tasks()) - before == set()
    assert stand_in.db.disposed
