"""One poll of the hosts' generations per server process, shared by all of its
long-poll waiters (issue 21, "Thousands of hosts").

Before, every waiting ``desired_state``/``dhcp_state`` request read its own
host's generation every 0.1 s: with 5,000 hosts (10,000 held requests) that
is 100,000 reads a second while nothing changes. Here one task per process
polls for all of them, and only while someone waits:

- every ``interval`` seconds one cheap *gate* statement over the change log
  (``host_changes``: its row count, largest id and id sum). Every committed
  change inserts a row, so the gate moves; a fold deletes rows but keeps
  every host's generation (``hoststate``), so a gate that moved only for a
  fold costs one needless re-read, never a wrong answer;
- when the gate moved (or every ``full_every`` seconds regardless: a fold and
  an out-of-order commit in one interval could in theory leave count, max
  and sum all equal), one statement reads every host's generation (bases
  plus counted changes, one snapshot) and wakes only the waiters of hosts
  whose generation moved.

So an idle fleet costs ``1 / interval`` small statements a second per
process, whatever its size, and a change wakes just the hosts it concerns.
A waiter takes only readings that *started* after it arrived (``ticket``):
one that started before may hold a snapshot older than what its client
already saw (the client's ``since`` came from a document read since).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import models
from quark.db.engine import Database
from quark.services.dataplane import hoststate

log = logging.getLogger(__name__)

hc = models.host_changes


async def gate(conn: AsyncConnection) -> tuple[int, int, int]:
    """(rows, largest id, id sum) of the change log: moves with every insert."""
    row = (
        await conn.execute(
            select(func.count(), func.coalesce(func.max(hc.c.id), 0), func.coalesce(func.sum(hc.c.id), 0))
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


@dataclass(eq=False)
class _Waiter:
    host: str
    dhcp: bool
    since: int
    ticket: int
    woken: asyncio.Event = field(default_factory=asyncio.Event)


class GenerationFeed:
    def __init__(self, db: Database, interval: float = 0.1, full_every: float = 5.0) -> None:
        self.db = db
        self.interval = interval
        self.full_every = full_every
        self._started = 0  # readings started so far: the next one's number
        self._generations: dict[str, tuple[int, int]] = {}
        self._new: list[_Waiter] = []  # not yet compared with a reading as new as their ticket
        self._by_host: dict[str, set[_Waiter]] = {}
        self._count = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        return self._count

    async def wait(self, host: str, dhcp: bool, since: int, timeout: float) -> bool:
        """Wait until the host's (DHCP) generation, as read by a reading that
        started after this call, is not ``since``; False after ``timeout``."""
        waiter = _Waiter(host, dhcp, since, self._started)
        self._new.append(waiter)
        self._count += 1
        self._ensure_running()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.woken.wait(), timeout)
            return waiter.woken.is_set()
        finally:
            self._count -= 1
            with contextlib.suppress(ValueError):
                self._new.remove(waiter)
            group = self._by_host.get(host)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self._by_host[host]

    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = asyncio.create_task(self._run(), name="generation feed")

    async def _run(self) -> None:
        """Read while anyone waits; stop when no one does (an idle process polls nothing)."""
        last_gate: tuple[int, int, int] | None = None
        last_full = float("-inf")
        loop = asyncio.get_running_loop()
        while self._count:
            number = self._started
            self._started += 1
            try:
                async with self.db.read() as conn:
                    now = loop.time()
                    current = await gate(conn)
                    if current != last_gate or now - last_full >= self.full_every:
                        fresh = await hoststate.generations(conn)
                        self._publish(number, fresh)
                        last_gate, last_full = current, now
                    else:
                        self._publish(number, None)
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup: the waiters keep waiting
                log.exception("generation feed reading failed")
                last_gate = None
            await asyncio.sleep(self.interval)

    def _publish(self, number: int, fresh: dict[str, tuple[int, int]] | None) -> None:
        """Reading ``number`` is done; ``fresh`` is None when nothing moved."""
        moved: set[str] = set()
        if fresh is not None:
            old = self._generations
            moved = {h for h in fresh.keys() | old.keys() if fresh.get(h) != old.get(h)}
            self._generations = fresh
        for host in moved:
            for waiter in list(self._by_host.get(host, ())):
                self._check(waiter)
        pending, self._new = self._new, []
        for waiter in pending:
            if waiter.ticket > number:  # this reading may have started before the waiter's own read
                self._new.append(waiter)
            elif not self._check(waiter):
                self._by_host.setdefault(waiter.host, set()).add(waiter)

    def _check(self, waiter: _Waiter) -> bool:
        generation = self._generations.get(waiter.host, (0, 0))[1 if waiter.dhcp else 0]
        if generation != waiter.since:
            waiter.woken.set()
            return True
        return False

    async def close(self) -> Any:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
