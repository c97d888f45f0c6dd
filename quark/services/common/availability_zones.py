"""Availability zones (aliases ``availability_zone``, ``availability_zone_filter``,
``network_availability_zone``, ``router_availability_zone``; docs/availability_zones.md).

As Neutron's agent-based ones: a zone is what agents report as their
``availability_zone``; DHCP agents' zones are ``network`` zones, L3 agents'
``router`` zones; a zone is ``available`` while one of its agents is
administratively up. A network's or router's ``availability_zone_hints``
must name known zones of its kind (404 ``AvailabilityZoneNotFound``, as
Neutron), and its ``availability_zones`` are the zones of the agents that
host it: the DHCP agents of its DHCP ports, the L3 agent of the router.

Here, in ``common``, because networks (``core``), routers (``l3``) and the
schedulers (``dataplane``) all read it; it reads the agents table only.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import and_, case, false, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, extension_errors, owners
from quark.context import Context
from quark.db import l3_models, models
from quark.db.engine import Database
from quark.db.lookups import IDS, Lookup
from quark.services.common.base import Strings
from quark.services.common.listing import ListQuery

ag = models.agents
p = models.ports
r = l3_models.routers

DHCP_AGENT = "DHCP agent"
L3_AGENT = "L3 agent"
# The kind of resource each agent type's zone serves, and back.
RESOURCE_OF = {DHCP_AGENT: "network", L3_AGENT: "router"}
AGENT_OF = {resource: agent for agent, resource in RESOURCE_OF.items()}
# Neutron stores the hints as one JSON string of at most this many characters.
HINTS_MAX_LEN = 255

# The zones of the DHCP agents serving each network shown (Neutron: its DHCP agents' zones).
NETWORK_ZONES = Lookup(
    "network.zones",
    select(p.c.network_id, ag.c.availability_zone)
    .select_from(p.join(ag, and_(ag.c.host == p.c.binding_host_id, ag.c.agent_type == DHCP_AGENT)))
    .where(p.c.network_id.in_(IDS), p.c.device_owner == owners.DHCP, ag.c.availability_zone.is_not(None)),
    order=("availability_zone",),
)
# The zone of the L3 agent of each router shown.
ROUTER_ZONES = Lookup(
    "router.zones",
    select(r.c.id.label("router_id"), ag.c.availability_zone)
    .select_from(r.join(ag, and_(ag.c.host == r.c.l3_host, ag.c.agent_type == L3_AGENT)))
    .where(r.c.id.in_(IDS), ag.c.availability_zone.is_not(None)),
    order=("availability_zone",),
)


def zones_by(rows: Iterable[Any], key: str) -> dict[str, list[str]]:
    """The rows of a zones lookup as sorted, distinct zone names per resource id."""
    out: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        zones = out[getattr(row, key)]
        if row.availability_zone not in zones:
            zones.append(row.availability_zone)
    return out


def check_hint_syntax(hints: list[str]) -> None:
    """Neutron's limit on the hints as stored (a JSON list in 255 characters)."""
    if len(json.dumps(hints)) > HINTS_MAX_LEN:
        raise errors.InvalidInput(error_message="Too many availability_zone_hints specified")


async def check_hints(conn: AsyncConnection, resource: str, hints: Sequence[str] | None) -> None:
    """Every hint names a zone of ``resource``'s agents, or 404 as Neutron."""
    if not hints:
        return
    known = set(
        (
            await conn.execute(
                select(ag.c.availability_zone)
                .where(ag.c.agent_type == AGENT_OF[resource], ag.c.availability_zone.in_(list(hints)))
                .distinct()
            )
        ).scalars()
    )
    for hint in hints:
        if hint not in known:
            raise extension_errors.AvailabilityZoneNotFound(availability_zone=hint)


class AvailabilityZoneService:
    """``GET /v2.0/availability_zones``: a handful of rows, grouped in the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(self, ctx: Context, query: ListQuery) -> list[dict]:
        stmt = (
            select(
                ag.c.availability_zone,
                ag.c.agent_type,
                func.max(case((ag.c.admin_state_up.is_(True), 1), else_=0)).label("up"),
            )
            .where(ag.c.availability_zone.is_not(None), ag.c.agent_type.in_(list(RESOURCE_OF)))
            .group_by(ag.c.availability_zone, ag.c.agent_type)
        )
        f = query.filters
        if f.get("name"):
            stmt = stmt.where(ag.c.availability_zone.in_(f["name"]))
        if "resource" in f:
            types = [AGENT_OF[v] for v in f["resource"] if v in AGENT_OF]
            stmt = stmt.where(ag.c.agent_type.in_(types)) if types else stmt.where(false())
        async with self.db.read(lag_ok=True) as conn:
            rows = (await conn.execute(stmt)).all()
        zones = [
            {
                "name": row.availability_zone,
                "resource": RESOURCE_OF[row.agent_type],
                "state": "available" if row.up else "unavailable",
            }
            for row in rows
        ]
        if f.get("state"):
            zones = [z for z in zones if z["state"] in f["state"]]
        return page(zones, query)

    def missing(self, name: str) -> errors.QuarkError:
        return extension_errors.AvailabilityZoneNotFound(availability_zone=name)

    async def get(self, ctx: Context, name: str, fields: Strings | None = None) -> dict:
        found = await self.list(ctx, ListQuery(filters={"name": [name]}))
        if not found:
            raise self.missing(name)
        return found[0]


def page(zones: list[dict], query: ListQuery) -> list[dict]:
    """Sorted (by the query's keys, then name and resource), after the marker, limited."""
    zones.sort(key=lambda z: (z["name"], z["resource"]))
    for key, direction in reversed(query.sorts):
        zones.sort(key=itemgetter(key), reverse=direction == "desc")
    if query.marker:
        names = [z["name"] for z in zones]
        zones = zones[names.index(query.marker) + 1 :] if query.marker in names else []
    return zones[: query.limit] if query.limit else zones
