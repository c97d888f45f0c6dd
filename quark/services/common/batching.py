"""Group commit for single-port creates.

On this kind of machine a database round trip costs far more than the
Python around it (a port create is ~10 statements; a bulk create of 100
ports is barely more), so concurrent single-port POSTs that reach the same
process are run together: while a create transaction of a caller is in
flight, the next requests of the same caller (same project, roles, user)
queue, and the next transaction takes them all through the bulk path
(``PortService.create_ports_in``). Under no concurrency nothing waits: a request
that finds nothing in flight starts at once.

Each request keeps its own outcome. A batch that fails for any reason is
run again one request at a time, so a request that would fail alone (409
for a MAC in use, an exhausted subnet, a network it cannot see) fails alone
with its own error, and the others are created as if sent one by one. A
request's ports are all-or-nothing as before; the batch is one transaction.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from quark.context import Context

MAX_BATCH_ITEMS = 64
MAX_IN_FLIGHT = 2  # concurrent batch transactions per caller and process


@dataclass
class _Pending:
    ctx: Context
    items: list[dict]
    future: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class CreateBatcher:
    def __init__(
        self, run: Callable[[list[tuple[Context, list[dict]]]], Awaitable[list[dict]]], max_items: int = MAX_BATCH_ITEMS
    ) -> None:
        # Creates the items of every (ctx, items) request in one transaction; their views in order.
        self._run = run
        self.max_items = max_items
        self._queues: dict[tuple, deque[_Pending]] = {}
        self._in_flight: dict[tuple, int] = {}
        self.batches = 0
        self.batched_requests = 0
        self.fallbacks = 0

    @staticmethod
    def key(ctx: Context) -> tuple:
        return ctx.project_id, ctx.roles, ctx.is_admin, ctx.user_id

    async def submit(self, ctx: Context, items: list[dict]) -> list[dict]:
        key = self.key(ctx)
        pending = _Pending(ctx, items)
        self._queues.setdefault(key, deque()).append(pending)
        if self._in_flight.get(key, 0) < MAX_IN_FLIGHT:
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            asyncio.get_running_loop().create_task(self._drain(key))
        return await pending.future

    async def _drain(self, key: tuple) -> None:
        try:
            queue = self._queues[key]
            while queue:
                batch = [queue.popleft()]
                size = len(batch[0].items)
                while queue and size + len(queue[0].items) <= self.max_items:
                    size += len(queue[0].items)
                    batch.append(queue.popleft())
                await self._run_batch(batch)
        finally:
            self._in_flight[key] -= 1
            if not self._in_flight[key]:
                del self._in_flight[key]
                if not self._queues.get(key):
                    self._queues.pop(key, None)

    async def _run_batch(self, batch: list[_Pending]) -> None:
        if len(batch) == 1:
            await self._run_alone(batch[0])
            return
        try:
            views = await self._run([(pending.ctx, pending.items) for pending in batch])
        except Exception:  # noqa: BLE001 - each request is run again alone, with its own outcome
            self.fallbacks += 1
            for pending in batch:
                await self._run_alone(pending)
            return
        self.batches += 1
        self.batched_requests += len(batch)
        start = 0
        for pending in batch:
            _resolve(pending, views[start : start + len(pending.items)])
            start += len(pending.items)

    async def _run_alone(self, pending: _Pending) -> None:
        try:
            result: Any = await self._run([(pending.ctx, pending.items)])
        except BaseException as exc:
            if not pending.future.done():
                pending.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        _resolve(pending, result)


def _resolve(pending: _Pending, value: list[dict]) -> None:
    if not pending.future.done():
        pending.future.set_result(value)
