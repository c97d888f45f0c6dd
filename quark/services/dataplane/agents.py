"""Agents (Neutron's ``agent`` extension, admin only): host agents register and
keep themselves alive by reporting (``POST /v2.0/agents/report``); admins list,
show, update (admin_state_up, description) and delete them.

An agent is *alive* while its last report is younger than the setting
``agent_down_time``. What a report, an update or a delete changes beyond the
agent row (rebinding ports on the host, peers of other hosts, DHCP
scheduling) follows in the same transaction through the ``AgentReported``
and ``AgentChanged`` events (``quark.services.dataplane.agent_changes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.clock import Clock, utcnow
from quark.context import Context
from quark.db import models
from quark.db.dialect import insert_ignore
from quark.services.common import availability_zones, base
from quark.services.common.base import ResourceService
from quark.services.common.listing import ListQuery
from quark.services.dataplane import liveness
from quark.services.events import AgentChanged, AgentReported, Events

ag = models.agents

DHCP_AGENT = availability_zones.DHCP_AGENT


def agent_time(value: datetime | None) -> str | None:
    """Neutron shows agent times as ``2026-11-24 10:00:00``."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else None


@dataclass(frozen=True)
class Report:
    """One heartbeat, as checked by the API layer."""

    host: str
    agent_type: str
    binary: str = ""
    topic: str = ""
    configurations: dict | None = None
    availability_zone: str | None = None
    resources_synced: bool | None = None
    start_flag: bool = False


class AgentService(ResourceService):
    table = ag
    not_found = errors.AgentNotFound
    not_found_key = "id"
    columns = {
        "id": ag.c.id,
        "agent_type": ag.c.agent_type,
        "binary": ag.c.binary,
        "topic": ag.c.topic,
        "host": ag.c.host,
        "admin_state_up": ag.c.admin_state_up,
        "description": ag.c.description,
        "availability_zone": ag.c.availability_zone,
        "created_at": ag.c.created_at,
        "started_at": ag.c.started_at,
        "heartbeat_timestamp": ag.c.heartbeat_timestamp,
    }

    def __init__(self, db, settings, events: Events | None = None, clock: Clock = utcnow) -> None:
        super().__init__(db, settings, events)
        self.clock = clock

    # --- reads -------------------------------------------------------------------

    def visible(self, ctx: Context):
        return None  # no owner: who may see them is the policy's decision (quark.policy)

    def cutoff(self) -> datetime:
        """Reports older than this mean the agent is down."""
        return liveness.cutoff(self.settings, self.clock)

    def is_alive(self, row: Any) -> bool:
        return liveness.is_alive(row.heartbeat_timestamp, self.settings, self.clock)

    def extra_filters(self, query: ListQuery) -> list:
        wanted = query.filters.get("alive")
        if not wanted or len(set(wanted)) != 1:
            return []
        return [ag.c.heartbeat_timestamp > self.cutoff() if wanted[0] else ag.c.heartbeat_timestamp <= self.cutoff()]

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> list[dict]:
        return [self.view(row) for row in rows]

    def view(self, row: Any) -> dict:
        return {
            "id": row.id,
            "agent_type": row.agent_type,
            "binary": row.binary,
            "topic": row.topic,
            "host": row.host,
            "admin_state_up": row.admin_state_up,
            "alive": self.is_alive(row),
            "description": row.description,
            "configurations": row.configurations or {},
            "availability_zone": row.availability_zone,
            "resources_synced": row.resources_synced,
            "created_at": agent_time(row.created_at),
            "started_at": agent_time(row.started_at),
            "heartbeat_timestamp": agent_time(row.heartbeat_timestamp),
        }

    # --- writes ------------------------------------------------------------------

    async def create_bulk(self, ctx: Context, items: list[dict]) -> list[dict]:
        raise errors.MethodNotAllowed()  # agents register by reporting

    async def report(self, ctx: Context, report: Report) -> dict:
        """Upsert the agent of (agent_type, host) and note its heartbeat."""

        async def work(conn: AsyncConnection) -> dict:
            reported = await self._upsert(conn, report)
            await self.events.publish(conn, reported)
            return self.view(reported.after)

        return await self.db.run_write(work)

    async def _upsert(self, conn: AsyncConnection, report: Report) -> AgentReported:
        now = self.clock()
        where = (ag.c.agent_type == report.agent_type, ag.c.host == report.host)
        before = (await conn.execute(select(ag).where(*where).with_for_update())).first()
        values = {
            "binary": report.binary,
            "topic": report.topic,
            "configurations": report.configurations or {},
            "availability_zone": report.availability_zone,
            "resources_synced": report.resources_synced,
            "heartbeat_timestamp": now,
        }
        if before is None:
            await conn.execute(
                insert_ignore(
                    conn,
                    ag,
                    id=base.new_id(),
                    agent_type=report.agent_type,
                    host=report.host,
                    admin_state_up=True,
                    description="",
                    created_at=now,
                    started_at=now,
                    **values,
                )
            )
            # A concurrent first report may have won the insert: update that row.
            await conn.execute(update(ag).where(*where).values(**values))
        else:
            if report.start_flag:
                values["started_at"] = now
            await conn.execute(update(ag).where(ag.c.id == before.id).values(**values))
        after = (await conn.execute(select(ag).where(*where))).one()
        return AgentReported(before=before, after=after, was_alive=before is not None and self.is_alive(before))

    async def update(self, ctx: Context, agent_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            before = await self.get_row(conn, ctx, agent_id, for_update=True)
            changes = {k: attrs[k] for k in ("admin_state_up", "description") if k in attrs}
            if changes:
                await conn.execute(update(ag).where(ag.c.id == agent_id).values(**changes))
            after = (await conn.execute(select(ag).where(ag.c.id == agent_id))).one()
            if before.admin_state_up != after.admin_state_up:
                await self.events.publish(conn, AgentChanged(before, after))
            return self.view(after)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, agent_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, agent_id, for_update=True)
            await conn.execute(delete(ag).where(ag.c.id == agent_id))
            await self.events.publish(conn, AgentChanged(row, None))

        await self.db.run_write(work)
