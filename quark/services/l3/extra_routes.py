"""A router's extra routes (Neutron's ``extraroute`` and ``extraroute-atomic``):
the checks of a routes list against the router's interfaces (pure), and the
rows of ``router_routes``."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.db import l3_models
from quark.services.l3.router_errors import InvalidRoutes, RoutesExhausted
from quark.services.l3.router_ports import Interface

rr = l3_models.router_routes

# Neutron's max_routes default.
MAX_ROUTES = 30

Route = tuple[str, str]  # (destination, nexthop)


def parse_routes(value: Any) -> list[Route]:
    """``[{destination, nexthop}]`` as (normalised CIDR, address) pairs, each once;
    a malformed list is a 400 (``InvalidInput``)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise errors.InvalidInput(error_message=f"'{value}' is not a list")
    out: list[Route] = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"destination", "nexthop"}:
            raise errors.InvalidInput(error_message=f"Invalid route {entry}: destination and nexthop are required")
        try:
            destination = str(ipaddress.ip_network(str(entry["destination"]), strict=False))
            nexthop = str(ipaddress.ip_address(str(entry["nexthop"])))
        except ValueError as exc:
            raise errors.InvalidInput(error_message=f"Invalid route {entry}: {exc}") from None
        if (destination, nexthop) not in out:
            out.append((destination, nexthop))
    return out


def as_views(routes: Iterable[Route]) -> list[dict[str, str]]:
    return [{"destination": d, "nexthop": n} for d, n in routes]


def check_routes(router_id: str, routes: list[Route], attached: list[Interface]) -> None:
    """Neutron's rules: at most ``MAX_ROUTES``; every nexthop on a subnet the
    router is attached to, and not one of the router's own addresses."""
    if len(routes) > MAX_ROUTES:
        raise RoutesExhausted(router_id=router_id, quota=MAX_ROUTES)
    own = {interface.address for interface in attached}
    for destination, nexthop in routes:
        address = ipaddress.ip_address(nexthop)
        if ipaddress.ip_network(destination).version != address.version:
            raise InvalidRoutes(
                routes=as_views(routes), reason=f"the nexthop {nexthop} is not of the destination's family"
            )
        if nexthop in own:
            raise InvalidRoutes(routes=as_views(routes), reason=f"the nexthop is used by router: {nexthop}")
        if not any(address in ipaddress.ip_network(i.cidr, strict=False) for i in attached):
            raise InvalidRoutes(routes=as_views(routes), reason=f"the nexthop is not connected with router: {nexthop}")


def routes_through(routes: list[Route], cidr: str) -> list[Route]:
    """The routes whose nexthop lies in ``cidr`` (an interface they need)."""
    network = ipaddress.ip_network(cidr, strict=False)
    return [route for route in routes if ipaddress.ip_address(route[1]) in network]


async def load(conn: AsyncConnection, router_id: str) -> list[Route]:
    rows = await conn.execute(
        select(rr.c.destination, rr.c.nexthop)
        .where(rr.c.router_id == router_id)
        .order_by(rr.c.destination, rr.c.nexthop)
    )
    return [(row.destination, row.nexthop) for row in rows]


async def store(conn: AsyncConnection, router_id: str, routes: list[Route]) -> None:
    """Replace the router's routes (the router row is locked by the caller)."""
    await conn.execute(delete(rr).where(rr.c.router_id == router_id))
    if routes:
        await conn.execute(insert(rr), [{"router_id": router_id, "destination": d, "nexthop": n} for d, n in routes])
