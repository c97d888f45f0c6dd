"""The server side of the hosts' dataplane contract (docs/agent_api.md): the
state documents with long-polls, and the port status reports of agents.

Long-poll: ``wait_for`` waits on the process's ``GenerationFeed``, which polls every ``POLL_INTERVAL`` seconds for
all of the process's waiters at once (one small statement while nothing
changes, however many hosts wait) until it differs from ``since`` or the
wait ends; every change inserts a row for the hosts it concerns in its own
transaction (``hoststate``), so any server process sees any other's changes. ``run`` folds the
change log into the bases every ``host_changes_fold_interval`` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import metrics, owners
from quark.clock import Clock
from quark.config import Settings
from quark.context import Context
from quark.db import models
from quark.db.engine import Database
from quark.services.common import periodic
from quark.services.dataplane import documents, firewall_documents, hoststate, l3_ha, l3_status, router_documents
from quark.services.dataplane.binding import BRIDGE
from quark.services.dataplane.generation_feed import GenerationFeed
from quark.services.dataplane.nova_events import NovaEvents

p = models.ports

POLL_INTERVAL = 0.1
MAX_WAIT = 60
# How often a held request checks that its client is still there (each
# check is a wake-up of its own: with 10,000 held requests, not every poll).
GONE_CHECK = 5.0


class HostService:
    def __init__(self, db: Database, settings: Settings, nova: NovaEvents, clock: Clock) -> None:
        self.db = db
        self.settings = settings
        self.nova = nova
        self.clock = clock
        self.feed = GenerationFeed(db, POLL_INTERVAL)

    # --- the change log's fold (quark.services.dataplane.hoststate) ----------------------

    async def fold_changes(self) -> int:
        """Fold every host's changes into its generation base (one short
        transaction per host and kind); the number of changes folded."""
        async with self.db.read() as conn:
            pending = await hoststate.unfolded(conn)
        folded = 0
        for host, dhcp in pending:

            async def work(conn: AsyncConnection, host: str = host, dhcp: bool = dhcp) -> int:
                return await hoststate.fold(conn, host, dhcp)

            folded += await self.db.run_write(work)
        return folded

    async def run(self, stop: asyncio.Event) -> None:
        """Fold the change log every ``host_changes_fold_interval`` seconds until ``stop``."""
        interval = self.settings.host_changes_fold_interval
        await periodic.every(interval, stop, self.fold_changes, "fold of the hosts' change log")

    # --- long-polled documents ------------------------------------------------------

    async def wait_for(
        self,
        host: str,
        since: int | None,
        wait: float,
        *,
        dhcp: bool,
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> bool:
        """Return when the host's (DHCP) generation is not ``since`` (True), or after ``wait``
        seconds or when the client is gone (False)."""
        if since is None or wait <= 0:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait, MAX_WAIT)
        # No read of its own: the feed's next reading (at most POLL_INTERVAL
        # away) answers a stale ``since`` too, so a held request costs the
        # database nothing until it returns.
        watchers = metrics.LONG_POLL_WATCHERS.labels("dhcp_state" if dhcp else "desired_state")
        watchers.inc()
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                if await self.feed.wait(host, dhcp, since, min(GONE_CHECK, remaining)):
                    return True
                if gone is not None and await gone():
                    return False
        finally:
            watchers.dec()

    async def _document(
        self, since: int | None, moved: bool, read: Callable[[AsyncConnection], Awaitable[dict]]
    ) -> dict:
        """A document read by ``read`` on the replica if one is fit, again on the primary if the
        replica's is older than what the agent already has (an agent never goes back in time)
        or, when the feed (on the primary) saw the generation move, not newer than ``since``:
        else an agent woken by a change would get its old document back and poll again at
        once, as long as the replica lags."""
        async with self.db.read(lag_ok=True) as conn:
            document = await read(conn)
        if since is not None and document["generation"] < since + (1 if moved else 0):
            async with self.db.read() as conn:
                document = await read(conn)
        return document

    async def desired_state(
        self,
        ctx: Context,
        host: str,
        since: int | None = None,
        wait: float = 0,
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> dict:
        moved = await self.wait_for(host, since, wait, dhcp=False, gone=gone)

        async def read(conn: AsyncConnection) -> dict:
            # The generation first: a change committed while the body is read
            # then shows up again as a newer generation, never goes unseen.
            gen = await hoststate.generation(conn, host)
            ports, networks = await documents.desired_state(conn, host)
            filters = await firewall_documents.add_filters(conn, ports)
            routers = await router_documents.routers(conn, host)
            return {
                "host": host,
                "generation": gen,
                "ports": ports,
                "networks": networks,
                "routers": routers,
                **filters,
            }

        return await self._document(since, moved, read)

    async def dhcp_state(
        self,
        ctx: Context,
        host: str,
        since: int | None = None,
        wait: float = 0,
        gone: Callable[[], Awaitable[bool]] | None = None,
    ) -> dict:
        moved = await self.wait_for(host, since, wait, dhcp=True, gone=gone)

        async def read(conn: AsyncConnection) -> dict:
            gen = await hoststate.generation(conn, host, dhcp=True)
            return {"host": host, "generation": gen, "networks": await documents.dhcp_state(conn, host)}

        return await self._document(since, moved, read)

    # --- L3 status (quark.services.dataplane.l3_status) -----------------------------------

    async def l3_status(
        self,
        ctx: Context,
        host: str,
        routers: dict[str, str],
        floating_ips: dict[str, str],
        ha_states: dict[str, str] | None = None,
    ) -> dict[str, list[str]]:
        async def work(conn: AsyncConnection) -> dict[str, list[str]]:
            taken = await l3_status.apply(conn, self.clock, host, routers, floating_ips)
            if ha_states:
                taken["ha_states"] = await l3_ha.record_reported(conn, host, ha_states)
            return taken

        return await self.db.run_write(work)

    # --- port status --------------------------------------------------------------------

    async def port_status(self, ctx: Context, host: str, statuses: dict[str, str]) -> list[str]:
        """Apply an agent's report for the ports bound to ``host``; the ids accepted.

        Ports not bound (to a bridge) on that host are ignored; ACTIVE is
        refused for admin-down ports. A compute port turning ACTIVE queues a
        ``network-vif-plugged`` event, one turning ERROR a failed one."""
        if not statuses:
            return []

        async def work(conn: AsyncConnection) -> list[str]:
            rows = (
                await conn.execute(
                    select(p)
                    .where(
                        p.c.id.in_(sorted(statuses)),
                        p.c.binding_host_id == host,
                        p.c.binding_vif_type == BRIDGE,
                    )
                    .order_by(p.c.id)
                    .with_for_update()
                )
            ).all()
            accepted, changed = [], False
            for row in rows:
                status = statuses[row.id]
                if status == "ACTIVE" and not row.admin_state_up:
                    continue
                accepted.append(row.id)
                if status == row.status:
                    continue
                changed = True
                await conn.execute(
                    update(p)
                    .where(p.c.id == row.id)
                    .values(status=status, revision_number=p.c.revision_number + 1, updated_at=self.clock())
                )
                if owners.is_compute(row.device_owner) and status in ("ACTIVE", "ERROR"):
                    await self.nova.queue(
                        conn,
                        "network-vif-plugged",
                        row.device_id,
                        row.id,
                        "completed" if status == "ACTIVE" else "failed",
                    )
            if changed:
                await hoststate.bump(conn, [host])
            return accepted

        return await self.db.run_write(work)
