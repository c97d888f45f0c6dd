"""Row counts straight from a test server's database, to prove that a
failed request left nothing behind (all-or-nothing)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from quark.db import models
from quark.db.engine import Database


async def _counts(url: str, network_id: str | None) -> dict[str, int]:
    db = Database(url, pool_size=1, max_overflow=0)
    a, h, r, p, s = models.ip_allocations, models.ip_address_ports, models.routes, models.ports, models.subnets
    try:
        async with db.read() as conn:

            async def count(table, *where) -> int:
                return int(await conn.scalar(select(func.count()).select_from(table).where(*where)))

            on_net = [a.c.network_id == network_id] if network_id else []
            subnets = select(s.c.id).where(s.c.network_id == network_id) if network_id else select(s.c.id)
            return {
                "allocations": await count(a, *on_net),
                "live_allocations": await count(a, a.c.deallocated.is_(False), *on_net),
                "holders": await count(h.join(a, a.c.id == h.c.allocation_id), *on_net),
                "routes": await count(r, r.c.subnet_id.in_(subnets)),
                "ports": await count(p, *([p.c.network_id == network_id] if network_id else [])),
                "port_revisions": int(
                    await conn.scalar(
                        select(func.coalesce(func.sum(p.c.revision_number), 0)).where(
                            *([p.c.network_id == network_id] if network_id else [])
                        )
                    )
                    or 0
                ),
                "subnet_revisions": int(
                    await conn.scalar(
                        select(func.coalesce(func.sum(s.c.revision_number), 0)).where(
                            *([s.c.network_id == network_id] if network_id else [])
                        )
                    )
                    or 0
                ),
            }
    finally:
        await db.dispose()


def row_counts(database_url: str, network_id: str | None = None) -> dict[str, int]:
    """Rows of the address tables (of one network, or all)."""
    return asyncio.run(_counts(database_url, network_id))
