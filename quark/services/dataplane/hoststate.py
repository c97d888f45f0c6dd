"""The per-host generations that tell each host's agents their state changed
(docs/agent_api.md), and which hosts a change concerns.

Each host has two generations: ``generation`` (the L2 agent's desired state)
and ``dhcp_generation`` (the DHCP service's state). Every change to what
those documents show (``quark.services.dataplane.documents``) **inserts** a
row into ``host_changes`` for each host it concerns, in the same transaction
as the change: the subscribers here receive the change events of ports,
networks and subnets (``quark.services.events``). Insert-only, so two
transactions telling the same host (every port create on the networks one
DHCP agent serves) never wait on each other (issue 21: an UPDATE of one
counter row per host serialised them at commit).

A host's generation is its base in ``host_generations`` plus the number of
its ``host_changes`` rows, read in one statement (one snapshot). Every
committed change adds one, whatever the order transactions commit in (a
maximum id would miss a change that took its id before a newer committed
one). ``fold`` (run periodically by ``HostService.run``) moves rows into the
base: it deletes them and adds exactly the number it deleted to the base in
one transaction, so a reader sees the same sum before and after, and a
wake-up is never lost nor invented; it keeps the rows a long-poll counts
few. Only the fold writes ``host_generations``.

Which hosts a change concerns:

- a port's own host (before and after a bind/unbind), when it is bound to a
  bridge;
- on a VXLAN network, every host with ports on it when a host joins or
  leaves the network (their ``peers`` change);
- the DHCP host of the network (``dhcp_generation``) for any port or subnet
  change of the network.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, delete, exists, false, func, insert, select, true, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import owners
from quark.db import l3_models, models
from quark.db.dialect import insert_ignore
from quark.db.tx_memo import first_time
from quark.services.dataplane.binding import BRIDGE
from quark.services.events import (
    NetworkUpdated,
    PortChange,
    PortDeleting,
    PortsChanged,
    SubnetCreated,
    SubnetDeleted,
    SubnetUpdated,
)

hg = models.host_generations
hc = models.host_changes
p = models.ports
n = models.networks


# --- generations -------------------------------------------------------------------


async def bump(conn: AsyncConnection, hosts: Iterable[str], *, dhcp: bool = False) -> None:
    """Add one to the (DHCP) generation of each host (once per transaction:
    a bump a rolled-back savepoint undid is made again): one INSERT, no row
    any other transaction writes."""
    wanted = [host for host, _ in first_time(conn, ((h, dhcp) for h in sorted({h for h in hosts if h})))]
    if wanted:
        await conn.execute(insert(hc).values([{"host": h, "dhcp": dhcp} for h in wanted]))


def _base(dhcp: bool) -> Any:
    return hg.c.dhcp_generation if dhcp else hg.c.generation


async def generation(conn: AsyncConnection, host: str, *, dhcp: bool = False) -> int:
    """The host's base plus its unfolded changes, in one statement (one snapshot)."""
    base = select(_base(dhcp)).where(hg.c.host == host).scalar_subquery()
    changes = select(func.count()).select_from(hc).where(hc.c.host == host, hc.c.dhcp == dhcp).scalar_subquery()
    return int(await conn.scalar(select(func.coalesce(base, 0) + changes)) or 0)


async def generations(conn: AsyncConnection) -> dict[str, tuple[int, int]]:
    """host -> (generation, dhcp_generation) of every host with a base or changes: bases
    and changes in one statement (one snapshot: a fold between two reads would be seen
    half-done). The watches' generation feed reads it."""
    bases = select(hg.c.host, hg.c.generation.label("g"), hg.c.dhcp_generation.label("d"))
    counts = select(
        hc.c.host,
        func.sum(case((hc.c.dhcp == false(), 1), else_=0)),
        func.sum(case((hc.c.dhcp == true(), 1), else_=0)),
    ).group_by(hc.c.host)
    out: dict[str, tuple[int, int]] = {}
    for host, gen, dhcp_gen in await conn.execute(union_all(bases, counts)):
        old = out.get(host, (0, 0))
        out[host] = (old[0] + int(gen or 0), old[1] + int(dhcp_gen or 0))
    return out


async def unfolded(conn: AsyncConnection) -> list[tuple[str, bool]]:
    """The (host, dhcp) pairs with changes to fold."""
    rows = await conn.execute(select(hc.c.host, hc.c.dhcp).distinct().order_by(hc.c.host, hc.c.dhcp))
    return [(row.host, bool(row.dhcp)) for row in rows]


