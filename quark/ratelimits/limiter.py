"""Which limits a request counts against, and fail-open around the store.

Three classes of operation, each a number of requests per ``rate_limit_period``
seconds for one project: ``reads`` (GET, HEAD, OPTIONS), ``writes`` (every other method)
and ``allocations`` (creates that take IP addresses; such a request is a write
too). A request is charged to all of its classes at once, or to none when any
of them is spent (then it is refused). Callers holding an exempt role (default: admin, service), in their
token or in a service token sent beside it, are never limited.

The store is shared (Redis), so a failure there must not become an outage of the
API: a failed check lets the request through, counts
``quark_rate_limit_store_errors_total``, logs at most one line per
``LOG_INTERVAL`` and leaves the store alone for ``RETRY_INTERVAL`` (a Redis that
black-holes packets would otherwise cost every request its socket timeout).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from quark import metrics
from quark.config import Settings
from quark.ratelimits.gcra import Grant, Rate, RedisGcra, Verdict
from quark.ratelimits.lease import Leases

LOG = logging.getLogger(__name__)

READS, WRITES, ALLOCATIONS = "reads", "writes", "allocations"
CLASSES = (READS, WRITES, ALLOCATIONS)
# Seconds the store is not asked after it failed, and between two log lines about it.
RETRY_INTERVAL = 1.0
LOG_INTERVAL = 60.0


class Store(Protocol):
    async def hit(self, project_id: str, rates: dict[str, Rate]) -> tuple[bool, dict[str, Verdict]]: ...

    async def lease(self, project_id: str, kind: str, rate: Rate, want: int) -> Grant: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """The answer to one request: allowed or not, and the class its headers describe."""

    allowed: bool
    kind: str
    verdict: Verdict
    waited: bool = False  # the request waited for the store (an exact class, or an empty lease)


def class_rates(counts: Mapping[str, Any], period: float) -> dict[str, Rate]:
    """The limited classes of ``counts`` (a count of 0 or less: that class is not limited)."""
    return {kind: Rate(int(counts[kind]), period) for kind in CLASSES if int(counts.get(kind, 0)) > 0}


def headline(allowed: bool, verdicts: dict[str, Verdict]) -> tuple[str, Verdict]:
    """The class a response speaks of: the refusing one that lasts longest, else the
    one closest to refusing (fewest left; the smaller limit on a tie)."""
    if not allowed:
        refusing = {k: v for k, v in verdicts.items() if v.retry_after > 0}
        return max(refusing.items(), key=lambda item: item[1].retry_after)
    return min(verdicts.items(), key=lambda item: (item[1].remaining, item[1].limit))


class FailOpen:
    """Remembers a failing store: when to ask it again, and when to say so in the log."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.skip_until = 0.0
        self.next_log = 0.0
        self.unlogged = 0

    def skipping(self) -> bool:
        return self.clock() < self.skip_until

    def failed(self, exc: BaseException) -> None:
        metrics.RATE_LIMIT_STORE_ERRORS.inc()
        now = self.clock()
        self.skip_until = now + RETRY_INTERVAL
        self.unlogged += 1
        if now >= self.next_log:
            LOG.warning(
                "rate-limit store failed (%d time(s) since the last line): %s; requests are served unlimited",
                self.unlogged,
                exc or type(exc).__name__,
            )
            self.next_log, self.unlogged = now + LOG_INTERVAL, 0


class RateLimiter:
    def __init__(
        self,
        store: Store,
        rates: dict[str, Rate],
        overrides: Mapping[str, dict[str, Rate]] | None = None,
        exempt_roles: Iterable[str] = ("admin", "service"),
        clock: Callable[[], float] = time.monotonic,
        lease: int = 0,
    ) -> None:
        """``lease``: at most that many requests of a class taken from the store at once
        and spent in this process (``quark.ratelimits.lease``); below 2, every request
        is checked in the store."""
        self.store = store
        self.rates = rates
        self.overrides = dict(overrides or {})
        self.exempt_roles = frozenset(exempt_roles)
        self.guard = FailOpen(clock)
        self.leases = Leases(store, lease, self.guard, clock)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter | None:
        """The limiter the settings ask for; None when limits are off or no store is configured."""
        if not settings.rate_limit_enabled or not settings.rate_limit_redis_url:
            return None
        period = settings.rate_limit_period
        defaults = {
            READS: settings.rate_limit_reads,
            WRITES: settings.rate_limit_writes,
            ALLOCATIONS: settings.rate_limit_allocations,
        }
        overrides = {
            project: class_rates({**defaults, **counts}, period)
            for project, counts in settings.rate_limit_overrides.items()
        }
        roles = (r.strip().lower() for r in settings.rate_limit_exempt_roles.split(","))
        store = RedisGcra(settings.rate_limit_redis_url, settings.rate_limit_redis_timeout)
        rates, exempt = class_rates(defaults, period), [r for r in roles if r]
        return cls(store, rates, overrides, exempt, lease=settings.rate_limit_lease)

    def exempt(self, roles: frozenset[str], service_roles: frozenset[str] = frozenset()) -> bool:
        return bool(self.exempt_roles & (roles | service_roles))

    def rates_for(self, project_id: str, kinds: Iterable[str]) -> dict[str, Rate]:
        rates = self.overrides.get(project_id, self.rates)
        return {kind: rates[kind] for kind in kinds if kind in rates}

    async def check(self, project_id: str, kinds: Iterable[str]) -> Outcome | None:
        """Charge one request of ``project_id``; None when nothing limits it (no limited
        class, or the store failing: the request goes through)."""
        rates = self.rates_for(project_id, kinds)
        if not rates:
            return None
        if self.leases.leased(rates):
            if (decided := self.leases.take(project_id, rates)) is not None:  # the fast path: no I/O
                return self._outcome(*decided)
            decided = await self._leased(project_id, rates)
        else:
            decided = await self._exact(project_id, rates)
        if decided is None:
            return None
        metrics.RATE_LIMIT_STORE_WAITS.inc()
        return self._outcome(*decided, waited=True)

    @staticmethod
    def _outcome(allowed: bool, verdicts: dict[str, Verdict], waited: bool = False) -> Outcome:
        kind, verdict = headline(allowed, verdicts)
        if not allowed:
            metrics.RATE_LIMIT_REFUSALS.labels(kind).inc()
        return Outcome(allowed, kind, verdict, waited)

    async def _exact(self, project_id: str, rates: dict[str, Rate]) -> tuple[bool, dict[str, Verdict]] | None:
        """One round trip: the store decides every class of the request at once."""
        if self.guard.skipping():
            return None
        try:
            return await self.store.hit(project_id, rates)
        except Exception as exc:  # noqa: BLE001 - any store failure: serve the request
            self.guard.failed(exc)
            return None

    async def _leased(self, project_id: str, rates: dict[str, Rate]) -> tuple[bool, dict[str, Verdict]] | None:
        """A budget of the request is empty: wait for its lease (and again, as long as
        concurrent requests take what arrives), or serve unlimited if the store fails."""
        while True:
            if self.guard.skipping():  # the store failed (now or lately): serve the request
                return None
            await self.leases.fill(project_id, rates)
            if (decided := self.leases.take(project_id, rates)) is not None:
                return decided

    async def close(self) -> None:
        await self.leases.close()
        await self.store.close()
