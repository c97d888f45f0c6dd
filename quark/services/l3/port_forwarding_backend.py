"""What a backend driver is given of a port forwarding (a job's or a sync page's view).

The API's view of a forwarding (port_forwarding_rules.view) names neither
its floating IP's address nor the router that realises it, and shows port
ranges as text: a driver needs all of it to write the forwarding (OVN: a
``Load_Balancer`` of the router, quark/drivers/ovn/forwarding.py). Served to
the worker and the sync as the collection ``port_forwardings`` of
``Services.by_collection``; never over HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.context import Context
from quark.db import models
from quark.services.common.base import Views
from quark.services.common.listing import ListQuery
from quark.services.l3.port_forwarding_rules import Ports, view
from quark.services.l3.port_forwardings import PortForwardingService

f = models.floatingips


class PortForwardingBackendViews(PortForwardingService):
    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> Views:
        fip_ids = sorted({row.floatingip_id for row in rows})
        fips = {}
        if fip_ids:
            stmt = select(f.c.id, f.c.floating_ip_address, f.c.router_id, f.c.project_id).where(f.c.id.in_(fip_ids))
            fips = {fip.id: fip for fip in await conn.execute(stmt)}
        return [
            {
                **view(row),
                **Ports.of(row).columns(),
                "floatingip_id": row.floatingip_id,
                "floating_ip_address": fips[row.floatingip_id].floating_ip_address,
                "router_id": fips[row.floatingip_id].router_id,
                "project_id": fips[row.floatingip_id].project_id,
                "revision_number": row.revision_number,
            }
            for row in rows
        ]
