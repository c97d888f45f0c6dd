"""The periodic tasks of a server process, chosen once when its services are built.

The app's lifespan starts whatever ``Services.periodic_tasks`` lists and
stops them at shutdown; it knows none of them by name. A new periodic task is
added here (and nowhere in ``quark.api``), so a stand-in services object that
lists no tasks runs none, however many tasks Quark grows.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from quark.config import Settings
from quark.db.engine import Database
from quark.db.statistics import StatisticsKeeper
from quark.services.common.idempotency import IdempotencyKeys
from quark.services.dataplane.event_sender import EventDispatcher, HttpEventSender
from quark.services.dataplane.hosts import HostService
from quark.services.dataplane.l3_agents import L3AgentScheduling


class PeriodicTask(Protocol):
    """Runs its own loop (each at its own interval) until ``stop`` is set, then returns."""

    async def run(self, stop: asyncio.Event) -> None: ...


class NovaEventTask:
    """The Nova events outbox's sender: its HTTP client lives as long as the task."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def run(self, stop: asyncio.Event) -> None:
        sender = HttpEventSender.from_settings(self.settings)
        try:
            await EventDispatcher(self.db, self.settings, sender).run(stop)
        finally:
            await sender.close()


def periodic_tasks(
    db: Database,
    settings: Settings,
    *,
    idempotency: IdempotencyKeys,
    hosts: HostService,
    l3_agents: L3AgentScheduling,
) -> list[PeriodicTask]:
    """The tasks the settings turn on (an interval of 0 turns one off)."""
    tasks: list[PeriodicTask] = []
    if settings.nova_events_url or settings.nova:  # port events to Nova (docs/agent_api.md)
        tasks.append(NovaEventTask(db, settings))
    if db.dialect == "postgresql" and settings.db_analyze_interval > 0:  # why: quark.db.statistics
        tasks.append(StatisticsKeeper(db, settings.db_analyze_interval))
    if db.replica is not None:  # the replica's lag (quark.db.replica)
        tasks.append(db.replica)
    if settings.idempotency_purge_interval > 0:
        tasks.append(idempotency)
    if settings.host_changes_fold_interval > 0:  # the agents' change log (docs/agent_api.md)
        tasks.append(hosts)
    if settings.l3_reschedule_interval > 0:  # routers off dead L3 agents (docs/l3.md)
        tasks.append(l3_agents)
    return tasks
