"""The cost of a MAC range's ``allocated`` (the range views, the dashboard's
overview): counting its live ``mac_allocations`` rows (before migration 0027)
against summing its ``mac_range_usage`` shards (quark.ipam.mac_usage), with
``--macs`` allocation rows (a tenth of them released) in one range, on a fresh
database of each backend named.

    .venv/bin/python bench/mac_range_usage.py --macs 200000 sqlite postgresql mariadb
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import sys
import tempfile
import time
import uuid
from datetime import datetime

from sqlalchemy import false, func, insert, select, text

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from quark.db import migrate, models
from quark.db.engine import Database
from quark.ipam import mac_usage
from tests.dbs import create_database

AT = datetime(2026, 1, 1)
FIRST = 0x020000000000
ROUNDS = 20


class _TmpPaths:
    """What ``create_database`` wants of pytest's tmp_path_factory."""

    def mktemp(self, name: str) -> pathlib.Path:
        return pathlib.Path(tempfile.mkdtemp(prefix=name))


async def _fill(db: Database, range_id: str, macs: int) -> None:
    m = models.mac_allocations
    async with db.write() as conn:
        await conn.execute(
            insert(models.mac_address_ranges).values(
                id=range_id, cidr=None, first_address=FIRST, last_address=FIRST + 0xFFFFFFFF,
                next_address=None, do_not_use=False, created_at=AT,
            )
        )  # fmt: skip
        rows = [
            {"address": FIRST + i, "range_id": range_id, "allocated_at": AT, "deallocated": i % 10 == 0,
             "deallocated_at": AT if i % 10 == 0 else None}
            for i in range(macs)
        ]  # fmt: skip
        for start in range(0, macs, 10_000):
            await conn.execute(insert(m), rows[start : start + 10_000])
        await mac_usage.create(conn, range_id, sum(1 for row in rows if not row["deallocated"]))
    if db.dialect == "postgresql":
        async with db.write() as conn:
            await conn.execute(text("ANALYZE mac_allocations"))


async def measure(url: str, macs: int) -> None:
    db = Database(url)
    range_id = str(uuid.uuid4())
    m = models.mac_allocations
    try:
        await _fill(db, range_id, macs)
        counted = (
            select(m.c.range_id, func.count())
            .where(m.c.range_id.in_([range_id]), m.c.deallocated == false())
            .group_by(m.c.range_id)
        )
        ways = {
            "count the rows": lambda c: c.execute(counted),
            "sum the counter": lambda c: mac_usage.used(c, [range_id]),
        }
        for name, read in ways.items():
            async with db.read() as conn:
                await read(conn)  # warm
                start = time.perf_counter()
                for _ in range(ROUNDS):
                    await read(conn)
                mean = (time.perf_counter() - start) / ROUNDS
            print(f"{db.dialect:10} {macs} MACs  {name:16} {mean * 1000:8.2f} ms")
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--macs", type=int, default=200_000)
    parser.add_argument("backends", nargs="+", choices=["sqlite", "postgresql", "mariadb"])
    args = parser.parse_args()
    for backend in args.backends:
        url, drop = create_database(backend, _TmpPaths())
        try:
            migrate.upgrade(url)
            asyncio.run(measure(url, args.macs))
        finally:
            drop()


if __name__ == "__main__":
    main()
