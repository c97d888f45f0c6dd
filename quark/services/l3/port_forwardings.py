"""Floating IP port forwardings (Neutron's ``floating-ip-port-forwarding``, with
its ``-description`` and ``-port-ranges`` extensions): traffic of one protocol to
external ports of a floating address goes to a fixed IPv4 address of an internal
port, so one address serves several VMs.

A sub-resource: every call names the floating IP, which the caller must see
(404 ``FloatingIPNotFound``). As Neutron's plugin: a floating IP associated
with a port has no forwardings and one with forwardings cannot be associated
(409 either way), nor deleted (409 ``FipInUseByPortForwarding``); the internal
port must not have a floating IP of its own (409); the internal address is
one of its fixed IPv4 addresses; the router with an interface on that
address's subnet and its gateway on the floating IP's network realises them and
becomes the floating IP's ``router_id`` (cleared with its last forwarding).
Forwardings go with their internal port, or with the address they forward to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.clock import utcnow
from quark.context import Context
from quark.db import l3_models, models
from quark.ipam import holders
from quark.services.common import listing
from quark.services.common.base import Found, ResourceService, Views, check_revision, new_id, resolve_project
from quark.services.common.idempotency import answered
from quark.services.common.listing import ListQuery
from quark.services.events import (
    FloatingIpAssociating,
    FloatingIpDeleting,
    PortAddressesChanged,
    PortDeleting,
    PortForwardingsChanged,
    ResourcesWritten,
    Written,
)
from quark.services.l3 import router_ports
from quark.services.l3.floating_ips import FloatingIpService, port_visible
from quark.services.l3.port_forwarding_errors import (
    FipInUseByPortForwarding,
    PortForwardingNotFound,
    PortHasBindingFloatingIP,
    bad,
)
from quark.services.l3.port_forwarding_rules import Ports, check_collisions, parse_range, requested_ports, view

pf = l3_models.port_forwardings
f = models.floatingips
p = models.ports
n = models.networks


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a forwarding points: its port (row), address, protocol and ranges."""

    port: Any
    address: str
    protocol: str
    ports: Ports


