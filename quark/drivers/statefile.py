"""``statefile``: a driver whose backend is a SQLite file, for tests and benchmarks.

It realises every resource as a row ``(kind, id, revision, body)`` of the
file named by its ``path`` option: a backend that lives outside Quark's
processes, which a test can read and change behind Quark's back (delete a
row: the backend lost a port) to see ``sync`` report and repair it.
Writes are compare-and-swap on the revision (a row is replaced only by a
newer revision; the same revision again is a no-op), as a real driver's.

Options (the ``statefile`` table of ``backend_driver_options``):

- ``path``: the SQLite file (made with its table when missing);
- ``delay``: seconds every call takes (a slow backend, for bench/backend_slow.py).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from quark.drivers.base import Change, Driver, DriverError, SyncBatch, SyncReport
from quark.drivers.sync_compare import Held, compare

SCHEMA = "CREATE TABLE IF NOT EXISTS objects (kind TEXT, id TEXT, revision INTEGER, body TEXT, PRIMARY KEY (kind, id))"
UPSERT = (
    "INSERT INTO objects (kind, id, revision, body) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (kind, id) DO UPDATE SET revision = excluded.revision, body = excluded.body "
    "WHERE excluded.revision > objects.revision"
)


def connect(path: str) -> sqlite3.Connection:
    """A connection to the backend file (also what tests use to look at it)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(SCHEMA)
    return conn


class StateFileDriver(Driver):
    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, options)
        path = self.options.get("path")
        if not path:
            raise DriverError("the statefile driver needs a path option")
        self.path = str(path)
        self.delay = float(self.options.get("delay", 0.0))
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.path)
        return self._conn

    def _write(self, change: Change) -> bool:
        body = json.dumps(dict(change.body), default=str, sort_keys=True)
        cursor = self.conn.execute(UPSERT, (change.kind, change.resource_id, change.revision, body))
        return cursor.rowcount > 0

    def _delete(self, kind: str, resource_id: str) -> bool:
        cursor = self.conn.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, resource_id))
        return cursor.rowcount > 0

    async def apply(self, change: Change) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if change.operation == "delete":
            self._delete(change.kind, change.resource_id)
        else:
            self._write(change)

    def _held(self, resources: Sequence[Change]) -> Held:
        """The backend's kind -> {id: revision} within what ``resources`` covers."""
        if isinstance(resources, SyncBatch):
            sql, args = "SELECT kind, id, revision FROM objects WHERE kind = ?", [resources.kind]
            if resources.after is not None:
                sql, args = sql + " AND id > ?", [*args, resources.after]
            if resources.until is not None:
                sql, args = sql + " AND id <= ?", [*args, resources.until]
            rows = self.conn.execute(sql, args)
        else:
            rows = self.conn.execute("SELECT kind, id, revision FROM objects")
        held: dict[str, dict[str, int]] = {}
        for kind, rid, rev in rows:
            held.setdefault(kind, {})[rid] = rev
        return held

    async def _repair_write(self, change: Change) -> bool:
        return self._write(change)

    async def _repair_delete(self, kind: str, resource_id: str) -> bool:
        return self._delete(kind, resource_id)

    async def sync(self, resources: Sequence[Change], repair: bool = False) -> SyncReport:
        found = compare(resources, self._held(resources))
        if not repair:
            return found.report
        return await found.repair(self._repair_write, self._repair_delete)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
