"""What a router is attached to, read from its ports: the interfaces (ports
with ``device_id`` the router, ``device_owner`` ``network:router_interface``)
with their subnets, and which router joins a subnet to an external network
(what a floating IP association needs)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import owners
from quark.db import l3_models, models

r = l3_models.routers
p = models.ports
a = models.ip_allocations
s = models.subnets


@dataclass(frozen=True)
class Interface:
    """One subnet a router is attached to, through one of its ports."""

    port_id: str
    network_id: str
    subnet_id: str
    cidr: str
    address: str


async def interfaces(conn: AsyncConnection, router_id: str) -> list[Interface]:
    """Every (port, subnet) of the router's interfaces, by port then subnet."""
    rows = await conn.execute(
        select(p.c.id, p.c.network_id, a.c.subnet_id, s.c.cidr, a.c.address)
        .select_from(p.join(a, a.c.port_id == p.c.id).join(s, s.c.id == a.c.subnet_id))
        .where(
            p.c.device_id == router_id,
            p.c.device_owner.in_(owners.ROUTER_INTERFACE),
            a.c.deallocated.is_(False),
        )
        .order_by(p.c.id, a.c.subnet_id)
    )
    return [Interface(*row) for row in rows]


def overlapping(cidr: str, attached: list[Interface]) -> Interface | None:
    """The attached subnet whose CIDR overlaps ``cidr``, if any (one router
    cannot route between overlapping subnets)."""
    wanted = ipaddress.ip_network(cidr, strict=False)
    for interface in attached:
        other = ipaddress.ip_network(interface.cidr, strict=False)
        if other.version == wanted.version and other.overlaps(wanted):
            return interface
    return None


async def router_between(conn: AsyncConnection, subnet_id: str, external_network_id: str) -> Any:
    """The router (id) with an interface on ``subnet_id`` and its gateway on
    ``external_network_id``, locked: an interface removal or a gateway change
    waits for the association that relies on it, or this waits for them."""
    gateway = p.alias("gateway")
    attached = (
        select(p.c.device_id)
        .select_from(p.join(a, a.c.port_id == p.c.id))
        .where(p.c.device_owner.in_(owners.ROUTER_INTERFACE), a.c.subnet_id == subnet_id, a.c.deallocated.is_(False))
    )
    router_id = await conn.scalar(
        select(r.c.id)
        .select_from(r.join(gateway, gateway.c.id == r.c.gw_port_id))
        .where(gateway.c.network_id == external_network_id, r.c.id.in_(attached))
        .order_by(r.c.id)
        .limit(1)
    )
    if router_id is not None:  # the router row alone (MariaDB has no FOR UPDATE OF)
        await conn.execute(select(r.c.id).where(r.c.id == router_id).with_for_update())
    return router_id
