"""Engines, transactions and the retry boundary.

``Database.write()`` opens the one transaction of a mutation; ``read()`` a
read-only connection. On SQLite writes start with ``BEGIN IMMEDIATE`` so that
concurrent writers (several worker processes) queue on the file lock instead
of failing on a lock upgrade; the busy timeout makes them wait.

``Database.run_write`` re-runs a whole transaction when the database reports
a deadlock, a serialization failure or a lock timeout — the only retries in
Quark, bounded and counted.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from quark import errors, metrics
from quark.db import failover
from quark.db.replica import ReplicaRouter

LOG = logging.getLogger(__name__)
T = TypeVar("T")

MAX_TRANSACTION_ATTEMPTS = 8  # the default of Database(max_attempts=...), setting db_max_attempts
MAX_RETRY_DELAY = 0.5  # seconds: the cap of the jittered exponential pause between two attempts

# Error codes that mean "run the transaction again", where the driver gives one.
_RETRYABLE_CODES: frozenset[int | str] = frozenset(
    {
        1213,  # MySQL ER_LOCK_DEADLOCK; also a Galera certification failure at commit ("WSREP detected deadlock")
        1205,  # MySQL ER_LOCK_WAIT_TIMEOUT
        1047,  # MariaDB "WSREP has not yet prepared node for application use" (a node left the primary component)
        1020,  # MariaDB ER_CHECKREAD "Record has changed since last read" (snapshot isolation)
        "40001",  # PostgreSQL serialization_failure
        "40P01",  # PostgreSQL deadlock_detected
        "55P03",  # PostgreSQL lock_not_available (lock_timeout)
    }
)

# Substrings of driver messages that mean "run the transaction again" (drivers without codes: SQLite).
_RETRYABLE = (
    "deadlock",  # PostgreSQL "deadlock detected", MySQL 1213 "Deadlock found"
    "could not serialize",  # PostgreSQL 40001
    "lock wait timeout",  # MySQL 1205
    "due to lock timeout",  # PostgreSQL 55P03 "canceling statement due to lock timeout" (lock_timeout set)
    "database is locked",  # SQLite busy
    "record has changed since last read",  # MariaDB 1020 under snapshot isolation
    "wsrep detected deadlock/conflict",  # Galera brute-force abort, whatever the code
    "wsrep has not yet prepared node",  # MariaDB 1047
)


def _dumps(value) -> str:
    return orjson.dumps(value).decode()


# JSON columns (fixed lists and dicts on every port row) through orjson: the
# stdlib decoder was the largest single cost of rendering a port list.
_JSON = {"json_serializer": _dumps, "json_deserializer": orjson.loads}


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, errors.RetryRequest):
        return True
    if isinstance(exc, IntegrityError):
        return False
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True  # a stale pooled connection (or a dead node): it is discarded, the transaction re-run
        orig = exc.orig if exc.orig is not None else exc
        if failover.error_code(orig) in _RETRYABLE_CODES:
            return True
        text = str(orig).lower()
        return any(marker in text for marker in _RETRYABLE)
    return False


# Substrings of driver messages that mean "the database server is gone or refuses us".
_OUTAGE = (
    "connection refused",
    "connection reset",
    "connection was closed",  # asyncpg ConnectionDoesNotExistError
    "connection is closed",
    "terminating connection",  # PostgreSQL 57P01 admin shutdown / pg_terminate_backend
    "the database system is",  # PostgreSQL 57P03 starting up / shutting down
    "not currently accepting connections",  # PostgreSQL ALLOW_CONNECTIONS false
    "server closed the connection",
    "lost connection",  # MySQL 2013
    "server has gone away",  # MySQL 2006
    "can't connect",  # MySQL 2003
    "wsrep has not yet prepared node",  # MariaDB 1047: a Galera node outside the primary component
    "too many clients already",  # PostgreSQL 53300: max_connections reached (answer 503, not 500)
    "remaining connection slots are reserved",  # PostgreSQL 53300, the superuser reserve
    "too many connections",  # MySQL / MariaDB 1040
    "unable to open database file",  # SQLite: the file or its directory is gone
    "disk i/o error",
)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is unreachable (the request may succeed later)."""
    if isinstance(exc, (OSError, PoolTimeout)):  # refused/reset sockets, pool exhausted
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig if exc.orig is not None else exc
        if isinstance(orig, OSError):
            return True
        text = str(orig).lower()
        return any(marker in text for marker in _OUTAGE)
    text = f"{type(exc).__module__}.{type(exc).__name__}: {exc}".lower()
    # Driver exceptions that escape SQLAlchemy's wrapping (asyncpg's own on connect).
    return text.startswith(("asyncpg.", "asyncmy.", "aiosqlite.")) and any(marker in text for marker in _OUTAGE)


