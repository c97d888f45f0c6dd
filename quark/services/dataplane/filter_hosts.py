"""Which hosts a security-group change concerns, told by their generation
(``hoststate.bump``) in the change's transaction, so their agents reload their
filters within a long-poll's wake (docs/security_groups_enforcement.md).

- rules of a group created or deleted: the hosts of the group's ports;
- a port created, changed (addresses, address pairs, groups, port security),
  or deleted: besides its own host (``hoststate``; here for a change of
  groups alone, which ``hoststate`` does not hear of), the hosts of the ports
  whose groups' rules name one of its groups as ``remote_group_id`` (the
  address set of that remote group changed). Its groups are read before a
  change of groups replaces them (``PortGroupsChanging``) and after.

Only ports bound to a host agent's bridge count; hosts are found by a join
over the groups, never by walking ports. Any port change a host's document
shows (``PortsChanged``, a rebind aside) is taken as a possible change of its
addresses: a bind or an admin-state change also tells the remote-group hosts
(one more generation each, no more). A host is bumped once per transaction
however many subscribers name it (``hoststate.bump``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import models
from quark.services.dataplane import hoststate
from quark.services.dataplane.binding import BRIDGE
from quark.services.events import (
    AddressGroupsChanged,
    PortDeleting,
    PortGroupsChanging,
    PortsChanged,
    SecurityGroupRulesChanged,
)

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


async def hosts_using_address_groups(conn: AsyncConnection, address_group_ids: Iterable[str]) -> set[str]:
    """Hosts whose filtered ports have a rule naming one of the address groups."""
    ids = sorted(set(address_group_ids))
    if not ids:
        return set()
    referring = select(rules.c.security_group_id).where(rules.c.remote_address_group_id.in_(ids))
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
    if not event.dhcp:  # a rebind: no address changed, no remote group's set either
        return
    groups = (
        event.groups if event.groups is not None else await groups_of_ports(conn, [c.port_id for c in event.changes])
    )
    await hoststate.bump(conn, await hosts_using_as_remote(conn, groups))


async def on_port_groups_changing(conn: AsyncConnection, event: PortGroupsChanging) -> None:
    """The port's own host (a change of groups alone publishes no ``PortsChanged``),
    and the hosts filtering by the groups it leaves (still in its rows) or joins."""
    own = await conn.scalar(select(p.c.binding_host_id).where(p.c.id == event.port_id, p.c.binding_vif_type == BRIDGE))
    groups = await groups_of_ports(conn, [event.port_id]) | set(event.wanted)
    await hoststate.bump(conn, {own or ""} | await hosts_using_as_remote(conn, groups))


async def on_port_deleting(conn: AsyncConnection, event: PortDeleting) -> None:
    groups = await groups_of_ports(conn, [event.port.id])
    await hoststate.bump(conn, await hosts_using_as_remote(conn, groups))


async def on_address_groups_changed(conn: AsyncConnection, event: AddressGroupsChanged) -> None:
    await hoststate.bump(conn, await hosts_using_address_groups(conn, event.address_group_ids))