async def fold(conn: AsyncConnection, host: str, dhcp: bool) -> int:
    """Move the host's committed (DHCP) changes into its base; the number moved.

    The DELETE's row count is what the base gains, in one transaction: a
    change committed meanwhile is either deleted and counted or stays a row.
    A concurrent fold of the same host waits on the rows this one deletes."""
    moved = (await conn.execute(delete(hc).where(hc.c.host == host, hc.c.dhcp == dhcp))).rowcount or 0
    if moved:
        column = _base(dhcp)
        raised = await conn.execute(update(hg).where(hg.c.host == host).values({column: column + moved}))
        if not raised.rowcount:
            await conn.execute(insert_ignore(conn, hg), [{"host": host, "generation": 0, "dhcp_generation": 0}])
            await conn.execute(update(hg).where(hg.c.host == host).values({column: column + moved}))
    return moved


# --- who a change concerns ------------------------------------------------------------


async def l2_hosts(conn: AsyncConnection, network_id: str) -> set[str]:
    """Hosts with ports of the network bound to a bridge."""
    return set(
        (
            await conn.execute(
                select(p.c.binding_host_id)
                .distinct()
                .where(p.c.network_id == network_id, p.c.binding_vif_type == BRIDGE, p.c.binding_host_id != "")
            )
        ).scalars()
    )


async def dhcp_hosts(conn: AsyncConnection, network_id: str) -> set[str]:
    """Hosts whose DHCP service serves the network."""
    return set(
        (
            await conn.execute(
                select(p.c.binding_host_id)
                .distinct()
                .where(p.c.network_id == network_id, p.c.device_owner == owners.DHCP, p.c.binding_host_id != "")
            )
        ).scalars()
    )


async def notify_ports(
    conn: AsyncConnection, network: Any, changes: Iterable[PortChange], *, dhcp: bool = True
) -> None:
    """Ports of ``network`` changed (each with the host realising it before and
    after, "" if none).

    Call after the port rows are written (or, for a delete, before or after:
    the port itself is never counted)."""
    changes = list(changes)
    touched: set[str] = set()
    moved: set[tuple[str, str]] = set()  # (host, port_id) of hosts a port joined or left
    for change in changes:
        before, after = change.host_before, change.host_after
        touched.update(h for h in (before, after) if h)
        if before != after:
            moved.update((h, change.port_id) for h in (before, after) if h)
    if moved and network.network_type == "vxlan":
        movers = {port_id for _, port_id in moved}
        for host in {h for h, _ in moved}:
            others = await conn.scalar(
                select(
                    exists().where(
                        p.c.network_id == network.id,
                        p.c.binding_host_id == host,
                        p.c.binding_vif_type == BRIDGE,
                        p.c.id.not_in(movers),
                    )
                )
            )
            if not others:  # the host joined or left the network: everyone's peers change
                touched |= await l2_hosts(conn, network.id)
                break
    await bump(conn, touched)
    if dhcp and changes:
        await bump(conn, await dhcp_hosts(conn, network.id), dhcp=True)


async def notify_network(conn: AsyncConnection, network_id: str) -> None:
    """Something every host of the network shows changed (MTU, subnets)."""
    await bump(conn, await l2_hosts(conn, network_id))
    await bump(conn, await dhcp_hosts(conn, network_id), dhcp=True)


async def notify_tunnel_peers(conn: AsyncConnection, host: str) -> None:
    """The tunnel address of ``host`` changed: the hosts sharing a VXLAN network with it."""
    shared = (
        select(p.c.network_id)
        .distinct()
        .select_from(p.join(n, n.c.id == p.c.network_id))
        .where(p.c.binding_host_id == host, p.c.binding_vif_type == BRIDGE, n.c.network_type == "vxlan")
    )
    peers = set(
        (
            await conn.execute(
                select(p.c.binding_host_id)
                .distinct()
                .where(
                    p.c.network_id.in_(shared),
                    p.c.binding_vif_type == BRIDGE,
                    p.c.binding_host_id != host,
                    p.c.binding_host_id != "",
                )
            )
        ).scalars()
    )
    await bump(conn, peers)


async def notify_routers(conn: AsyncConnection, router_ids: Iterable[str]) -> None:
    """Something the L3 hosts of these routers show changed."""
    wanted = sorted(set(router_ids))
    if wanted:
        r = l3_models.routers
        await bump(conn, (await conn.execute(select(r.c.l3_host).where(r.c.id.in_(wanted)))).scalars())


# --- subscribers -------------------------------------------------------------------------


async def on_ports_changed(conn: AsyncConnection, event: PortsChanged) -> None:
    await notify_ports(conn, event.network, event.changes, dhcp=event.dhcp)


async def on_port_deleting(conn: AsyncConnection, event: PortDeleting) -> None:
    await notify_ports(conn, event.network, [PortChange(event.port.id, event.host, "")])


async def on_network_updated(conn: AsyncConnection, event: NetworkUpdated) -> None:
    if "mtu" in event.changes:
        await notify_network(conn, event.network_id)


async def on_subnet_changed(conn: AsyncConnection, event: SubnetCreated | SubnetUpdated | SubnetDeleted) -> None:
    """Every host of the network shows its subnets (DHCP ranges, routes, gateways)."""
    await notify_network(conn, event.subnet.network_id)