def _count_checkouts(engine: AsyncEngine) -> None:
    """``quark_db_pool_connections_in_use`` follows the pool's checkouts and checkins."""
    event.listen(engine.sync_engine.pool, "checkout", lambda *_: metrics.DB_POOL_IN_USE.inc())
    event.listen(engine.sync_engine.pool, "checkin", lambda *_: metrics.DB_POOL_IN_USE.dec())


class Database:
    """Owns the engines of one database URL (of several hosts: quark.db.failover)."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 20,
        echo: bool = False,
        max_attempts: int = MAX_TRANSACTION_ATTEMPTS,
        replica_url: str = "",
        replica_max_lag: float = 5.0,
    ) -> None:
        hosts = failover.split_hosts(url)
        self.max_attempts = max(1, max_attempts)
        self.url = make_url(hosts[0])
        self.ring: failover.HostRing | None = None
        self.dialect = self.url.get_backend_name()  # sqlite | postgresql | mysql
        self.retries = 0  # transactions re-run after a retryable failure
        if self.dialect == "sqlite":
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = self._sqlite_engine(immediate=True, echo=echo)
            self.read_engine = self._sqlite_engine(immediate=False, echo=echo)
        else:
            # No pre-ping (a round trip on every checkout, ~5% of a port create):
            # a connection the server dropped fails its first statement instead,
            # and run_write re-runs that transaction (is_retryable).
            kwargs: dict = {
                "pool_size": pool_size,
                "max_overflow": max_overflow,
                "pool_pre_ping": False,
                "pool_recycle": 3600,
            }
            if self.dialect == "mysql":
                # READ COMMITTED avoids InnoDB gap locks, the main source of
                # deadlocks between concurrent allocators.
                kwargs["isolation_level"] = "READ COMMITTED"
            self.engine = create_async_engine(self.url, echo=echo, **kwargs, **_JSON)
            self.read_engine = self.engine
            if len(hosts) > 1:
                self.ring = failover.install(self.engine, hosts)
        # Reads that tolerate lag may go to a streaming replica (quark.db.replica).
        self.replica: ReplicaRouter | None = None
        if replica_url:
            if self.dialect != "postgresql":
                raise ValueError("database_replica_url needs a PostgreSQL database_url (a streaming replica)")
            self.replica = ReplicaRouter(
                replica_url,
                self.engine,
                max_lag=replica_max_lag,
                pool_size=pool_size,
                max_overflow=max_overflow,
                engine_kwargs={"echo": echo, **_JSON},
            )
            _count_checkouts(self.replica.engine)
        _count_checkouts(self.engine)
        if self.read_engine is not self.engine:
            _count_checkouts(self.read_engine)

    def _sqlite_engine(self, *, immediate: bool, echo: bool) -> AsyncEngine:
        engine = create_async_engine(self.url, echo=echo, connect_args={"timeout": 60}, **_JSON)
        begin_sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql(begin_sql)

        return engine

    @property
    def supports_skip_locked(self) -> bool:
        return self.dialect in ("postgresql", "mysql")

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            async with conn.begin():
                yield conn
            if self.replica is not None:  # committed: the client's reads must see it (read-your-writes)
                await self.replica.committed(conn)

    @asynccontextmanager
    async def read(self, *, lag_ok: bool = False) -> AsyncIterator[AsyncConnection]:
        """A read-only connection: to the primary, or with ``lag_ok`` (a read that may
        miss others' latest commits, never the caller's own) to the replica if one is fit."""
        replica = await self.replica.connection() if lag_ok and self.replica is not None else None
        if replica is not None:
            try:
                yield replica
            finally:
                await replica.close()
            return
        async with self.read_engine.connect() as conn:
            yield conn
            if conn.in_transaction():
                await conn.rollback()

    async def run_write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction, re-running it on transient conflicts."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with self.write() as conn:
                    return await work(conn)
            except Exception as exc:
                if not is_retryable(exc) or attempt == self.max_attempts:
                    if is_retryable(exc):
                        LOG.error("giving up after %d attempts: %s", attempt, exc)
                        raise errors.ServiceUnavailable(
                            "The database is too busy to complete the request; try again."
                        ) from exc
                    raise
                self.retries += 1
                metrics.DB_TRANSACTION_RETRIES.inc()
                # One line per re-run, at WARNING so a production log shows it: the
                # benchmarks count "transaction retry" lines to bound the retry rate.
                LOG.warning(
                    "transaction retry %d (attempt %d failed): %s",
                    self.retries,
                    attempt,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )
                await asyncio.sleep(random.uniform(0, min(MAX_RETRY_DELAY, 0.005 * 2**attempt)))
        raise AssertionError("unreachable")

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.replica is not None:
            await self.replica.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
