"""Local leases of a project's budget: the rate-limit check without a round trip.

Each worker process takes requests of a (project, class) budget from Redis in
batches (``RedisGcra.lease``: up to ``size`` at once, charged to the shared
GCRA key like that many requests) and spends them here, in O(1) and with no
I/O. When a budget is down to half its lease, a task tops it up to ``size``
in the background, so the round trip leaves the request path; a request waits
for Redis only when its budget is empty (the first request of a project, a
burst faster than one round trip, or a budget that Redis refuses).

Bounds (docs/rate_limits.md): a process holds at most ``size`` unspent
requests per (project, class), so over any window a project gets at most
``limit + processes × size`` requests of a class, and a request can be refused
while at most ``processes × size`` sit unspent in other processes. A refusal
is kept until its ``retry_after`` (GCRA never frees a request earlier) and
answered locally meanwhile. Budgets unused for a whole period are dropped
(their unspent requests were charged more than a period ago: nothing is lost).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from quark.ratelimits.gcra import Grant, Rate, Verdict

SWEEP_INTERVAL = 60.0  # seconds between two sweeps of idle budgets


class LeaseStore(Protocol):
    async def lease(self, project_id: str, kind: str, rate: Rate, want: int) -> Grant: ...


class Guard(Protocol):
    """Fail-open (``limiter.FailOpen``): counts a failed lease; whether the store is left alone now."""

    def failed(self, exc: BaseException) -> None: ...

    def skipping(self) -> bool: ...


def lease_size(rate: Rate, cap: int) -> int:
    """Requests per lease: at most 1% of the class's budget and at most ``cap``
    (below 2, the class is checked exactly, one round trip per request)."""
    return min(cap, rate.count // 100)


@dataclass
class Budget:
    """One (project, class) as this process sees it; times on the local monotonic clock."""

    rate: Rate
    size: int
    left: int = 0  # leased and not yet spent
    remaining: int = 0  # what Redis said was left beyond the lease, at the last lease
    full_at: float = 0.0  # when Redis's budget was whole again, as of the last lease
    refused_until: float = 0.0
    used: float = 0.0
    refill: asyncio.Task | None = field(default=None, repr=False)

    def verdict(self, now: float) -> Verdict:
        """Headers: unspent leased requests count as remaining, not as charged."""
        reset = max(0.0, self.full_at - now - self.left * self.rate.period / self.rate.count)
        retry_after = 0.0 if self.left else max(0.0, self.refused_until - now)
        return Verdict(self.rate.count, self.remaining + self.left, reset, retry_after)

    def refused(self, now: float) -> bool:
        return not self.left and self.refused_until > now


class Leases:
    """Every budget this process holds; ``take`` decides a request locally when it can."""

    def __init__(
        self,
        store: LeaseStore,
        cap: int,
        guard: Guard,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.cap = cap
        self.guard = guard
        self.clock = clock
        self.budgets: dict[tuple[str, str], Budget] = {}
        self.next_sweep = clock() + SWEEP_INTERVAL

    def leased(self, rates: dict[str, Rate]) -> bool:
        """Whether every class of a request is leased (else it is checked exactly)."""
        return all(lease_size(rate, self.cap) > 1 for rate in rates.values())

    def budget(self, project_id: str, kind: str, rate: Rate, now: float) -> Budget:
        budget = self.budgets.get((project_id, kind))
        if budget is None or budget.rate != rate:
            if now >= self.next_sweep:
                self.sweep(now)
            budget = self.budgets[(project_id, kind)] = Budget(rate, lease_size(rate, self.cap))
        budget.used = now
        return budget

    def take(self, project_id: str, rates: dict[str, Rate]) -> tuple[bool, dict[str, Verdict]] | None:
        """Spend one request of every class, or of none: (allowed, verdicts), or None
        when a budget is empty and Redis must be asked first (``fill``)."""
        now = self.clock()
        budgets = {kind: self.budget(project_id, kind, rate, now) for kind, rate in rates.items()}
        refused = {kind: b.verdict(now) for kind, b in budgets.items() if b.refused(now)}
        if refused:
            return False, refused
        if any(not b.left for b in budgets.values()):
            return None
        verdicts = {}
        for kind, b in budgets.items():
            b.left -= 1
            verdicts[kind] = b.verdict(now)
            if b.left * 2 <= b.size and b.refill is None and not self.guard.skipping():
                b.refill = asyncio.get_running_loop().create_task(self._refill(project_id, kind, b))
        return True, verdicts

    async def fill(self, project_id: str, rates: dict[str, Rate]) -> None:
        """Wait until every empty budget of the request has been asked once more."""
        now = self.clock()
        waits = []
        for kind, rate in rates.items():
            b = self.budget(project_id, kind, rate, now)
            if not b.left and not b.refused(now):
                if b.refill is None:
                    b.refill = asyncio.get_running_loop().create_task(self._refill(project_id, kind, b))
                waits.append(b.refill)
        if waits:  # shielded: a client that goes away does not cancel the others' lease
            await asyncio.shield(asyncio.gather(*waits))

    async def _refill(self, project_id: str, kind: str, b: Budget) -> None:
        try:
            grant = await self.store.lease(project_id, kind, b.rate, b.size - b.left)
        except Exception as exc:  # noqa: BLE001 - the store failed: the caller serves unlimited
            self.guard.failed(exc)
            return
        finally:
            b.refill = None
        now = self.clock()
        b.left += grant.granted
        b.remaining, b.full_at = grant.remaining, now + grant.reset
        if not grant.granted:
            b.refused_until = now + grant.retry_after

    def sweep(self, now: float) -> None:
        """Drop the budgets no request used for a period (and with no lease under way)."""
        self.next_sweep = now + SWEEP_INTERVAL
        idle = [k for k, b in self.budgets.items() if b.refill is None and now - b.used > b.rate.period]
        for key in idle:
            del self.budgets[key]

    async def close(self) -> None:
        tasks = [b.refill for b in self.budgets.values() if b.refill is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
