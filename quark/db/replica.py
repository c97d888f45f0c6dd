"""A PostgreSQL streaming replica for the reads that tolerate replication lag.

``database_replica_url`` names a hot standby of the primary. ``Database.read
(lag_ok=True)`` (lists, the agents' long-poll watches, IP availability, the
dashboard's counts) asks ``ReplicaRouter.connection`` for a connection to it,
and gets one only when all of these hold, else the read runs on the primary:

- the replica answers (a refused or failed connection, or a failed probe,
  keeps it out for ``DOWN_PAUSE`` seconds; the probe brings it back);
- it is within ``replica_max_lag`` seconds of the primary: it has replayed
  what the primary had flushed that long ago. The probe samples the
  primary's flushed position every ``interval`` and the replica's replayed
  one just after, so the lag is measured in positions, with no clock shared
  between the servers, and an idle primary is no lag;
- it has replayed the request's ``ReadHint.after`` (quark.db.consistency):
  the position after the last write of the request's client, known to this
  process (``last_write``, per client) or carried back by the client in its
  token. That check runs on the connection the read then uses, as its first
  statement, so the read's statements (each a snapshot taken after it) see
  every commit up to that position: the client's own writes.

After each committed write of a request, ``committed`` takes the primary's
WAL insert position (at or past the commit record whatever
``synchronous_commit`` is) as the client's new ``after``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from quark import metrics
from quark.db.consistency import HINT

LOG = logging.getLogger(__name__)

DOWN_PAUSE = 1.0  # seconds a replica that failed is not tried by reads (the probe goes on)
CONNECT_TIMEOUT = 2.0  # seconds a connection to the replica or a probe may take
MAX_CLIENTS = 100_000  # clients whose last write position a process remembers (least recent forgotten)
# The position of a write whose commit position could not be read (the connection
# died just after its COMMIT): its client reads from the primary until its next write.
UNKNOWN = 2**63 - 1

# The insert position is at or past the commit record even with synchronous_commit off; at
# a page boundary it points past the next page's header, which a replica reaches only with
# the next WAL record (PostgreSQL logs one at least every 15 s): the client then reads from
# the primary a little longer, never from a replica without its write.
_INSERT_LSN = text("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
_FLUSH_LSN = text("SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint")
# NULL on a server that is not in recovery: not a standby, never used as one.
_REPLAY_LSN = text("SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint")


class ReplicaRouter:
    """The replica's engine, what is known of its lag, and each client's last write."""

    def __init__(
        self,
        url: str,
        primary: AsyncEngine,
        *,
        max_lag: float,
        pool_size: int,
        max_overflow: int,
        clock: Callable[[], float] = time.monotonic,
        engine_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=False,  # the replay check is every read's first statement
            pool_recycle=3600,
            connect_args={"timeout": CONNECT_TIMEOUT},
            **(engine_kwargs or {}),
        )
        self.primary = primary
        self.max_lag = max_lag
        self.interval = min(0.5, max(0.05, max_lag / 4))  # seconds between probes
        self.clock = clock
        self.samples: deque[tuple[float, int]] = deque()  # (time, primary's flushed position), oldest first
        self.replayed = 0  # the highest replayed position seen on the replica
        self.checked_at: float | None = None  # when the replica last answered a probe
        self.down_until = 0.0
        self.last_write: OrderedDict[str, int] = OrderedDict()

    # --- the write side -----------------------------------------------------------

    async def committed(self, conn: AsyncConnection) -> None:
        """After a commit on ``conn`` (the primary): the request's client must read past it."""
        hint = HINT.get()
        if hint is None:
            return  # not a client's request (a periodic task): nobody reads after it
        try:
            lsn = int((await conn.execute(_INSERT_LSN)).scalar_one())
            if conn.in_transaction():
                await conn.rollback()
        except Exception as exc:  # noqa: BLE001 - committed all the same: never re-run it
            LOG.warning("could not read the WAL position after a commit: %s", exc)
            lsn = UNKNOWN
        hint.raise_to(lsn)
        self.remember(hint.client, lsn)

    def remember(self, client: str, lsn: int) -> None:
        previous = self.last_write.pop(client, 0)
        # A known position after an unknown one: the later commit is past it.
        self.last_write[client] = lsn if previous == UNKNOWN else max(lsn, previous)
        if len(self.last_write) > MAX_CLIENTS:
            self.last_write.popitem(last=False)

    def token(self, client: str, after: int) -> int:
        """The position ``client``'s reads must reflect (0: none; UNKNOWN: the primary's)."""
        return max(after, self.last_write.get(client, 0))

    # --- the read side ------------------------------------------------------------

    def within_lag(self, now: float) -> bool:
        """Whether the replica (as last probed) has what the primary had ``max_lag`` seconds ago."""
        if self.checked_at is None or now - self.checked_at > max(self.max_lag, 4 * self.interval):
            return False  # no recent answer: its lag is unknown
        if not self.samples:
            return False
        cutoff = now - self.max_lag
        needed = self.samples[0][1]
        for taken, lsn in self.samples:
            if taken > cutoff:
                break
            needed = lsn
        return self.replayed >= needed

    async def connection(self) -> AsyncConnection | None:
        """A connection to the replica fit for this request's lag-tolerant read, or None (use the primary)."""
        conn = await self._fit_connection()
        metrics.DB_LAGGING_READS.labels("primary" if conn is None else "replica").inc()
        return conn

    async def _fit_connection(self) -> AsyncConnection | None:
        hint = HINT.get()
        after = self.token(hint.client, hint.after) if hint is not None else 0
        now = self.clock()
        if now < self.down_until or not self.within_lag(now):
            return None
        conn: AsyncConnection | None = None
        try:
            conn = await asyncio.wait_for(self.engine.connect(), CONNECT_TIMEOUT)
            replayed = (await conn.execute(_REPLAY_LSN)).scalar_one()
        except Exception as exc:  # noqa: BLE001 - refused, reset, timed out: the primary answers
            self._failed(exc)
            if conn is not None:
                await _close(conn)
            return None
        if replayed is None or int(replayed) < after:
            if replayed is None:
                self._failed(RuntimeError("the replica is not in recovery (not a standby)"))
            await _close(conn)
            return None
        self.replayed = max(self.replayed, int(replayed))
        return conn

    def _failed(self, exc: BaseException) -> None:
        if self.clock() >= self.down_until:
            LOG.warning(
                "read replica unavailable, reads go to the primary: %s", (str(exc).splitlines() or [repr(exc)])[0]
            )
        self.down_until = self.clock() + DOWN_PAUSE

    # --- the probe ----------------------------------------------------------------

    async def probe(self) -> None:
        """Sample the primary's flushed position, then the replica's replayed one."""
        async with self.primary.connect() as conn:
            flushed = int((await conn.execute(_FLUSH_LSN)).scalar_one())
            await conn.rollback()
        now = self.clock()
        self.samples.append((now, flushed))
        cutoff = now - self.max_lag
        while len(self.samples) > 1 and self.samples[1][0] <= cutoff:
            self.samples.popleft()  # the newest sample at or before the cutoff stays
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT), self.engine.connect() as conn:
                replayed = (await conn.execute(_REPLAY_LSN)).scalar_one()
                await conn.rollback()
        except Exception as exc:  # noqa: BLE001 - the replica is down: reads stay on the primary
            self._failed(exc)
            return
        if replayed is None:
            self._failed(RuntimeError("the replica is not in recovery (not a standby)"))
            return
        self.replayed = max(self.replayed, int(replayed))
        self.checked_at = self.clock()
        self.down_until = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Probe every ``interval`` seconds until ``stop`` (a task of each server process)."""
        while not stop.is_set():
            try:
                await self.probe()
            except Exception as exc:  # noqa: BLE001 - the primary is down: the requests will say so
                LOG.debug("replica probe: primary unavailable: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except TimeoutError:
                pass

    async def dispose(self) -> None:
        await self.engine.dispose()


async def _close(conn: AsyncConnection) -> None:
    try:
        await conn.close()
    except Exception:
        LOG.debug("closing a failed replica connection", exc_info=True)
