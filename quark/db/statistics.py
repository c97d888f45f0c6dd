"""Planner statistics of Quark's own tables, kept fresh on PostgreSQL.

PostgreSQL plans every statement from table statistics that only ``ANALYZE``
refreshes (autovacuum runs it after about 10% of a table changed, when it
gets round to it). A table that grows faster than that, or a server with
autovacuum off, is planned as the small table it once was: with 20,000
ports bulk-created into one network and never analyzed, the DHCP-host lookup
of every port create (``hoststate.dhcp_hosts``: network_id = N AND
device_owner = 'network:dhcp') took ``ix_ports_network_id`` and read every
port of the network instead of the network's one or two DHCP ports, and a
single port create took 2.5 times as long as on an empty database. (The IP
reuse lookup, which read whole subnets the same way, is now written so that
no statistics make it do so: ``ip_allocator._reuse_select``.)

``StatisticsKeeper`` does what autovacuum's analyze would, for Quark's tables
only and without waiting for it: every ``interval`` seconds each server
process reads ``pg_stat_user_tables`` (one small query) and ANALYZEs the
tables changed by more than ``THRESHOLD + SCALE * rows`` since their last
analyze (autovacuum's default rule). One process at a time does it (an
advisory lock; the others skip that round); where autovacuum keeps up it has
already analyzed them and the check finds nothing. ANALYZE samples a fixed
number of rows, so it costs tens of milliseconds whatever the table's size,
and it blocks no reads or writes.

MariaDB needs no keeper: InnoDB recalculates a table's persistent statistics
itself once 10% of its rows changed (``innodb_stats_auto_recalc``, on by
default), and its optimizer estimates conditions on constants by diving into
the index. SQLite is left alone (its planner without ``sqlite_stat1``
assumes an indexed equality finds a few rows, which suits Quark's lookups).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from quark.db import models
from quark.db.engine import Database

LOG = logging.getLogger(__name__)

# autovacuum_analyze_threshold and autovacuum_analyze_scale_factor, PostgreSQL's defaults.
THRESHOLD = 50
SCALE = 0.1
INTERVAL = 5.0
# pg_try_advisory_xact_lock key: one analyzing process at a time ("quark-an").
LOCK_KEY = 0x717561726B2D616E

# reltuples is -1 for a table never analyzed: it counts as empty, so 50 changes trigger.
_CHANGED = text(
    "SELECT s.relname, s.n_mod_since_analyze FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
    "WHERE s.schemaname = current_schema() "
    "AND s.n_mod_since_analyze > :threshold + :scale * greatest(c.reltuples, 0)"
)


async def stale_tables(db: Database) -> list[str]:
    """Quark's tables changed enough since their last analyze to need another,
    by name; always empty on other databases than PostgreSQL.

    ``pg_stat_user_tables`` lags the writes a little: a backend publishes its
    counts at most once a second, when idle.
    """
    if db.dialect != "postgresql":
        return []
    own = set(models.Base.metadata.tables)
    async with db.read() as conn:
        rows = (await conn.execute(_CHANGED, {"threshold": THRESHOLD, "scale": SCALE})).all()
    return sorted(name for name, _ in rows if name in own)


async def analyze_stale(db: Database) -> list[str]:
    """ANALYZE Quark's stale tables (``stale_tables``); the tables analyzed.

    Nothing when another process holds the keeper's lock, or when a table's
    lock is not free within a second (autovacuum or a schema change on it):
    the next round sees the table still stale.
    """
    tables = await stale_tables(db)
    if not tables:
        return []
    try:
        async with db.write() as conn:
            if not await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}):
                return []
            await conn.execute(text("SET LOCAL lock_timeout = '1s'"))
            quote = conn.dialect.identifier_preparer.quote
            await conn.execute(text("ANALYZE " + ", ".join(quote(t) for t in tables)))
    except DBAPIError as exc:
        if "lock timeout" not in str(exc):
            raise
        LOG.info("planner statistics not refreshed this round: a table is locked")
        return []
    return tables


class StatisticsKeeper:
    """The background task of a server process: ``analyze_stale`` every ``interval`` seconds."""

    def __init__(self, db: Database, interval: float = INTERVAL) -> None:
        self.db = db
        self.interval = interval

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set; a failed round is logged and the next one runs."""
        while not stop.is_set():
            try:
                analyzed = await analyze_stale(self.db)
                if analyzed:
                    LOG.info("analyzed %s", ", ".join(analyzed))
            except Exception:
                LOG.exception("refreshing planner statistics failed")
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except TimeoutError:
                pass
