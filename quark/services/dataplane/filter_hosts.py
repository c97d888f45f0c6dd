"""Which hosts a security-group change concerns, told by their generation
(``hoststate.bump``) in the change's transaction, so their agents reload their
filters within a long-poll's wake (docs/security_groups_enforcement.md).

- rules of a group created or deleted: the hosts of the group's ports;
- a port created, changed (addresses, address pairs, groups, port security),
  or deleted: besides its own host (``hoststate``), the hosts of the ports
  whose groups' rules name one of its groups as ``remote_group_id`` (the
  address set of that remote group changed). Its groups are read before a
  change of groups replaces them (``PortGroupsChanging``) and after.

Only ports bound to a host agent's bridge count; hosts are found by a join
over the groups, never by walking ports.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import models
from quark.services.dataplane import hoststate
from quark.services.dataplane.binding import BRIDGE
from quark.services.events import PortDeleting, PortGroupsChanging, PortsChanged, SecurityGroupRulesChanged

p = models.ports
psg = models.port_security_groups
rules = models.security_group_rules


async def hosts_of_groups(conn: AsyncConnection, group_ids: Iterable[str]) -> set[str]:
    """Hosts with a bridge-bound port in one of the groups."""
    ids = sorted(set(group_ids))
    if not ids:
        return set()
    stmt = (
        select(p.c.binding_host_id)
        .distinct()
        .select_from(psg.join(p, p.c.id == psg.c.port_id))
        .where(psg.c.security_group_id.in_(ids), p.c.binding_vif_type == BRIDGE, p.c.binding_host_id != "")
    )
    return set((await conn.execute(stmt)).scalars())


async def hosts_using_as_remote(conn: AsyncConnection, group_ids: Iterable[str]) -> set[str]:
    """Hosts whose filtered ports have a rule naming one of the groups as remote group."""
    ids = sorted(set(group_ids))
    if not ids:
        return set()
    referring = select(rules.c.security_group_id).where(rules.c.remote_group_id.in_(ids))
    return await hosts_of_groups(conn, (await conn.execute(referring.distinct())).scalars())


async def groups_of_ports(conn: AsyncConnection, port_ids: Iterable[str]) -> set[str]:
    ids = sorted(set(port_ids))
    if not ids:
        return set()
    stmt = select(psg.c.security_group_id).distinct().where(psg.c.port_id.in_(ids))
    return set((await conn.execute(stmt)).scalars())


# --- subscribers -------------------------------------------------------------------------


async def on_rules_changed(conn: AsyncConnection, event: SecurityGroupRulesChanged) -> None:
    await hoststate.bump(conn, await hosts_of_groups(conn, event.group_ids))


async def on_ports_changed(conn: AsyncConnection, event: PortsChanged) -> None:
    groups = await groups_of_ports(conn, [c.port_id for c in event.changes])
    await hoststate.bump(conn, await hosts_using_as_remote(conn, groups))


async def on_port_groups_changing(conn: AsyncConnection, event: PortGroupsChanging) -> None:
    """The groups the port leaves (still in its rows) and those it joins."""
    groups = await groups_of_ports(conn, [event.port_id]) | set(event.wanted)
    await hoststate.bump(conn, await hosts_using_as_remote(conn, groups))


async def on_port_deleting(conn: AsyncConnection, event: PortDeleting) -> None:
    groups = await groups_of_ports(conn, [event.port.id])
    await hoststate.bump(conn, await hosts_using_as_remote(conn, groups))
