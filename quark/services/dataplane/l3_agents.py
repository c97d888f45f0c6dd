"""Neutron's ``l3_agent_scheduler`` over Quark's router → L3 host scheduling
(docs/l3.md), admin only:

* the L3 agents hosting a router (the L3 agent of ``routers.l3_host``);
* the routers an agent hosts (their ids: the API renders them as routers);
* an admin adds a router to an L3 agent (``InvalidL3Agent`` for another kind
  of agent or a disabled one, ``RouterHostedByL3Agent`` when another agent has
  it, nothing when this one has it) or removes it (the router stays without a
  host until it changes or is added again, as Neutron's);
* the periodic check of each server process (``run``): routers whose L3 agent
  is dead move to a live one even when no agent reports.

The router is named by the caller's check first (the API asks the router
service, so a missing router is ``RouterNotFound``); its row is locked here
before anything changes, so concurrent adds, removals and the scheduler's
own moves of one router run one after the other.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.db import l3_models, models
from quark.db.engine import Database
from quark.services.dataplane import hoststate, l3_ha
from quark.services.dataplane.agents import AgentService
from quark.services.dataplane.l3_scheduling import L3_AGENT, L3Scheduler

LOG = logging.getLogger(__name__)

# Neutron's errors of the extension (neutron/extensions/l3agentscheduler.py), by name, status and message.

r = l3_models.routers
ag = models.agents


class InvalidL3Agent(errors.AgentNotFound):
    message = "Agent {id} is not a L3 Agent or has been disabled"


class RouterHostedByL3Agent(errors.Conflict):
    message = "The router {router_id} has been already hosted by the L3 Agent {agent_id}."


class L3AgentScheduling:
    def __init__(self, db: Database, agents: AgentService, scheduler: L3Scheduler, interval: float) -> None:
        self.db = db
        self.agents = agents
        self.scheduler = scheduler
        self.interval = interval

    # --- reads ---------------------------------------------------------------------------

    async def agents_hosting(self, router_id: str) -> list[dict]:
        """The views of the L3 agents hosting the router: the one of its host,
        or for an HA router those of its hosts, each with its ``ha_state``
        (``active`` on ``routers.l3_host``, ``standby`` elsewhere: the
        database's decision, as docs/l3.md says)."""
        async with self.db.read() as conn:
            router = (await conn.execute(select(r.c.ha, r.c.l3_host).where(r.c.id == router_id))).first()
            if router is None:
                return []
            if not router.ha:
                hosts = [router.l3_host] if router.l3_host else []
            else:
                hosts = await l3_ha.hosts_of(conn, router_id)
            if not hosts:
                return []
            stmt = select(ag).where(ag.c.agent_type == L3_AGENT, ag.c.host.in_(hosts)).order_by(ag.c.id)
            views = []
            for row in await conn.execute(stmt):
                view = self.agents.view(row)
                if router.ha:
                    view["ha_state"] = l3_ha.ha_state(row.host, router.l3_host)
                views.append(view)
            return views

    async def routers_on(self, agent_id: str) -> list[str]:
        """The ids of the routers the agent hosts, HA routers it stands by for
        included (``AgentNotFound``); none for an agent that is not an L3
        agent, as Neutron's."""
        async with self.db.read() as conn:
            agent = await self._agent(conn, agent_id)
            if agent.agent_type != L3_AGENT:
                return []
            stmt = select(r.c.id).where(r.c.l3_host == agent.host)
            hosted = set((await conn.execute(stmt)).scalars())
            return sorted(hosted | set(await l3_ha.routers_on(conn, agent.host)))

    # --- writes --------------------------------------------------------------------------

    async def add(self, agent_id: str, router_id: str, missing: errors.QuarkError) -> None:
        async def work(conn: AsyncConnection) -> None:
            router = await self._router(conn, router_id, missing)
            agent = await self._agent(conn, agent_id)
            if agent.agent_type != L3_AGENT or not agent.admin_state_up:
                raise InvalidL3Agent(id=agent_id)
            if router.ha:  # another host for it (active if it has none)
                await hoststate.bump(conn, await self._add_ha(conn, router, agent.host))
                return
            hosting = await self._hosting(conn, router)
            if hosting is not None and hosting.id != agent.id:
                raise RouterHostedByL3Agent(router_id=router_id, agent_id=hosting.id)
            if hosting is None:
                await hoststate.bump(conn, await self.scheduler.move(conn, router, agent.host))

        await self.db.run_write(work)

    async def remove(self, agent_id: str, router_id: str, missing: errors.QuarkError) -> None:
        """Take the router off the agent if it has it (nothing otherwise, as Neutron's)."""

        async def work(conn: AsyncConnection) -> None:
            agent = await self._agent(conn, agent_id)
            router = await self._router(conn, router_id, missing)
            if agent.agent_type != L3_AGENT:
                return
            if router.ha:
                await hoststate.bump(conn, await self._remove_ha(conn, router, agent.host))
            elif router.l3_host == agent.host:
                await hoststate.bump(conn, await self.scheduler.move(conn, router, None, unhosted=True))

        await self.db.run_write(work)

    async def _add_ha(self, conn: AsyncConnection, router: Any, host: str) -> set[str]:
        hosts = await l3_ha.hosts_of(conn, router.id)
        touched = await l3_ha.store(conn, router.id, [*hosts, host])
        if router.l3_host is None:
            touched |= await self.scheduler.move(conn, router, host)
        return touched

    async def _remove_ha(self, conn: AsyncConnection, router: Any, host: str) -> set[str]:
        """The host leaves the HA router's hosts; when it was the active one, a
        live standby takes over (none left: unhosted, as a router taken off
        its only agent)."""
        rest = [h for h in await l3_ha.hosts_of(conn, router.id) if h != host]
        touched = await l3_ha.store(conn, router.id, rest)
        if router.l3_host == host:
            live = set(await self.scheduler.live_hosts(conn))
            active = next((h for h in rest if h in live), None)
            touched |= await self.scheduler.move(conn, router, active, unhosted=active is None)
        return touched

    # --- the periodic check ------------------------------------------------------------------

    async def reschedule(self) -> int:
        """One check: routers of dead (or disabled) L3 agents move to live ones."""
        return await self.db.run_write(self.scheduler.reschedule)

    async def run(self, stop: asyncio.Event) -> None:
        """Check every ``interval`` seconds until ``stop``. Every API worker runs
        one: each check is one transaction that locks each router it moves and
        reads it again under the lock, so two workers never move one router
        twice (the second finds it on a live host and leaves it). The first
        wait is jittered so the workers do not check in step."""
        wait = self.interval * random.uniform(0.5, 1.0)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), wait)
                return
            except TimeoutError:
                pass
            wait = self.interval
            try:
                await self.reschedule()
            except Exception:
                LOG.warning("rescheduling the routers of dead L3 agents failed", exc_info=True)

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    async def _agent(conn: AsyncConnection, agent_id: str) -> Any:
        row = (await conn.execute(select(ag).where(ag.c.id == agent_id))).first()
        if row is None:
            raise errors.AgentNotFound(id=agent_id)
        return row

    @staticmethod
    async def _router(conn: AsyncConnection, router_id: str, missing: errors.QuarkError) -> Any:
        row = (await conn.execute(select(r).where(r.c.id == router_id).with_for_update())).first()
        if row is None:
            raise missing
        return row

    @staticmethod
    async def _hosting(conn: AsyncConnection, router: Any) -> Any:
        """The L3 agent of the router's host, if it has one."""
        if router.l3_host is None:
            return None
        stmt = select(ag).where(ag.c.agent_type == L3_AGENT, ag.c.host == router.l3_host)
        return (await conn.execute(stmt)).first()