class PortForwardingService(ResourceService):
    table = pf
    not_found = PortForwardingNotFound
    not_found_key = "id"
    columns = {
        "id": pf.c.id,
        "description": pf.c.description,
        "protocol": pf.c.protocol,
        "internal_port_id": pf.c.internal_port_id,
        # Sorting only: the port filters are exact ranges (``matching``).
        "external_port": pf.c.external_port_start,
        "external_port_range": pf.c.external_port_start,
    }

    def __init__(self, db, settings, floating_ips: FloatingIpService, events=None) -> None:
        super().__init__(db, settings, events)
        self.floating_ips = floating_ips  # the parent: who sees it, its row

    def visible(self, ctx: Context):
        if ctx.is_admin:
            return None
        return pf.c.floatingip_id.in_(select(f.c.id).where(f.c.project_id == ctx.project_id))

    def assemble(self, rows: Sequence[Any], found: Found, query: ListQuery) -> Views:
        return [view(row) for row in rows]

    def matching(self, ctx: Context, query: ListQuery) -> Select:
        ports = {k: query.filters[k] for k in ("external_port", "external_port_range") if k in query.filters}
        rest = dataclasses.replace(query, filters={k: v for k, v in query.filters.items() if k not in ports})
        stmt = super().matching(ctx, rest)
        for key, values in ports.items():
            ranges = [(value, value) if key == "external_port" else parse_range(value) for value in values]
            stmt = stmt.where(
                or_(*[and_(pf.c.external_port_start == lo, pf.c.external_port_end == hi) for lo, hi in ranges])
            )
        return stmt

    # --- reads, under a floating IP ----------------------------------------------------

    async def _floatingip(self, conn: AsyncConnection, ctx: Context, fip_id: str, *, lock: bool = False) -> Any:
        return await self.floating_ips.get_row(conn, ctx, fip_id, for_update=lock)

    async def _row(self, conn: AsyncConnection, ctx: Context, fip_id: str, pf_id: str, *, lock: bool = False) -> Any:
        stmt = self.visible_row(ctx, pf_id).where(pf.c.floatingip_id == fip_id)
        row = (await conn.execute(stmt.with_for_update() if lock else stmt)).first()
        if row is None:
            raise PortForwardingNotFound(id=pf_id)
        return row

    async def get_in(self, ctx: Context, fip_id: str, pf_id: str) -> dict:
        async with self.db.read() as conn:
            await self._floatingip(conn, ctx, fip_id)
            return view(await self._row(conn, ctx, fip_id, pf_id))

    async def list_in(self, ctx: Context, fip_id: str, query: ListQuery) -> list[dict]:
        async with self.db.read() as conn:
            await self._floatingip(conn, ctx, fip_id)
            marker = None
            if query.marker:
                stmt = self.visible_row(ctx, query.marker).where(pf.c.floatingip_id == fip_id)
                marker = (await conn.execute(stmt)).first()
                if marker is None:
                    return []
            mine = self.matching(ctx, query).where(pf.c.floatingip_id == fip_id)
            rows = list((await conn.execute(listing.order_and_page(mine, pf, self.columns, query, marker))).all())
            if query.page_reverse:
                rows.reverse()
            return [view(row) for row in rows]

    # --- writes --------------------------------------------------------------------------

    async def create_in_fip(self, ctx: Context, fip_id: str, attrs: dict) -> dict:
        resolve_project(ctx, attrs)  # a non-admin may name only its own project (400), as on every create

        async def work(conn: AsyncConnection) -> dict:
            fip = await self._floatingip(conn, ctx, fip_id, lock=True)
            if fip.port_id:
                raise errors.FloatingIPPortAlreadyAssociated(
                    port_id=attrs["internal_port_id"],
                    fip_id=fip.id,
                    floating_ip_address=fip.floating_ip_address,
                    fixed_ip=attrs["internal_ip_address"],
                    net_id=fip.floating_network_id,
                )
            ports = requested_ports(attrs)
            target = await self._target(conn, ctx, fip, attrs["internal_port_id"], attrs, ports)
            router_id = await self._router(conn, fip, target)
            await self._check_collisions(conn, fip.id, target, None)
            pf_id, now = new_id(), utcnow()
            values = {
                "id": pf_id,
                "floatingip_id": fip.id,
                "internal_port_id": target.port.id,
                "protocol": target.protocol,
                "internal_ip_address": target.address,
                **ports.columns(),
                "description": attrs.get("description") or "",
                "created_at": now,
                "updated_at": now,
                "revision_number": 0,
            }
            await self._write(conn, insert(pf).values(**values), fip.id, target)
            if fip.router_id is None:
                await conn.execute(update(f).where(f.c.id == fip.id).values(router_id=router_id))
            await self._changed(conn, [fip.id], [target.port.id], [router_id])
            await self._written(conn, "create", [(pf_id, 0, fip.project_id)], ctx)
            return view((await conn.execute(select(pf).where(pf.c.id == pf_id))).one())

        return await self.db.run_write(answered(ctx, work))

    async def update_in_fip(
        self, ctx: Context, fip_id: str, pf_id: str, attrs: dict, if_match: int | None = None
    ) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            fip = await self._floatingip(conn, ctx, fip_id, lock=True)
            row = await self._row(conn, ctx, fip_id, pf_id, lock=True)
            check_revision(row, if_match)
            ports = requested_ports(attrs, Ports.of(row))
            port_id = attrs.get("internal_port_id") or row.internal_port_id
            wanted = {"internal_ip_address": row.internal_ip_address, "protocol": row.protocol, **attrs}
            target = await self._target(conn, ctx, fip, port_id, wanted, ports, moved=port_id != row.internal_port_id)
            router_id = fip.router_id
            if port_id != row.internal_port_id:
                router_id = await self._router(conn, fip, target, others=True)
            await self._check_collisions(conn, fip.id, target, row.id)
            changes = {
                "internal_port_id": target.port.id,
                "protocol": target.protocol,
                "internal_ip_address": target.address,
                **ports.columns(),
                **({"description": attrs["description"]} if "description" in attrs else {}),
                "updated_at": utcnow(),
                "revision_number": pf.c.revision_number + 1,
            }
            await self._write(conn, update(pf).where(pf.c.id == row.id).values(**changes), fip.id, target)
            if router_id != fip.router_id:  # its only forwarding moved behind another router
                await conn.execute(update(f).where(f.c.id == fip.id).values(router_id=router_id))
            moved = sorted({row.internal_port_id, target.port.id})
            await self._changed(conn, [fip.id], moved, [fip.router_id, router_id])
            await self._written(conn, "update", [(row.id, row.revision_number + 1, fip.project_id)], ctx)
            return view((await conn.execute(select(pf).where(pf.c.id == pf_id))).one())

        return await self.db.run_write(work)

    async def delete_in_fip(self, ctx: Context, fip_id: str, pf_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            await self._floatingip(conn, ctx, fip_id, lock=True)
            row = await self._row(conn, ctx, fip_id, pf_id, lock=True)
            check_revision(row, if_match)
            await self._delete_rows(conn, [row], ctx)

        await self.db.run_write(work)

    # --- the rules -------------------------------------------------------------------------

    async def _target(
        self,
        conn: AsyncConnection,
        ctx: Context,
        fip: Any,
        port_id: str,
        attrs: dict,
        ports: Ports,
        moved: bool = True,
    ) -> Target:
        """The internal port (seen by the caller, without a floating IP of its own)
        and the address on it the forwarding points at."""
        port = (await conn.execute(select(p).where(p.c.id == port_id).with_for_update())).first()
        if port is None or not await port_visible(conn, ctx, port):
            raise errors.PortNotFound(port_id=port_id)
        address = attrs["internal_ip_address"]
        if moved:
            bound = (
                await conn.execute(select(f.c.id, f.c.floating_ip_address).where(f.c.port_id == port_id).limit(1))
            ).first()
            if bound is not None:
                raise PortHasBindingFloatingIP(
                    floating_ip_address=bound.floating_ip_address, fip_id=bound.id, port_id=port_id, fixed_ip=address
                )
        held = [row for row in await holders.held_by_ports(conn, [port_id]) if row.ip_version == 4]
        if not held:
            raise bad(f"Requested internal port {port_id} must allocate an IPv4 address at least.")
        if address not in {row.address for row in held}:
            fixed = [{"subnet_id": row.subnet_id, "ip_address": row.address} for row in held]
            raise bad(
                f"Requested internal IP address {address} is not suitable for internal neutron port "
                f"{port_id}, as its fixed_ips are {fixed}"
            )
        return Target(port, address, attrs["protocol"], ports)

    async def _router(self, conn: AsyncConnection, fip: Any, target: Target, others: bool = False) -> str:
        """The router joining the internal address's subnet to the floating IP's
        network; it must be the floating IP's router if it has one already."""
        subnet_id = next(
            row.subnet_id
            for row in await holders.held_by_ports(conn, [target.port.id])
            if row.address == target.address
        )
        router_id = await router_ports.router_between(conn, subnet_id, fip.floating_network_id)
        if router_id is None:
            raise bad(
                f"External network {fip.floating_network_id} is not reachable from subnet {subnet_id}. Cannot set "
                f"Port forwarding for port {target.port.id} with Floating IP {fip.id}"
            )
        current = fip.router_id
        if others and current is not None:
            alone = await conn.scalar(select(pf.c.id).where(pf.c.floatingip_id == fip.id).limit(2).offset(1))
            current = current if alone is not None else None  # the forwarding being moved was its only one
        if current is not None and current != router_id:
            raise bad(
                f"The Floating IP {fip.id} had been set on router {fip.router_id}, the internal Neutron port "
                f"{target.port.id} can not reach it"
            )
        return router_id

    async def _check_collisions(self, conn: AsyncConnection, fip_id: str, target: Target, own: str | None) -> None:
        others = pf.c.id != own if own else pf.c.id.is_not(None)
        same_fip = await conn.execute(
            select(pf).where(pf.c.floatingip_id == fip_id, pf.c.protocol == target.protocol, others)
        )
        same_socket = await conn.execute(
            select(pf).where(
                pf.c.internal_port_id == target.port.id,
                pf.c.protocol == target.protocol,
                pf.c.internal_ip_address == target.address,
                others,
            )
        )
        check_collisions(target.ports, list(same_fip), list(same_socket))

    @staticmethod
    async def _write(conn: AsyncConnection, stmt: Any, fip_id: str, target: Target) -> None:
        try:
            await conn.execute(stmt)
        except IntegrityError:  # a concurrent forwarding of the same ports won (the transaction is lost)
            conflict = {
                "floatingip_id": fip_id,
                "protocol": target.protocol,
                "external_port_range": f"{target.ports.external_start}:{target.ports.external_end}",
            }
            raise bad(
                f"A duplicate port forwarding entry with same attributes already exists, conflicting values are {conflict}"
            ) from None

    async def _delete_rows(self, conn: AsyncConnection, rows: list[Any], ctx: Context | None = None) -> None:
        """Delete forwardings; a floating IP left without any has no router any more."""
        if not rows:
            return
        fip_ids = sorted({row.floatingip_id for row in rows})
        fips = (await conn.execute(select(f.c.id, f.c.router_id, f.c.project_id).where(f.c.id.in_(fip_ids)))).all()
        router_ids = [fip.router_id for fip in fips if fip.router_id]
        projects = {fip.id: fip.project_id for fip in fips}
        await conn.execute(delete(pf).where(pf.c.id.in_([row.id for row in rows])))
        kept = set(await conn.scalars(select(pf.c.floatingip_id).where(pf.c.floatingip_id.in_(fip_ids))))
        emptied = [i for i in fip_ids if i not in kept]
        if emptied:
            await conn.execute(update(f).where(f.c.id.in_(emptied), f.c.port_id.is_(None)).values(router_id=None))
        await self._changed(conn, fip_ids, sorted({row.internal_port_id for row in rows}), router_ids)
        gone = [(row.id, row.revision_number, projects[row.floatingip_id]) for row in rows]
        await self._written(conn, "delete", gone, ctx)

    async def _written(
        self, conn: AsyncConnection, operation: str, forwardings: Sequence[tuple[str, int, str]], ctx: Context | None
    ) -> None:
        """The backend's jobs (quark.services.backends.outbox): (id, revision, project) each;
        the deployment's default driver realises them, as their floating IPs."""
        items = tuple(Written(pf_id, revision, project_id) for pf_id, revision, project_id in forwardings)
        await self.events.publish(conn, ResourcesWritten("port_forwarding", operation, items, ctx))

    async def _changed(
        self, conn: AsyncConnection, fip_ids: Sequence[str], port_ids: Sequence[str], router_ids: Sequence[str | None]
    ) -> None:
        event = PortForwardingsChanged(
            tuple(fip_ids), tuple(port_ids), tuple(sorted({r for r in router_ids if r is not None}))
        )
        await self.events.publish(conn, event)

    # --- subscribers -------------------------------------------------------------------------

    @staticmethod
    async def on_port_forwardings_changed(conn: AsyncConnection, event: PortForwardingsChanged) -> None:
        """As Neutron's (revises_on_change): the floating IPs and the internal ports
        of changed forwardings get a new revision."""
        now = utcnow()
        for table, ids in ((f, event.floatingip_ids), (p, event.internal_port_ids)):
            if ids:
                await conn.execute(
                    update(table)
                    .where(table.c.id.in_(list(ids)))
                    .values(revision_number=table.c.revision_number + 1, updated_at=now)
                )

    @staticmethod
    async def on_floatingip_associating(conn: AsyncConnection, event: FloatingIpAssociating) -> None:
        """A floating IP with port forwardings cannot be associated with a port (409)."""
        if await _has_forwardings(conn, event.floatingip.id):
            raise FipInUseByPortForwarding(id=event.floatingip.id)

    @staticmethod
    async def on_floatingip_deleting(conn: AsyncConnection, event: FloatingIpDeleting) -> None:
        """Nor deleted (409), as Neutron: its forwardings are deleted first."""
        if await _has_forwardings(conn, event.floatingip.id):
            raise FipInUseByPortForwarding(id=event.floatingip.id)

    async def on_port_deleting(self, conn: AsyncConnection, event: PortDeleting) -> None:
        """The forwardings to a port go with it."""
        rows = (await conn.execute(select(pf).where(pf.c.internal_port_id == event.port.id).with_for_update())).all()
        await self._delete_rows(conn, list(rows))

    async def on_port_addresses_changed(self, conn: AsyncConnection, event: PortAddressesChanged) -> None:
        """The forwardings to an address the port no longer holds go."""
        rows = (
            await conn.execute(select(pf).where(pf.c.internal_port_id.in_(list(event.port_ids))).with_for_update())
        ).all()
        if not rows:
            return
        held = {
            (row.port_id, row.address)
            for row in await holders.held_by_ports(conn, sorted({row.internal_port_id for row in rows}))
        }
        await self._delete_rows(
            conn, [row for row in rows if (row.internal_port_id, row.internal_ip_address) not in held]
        )


async def _has_forwardings(conn: AsyncConnection, fip_id: str) -> bool:
    return await conn.scalar(select(pf.c.id).where(pf.c.floatingip_id == fip_id).limit(1)) is not None
