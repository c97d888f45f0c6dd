"""Sending the Nova events outbox (``nova_events``), in the background.

``EventDispatcher.run`` is started with the application when
``nova_events_url`` is set (one per worker process). Each round it *leases*
the due events in a short transaction (``FOR UPDATE SKIP LOCKED``, so two
workers never take the same rows; the lease moves ``next_attempt_at`` past the
POST's timeout), posts them in one request outside any transaction, then
records the outcome:

- 2xx: sent;
- 4xx other than 429: failed for good (Nova will not take it; retrying is useless);
- anything else (5xx, 429, no answer): retried after ``nova_events_retry_delay``
  seconds, doubled per attempt up to ``nova_events_retry_max_delay``.

The sender is an ``EventSender`` so tests (or another compute service) can
replace the HTTP one.

With a ``[nova]`` table (keystoneauth1 options of a service user, as
Neutron's ``[nova]`` section) every POST carries that user's token
(``X-Auth-Token``, renewed by keystoneauth1 before it expires; a 401 makes the
next attempt fetch a new one), and without ``nova_events_url`` the URL is
the catalog's compute endpoint (``region_name``, ``endpoint_type``) +
``/os-server-external-events``. Without the table no token is sent.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import metrics
from quark.db import models
from quark.keystone import ServiceAuth, from_options

LOG = logging.getLogger(__name__)
ev = models.nova_events

BATCH = 50
IDLE_INTERVAL = 0.5


def now() -> datetime:
    """Naive UTC with microseconds (retry delays can be shorter than a second)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    retry: bool = False
    error: str = ""


class EventSender(Protocol):
    async def send(self, events: list[dict]) -> SendResult:
        """Deliver ``events`` (Nova's os-server-external-events items) at once."""


EVENTS_PATH = "/os-server-external-events"


class HttpEventSender:
    """POSTs ``{"events": [...]}`` to Nova's os-server-external-events URL."""

    def __init__(self, url: str, timeout: float, auth: ServiceAuth | None = None) -> None:
        self.url = url
        self.auth = auth
        self.client = httpx.AsyncClient(timeout=timeout)

    @classmethod
    def from_settings(cls, settings) -> HttpEventSender:
        auth = from_options(settings.nova) if settings.nova else None
        return cls(settings.nova_events_url, settings.nova_events_timeout, auth)

    async def _headers(self) -> dict[str, str]:
        if self.auth is None:
            return {}
        if not self.url:  # the catalog's compute endpoint (the token request gives the catalog)
            self.url = await asyncio.to_thread(self.auth.endpoint, "compute") + EVENTS_PATH
        token = await asyncio.to_thread(self.auth.token) if self.auth.needs_keystone() else self.auth.token()
        return {"X-Auth-Token": token}

    async def send(self, events: list[dict]) -> SendResult:
        try:
            headers = await self._headers()
        except Exception as exc:  # noqa: BLE001 - keystoneauth1's errors: Keystone down, bad credentials
            return SendResult(False, True, f"Keystone: {type(exc).__name__}: {exc}"[:255])
        try:
            response = await self.client.post(self.url, json={"events": events}, headers=headers)
        except httpx.HTTPError as exc:
            return SendResult(False, True, f"{type(exc).__name__}: {exc}"[:255])
        if 200 <= response.status_code < 300:
            return SendResult(True)
        error = f"HTTP {response.status_code}: {response.text[:200]}"
        if response.status_code == 401 and self.auth is not None:
            self.auth.invalidate()  # a revoked or expired token: the retry gets a new one
            return SendResult(False, True, error)
        return SendResult(False, response.status_code == 429 or response.status_code >= 500, error)

    async def close(self) -> None:
        await self.client.aclose()


class EventDispatcher:
    def __init__(self, db, settings, sender: EventSender, clock=now) -> None:
        self.db = db
        self.sender = sender
        self.clock = clock
        self.delay = settings.nova_events_retry_delay
        self.max_delay = settings.nova_events_retry_max_delay
        self.lease = timedelta(seconds=settings.nova_events_timeout + 30)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; errors are logged and the loop goes on."""
        while not stop.is_set():
            try:
                sent = await self.run_once()
            except Exception:
                LOG.exception("sending Nova events failed")
                sent = 0
            await self.count_pending()
            if not sent:
                try:
                    await asyncio.wait_for(stop.wait(), IDLE_INTERVAL)
                except TimeoutError:
                    pass

    async def count_pending(self) -> None:
        """``quark_nova_events_outbox_pending``: the outbox's pending rows, after each round."""
        try:
            async with self.db.read() as conn:
                pending = await conn.scalar(select(func.count()).select_from(ev).where(ev.c.state == "pending"))
        except Exception:  # the gauge keeps its value; the next round counts again
            LOG.debug("counting the Nova events outbox failed", exc_info=True)
            return
        metrics.NOVA_OUTBOX_DEPTH.set(pending or 0)

    async def run_once(self) -> int:
        """One round: lease, send and record the due events; how many were due."""
        rows = await self.db.run_write(self._lease)
        if not rows:
            return 0
        events = [{"name": r.name, "server_uuid": r.server_uuid, "tag": r.tag, "status": r.status} for r in rows]
        result = await self.sender.send(events)
        ids = [r.id for r in rows]

        async def record(conn: AsyncConnection) -> None:
            when = self.clock()
            if result.ok:
                await conn.execute(update(ev).where(ev.c.id.in_(ids)).values(state="sent", sent_at=when, last_error=""))
                return
            if not result.retry:
                LOG.warning("Nova refused events %s: %s", ids, result.error)
                await conn.execute(
                    update(ev).where(ev.c.id.in_(ids)).values(state="failed", last_error=result.error[:255])
                )
                return
            for row in rows:  # attempts were counted by the lease
                backoff = min(self.max_delay, self.delay * 2 ** max(0, row.attempts))
                await conn.execute(
                    update(ev)
                    .where(ev.c.id == row.id)
                    .values(next_attempt_at=when + timedelta(seconds=backoff), last_error=result.error[:255])
                )

        await self.db.run_write(record)
        return len(rows)

    async def _lease(self, conn: AsyncConnection) -> list:
        when = self.clock()
        stmt = select(ev).where(ev.c.state == "pending", ev.c.next_attempt_at <= when).order_by(ev.c.id).limit(BATCH)
        if conn.dialect.name != "sqlite":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = (await conn.execute(stmt)).all()
        if rows:
            await conn.execute(
                update(ev)
                .where(ev.c.id.in_([r.id for r in rows]))
                .values(attempts=ev.c.attempts + 1, next_attempt_at=when + self.lease)
            )
        return list(rows)
