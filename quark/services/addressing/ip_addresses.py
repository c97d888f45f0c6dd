"""Quark's ``/v2.0/ip_addresses``: addresses for any device, and shared addresses.

Every live allocation is an ip_address: a port's fixed IPs are listed here
too (type ``fixed``). Through this API a project can also

- reserve an address on a network for a device that has no port here
  (no ``port_ids``/``device_ids``: type ``fixed``, held by no port);
- add an address to an existing port (one port: type ``fixed``);
- share one address between several ports, e.g. an active/passive pair
  (type ``shared``): the address appears in each holder's ``fixed_ips``.

Holding shapes and the life of a shared address are described in
``quark.ipam.holders``; addresses are always taken from and given back to
the IP allocator (pools, IP policies, quarantine). Ports owned by a
network service (``device_owner`` ``network:*``: DHCP, router interfaces,
floating IPs) are left to that service: they cannot be holders here, and
their addresses cannot be moved or deleted here (409). The limits
``ipaddr_max_per_port``, ``ipaddr_max_shared_per_network`` and
``ipaddr_max_ports_per_shared`` are checked under row locks (holder ports,
the network for the shared count), so concurrent requests cannot both slip
under a limit.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, exists, false, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, owners
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.ipam import holders
from quark.ipam.requests import AddressRequest, Allocation, FixedIp, Holder, Strategy
from quark.services.common import base
from quark.services.common.base import ResourceService
from quark.services.common.listing import ListQuery
from quark.services.core.ports.network_tree import network_tree
from quark.services.core.ports.service import PortService
from quark.services.events import Events, ResourcesCreated

a = models.ip_allocations
h = models.ip_address_ports
p = models.ports
n = models.networks


def _holder_exists(condition) -> Any:
    """Some holder port of the allocation (either shape) satisfies ``condition`` on ports."""
    shared = select(h.c.allocation_id).select_from(h.join(p, p.c.id == h.c.port_id)).where(condition)
    return or_(exists().where(p.c.id == a.c.port_id, condition), a.c.id.in_(shared))


def _owner_project(ctx: Context, attrs: dict, ports: list[Any]) -> str:
    """The project of a new address: as asked, or, for an admin naming the
    ports of one project and no project, that project's."""
    explicit = "project_id" in attrs or "tenant_id" in attrs
    project_id = base.resolve_project(ctx, attrs)
    if ctx.is_admin and not explicit and ports and len({pt.project_id for pt in ports}) == 1:
        return str(ports[0].project_id)
    return project_id


def _named_in_order(rows: Sequence[Any], port_ids: list[str], device_ids: list[str], network_id: str) -> list[Any]:
    """The ports named by id (in the order named), then those named by device;
    404 for a port id not found, 400 for a device with no port on the network."""
    by_id = {r.id: r for r in rows}
    for port_id in port_ids:
        if port_id not in by_id:
            raise errors.PortNotFound(port_id=port_id)
    for device_id in device_ids:
        if not any(r.device_id == device_id and r.network_id == network_id for r in rows):
            raise errors.NotAllPortOrDeviceFound(device_id=device_id, net_id=network_id)
    return [by_id[pid] for pid in port_ids] + [r for r in rows if r.id not in port_ids and r.device_id in device_ids]


def _holder_changes(row: Any, shared: list[tuple[str, str]] | None, wanted: list[str]) -> tuple[list[str], list[str]]:
    """The holders an address loses and gains; a holder with a service on the
    address (a floating IP, ...) cannot be removed (409)."""
    current = [pid for pid, _ in shared] if shared else ([row.port_id] if row.port_id else [])
    removed = [pid for pid in current if pid not in wanted]
    for port_id, service in shared or []:
        if port_id in removed and service != "none":
            raise errors.PortRequiresDisassociation(port_id=port_id, ip=row.address, service=service)
    return removed, [pid for pid in wanted if pid not in current]


async def _allocation_id(conn: AsyncConnection, allocation: Allocation) -> str:
    """The row id of an allocation the allocator took over without reading it."""
    found = await conn.scalar(
        select(a.c.id).where(
            a.c.subnet_id == allocation.subnet_id, a.c.address == allocation.address, a.c.deallocated == false()
        )
    )
    return str(found)


async def _add_holders(conn: AsyncConnection, allocation_id: str, port_ids: list[str]) -> None:
    if port_ids:
        now = utcnow()
        await conn.execute(
            insert(h),
            [
                {"allocation_id": allocation_id, "port_id": pid, "service": "none", "created_at": now}
                for pid in port_ids
            ],
        )


def _refuse_service_port(port: Any) -> None:
    if owners.is_network_service(port.device_owner):
        raise errors.AddressOfServicePort(port_id=port.id, device_owner=port.device_owner)


async def _refuse_service_holders(conn: AsyncConnection, row: Any) -> None:
    """An address held by a network-service port is that service's to change."""
    held = select(h.c.port_id).where(h.c.allocation_id == row.id)
    for port in await conn.execute(
        select(p.c.id, p.c.device_owner).where(
            or_(p.c.id == row.port_id, p.c.id.in_(held)), p.c.device_owner.like(owners.NETWORK_PREFIX + "%")
        )
    ):
        _refuse_service_port(port)


class IpAddressService(ResourceService):
    table = a
    not_found = errors.IpAddressNotFound
    not_found_key = "ip_address_id"
    columns = {
        "id": a.c.id,
        "project_id": a.c.project_id,
        "tenant_id": a.c.project_id,
        "network_id": a.c.network_id,
        "subnet_id": a.c.subnet_id,
        "ip_address": a.c.address,
        "version": a.c.ip_version,
        "created_at": a.c.allocated_at,
    }

    def __init__(self, db, settings, ports: PortService, events: Events | None = None) -> None:
        super().__init__(db, settings, events)
        self.ports = ports
        self.ips = ports.ips

    # --- reads -------------------------------------------------------------------

    def visible(self, ctx: Context):
        """Live addresses only (a released one is gone: 404); a project sees its own."""
        live = a.c.deallocated == false()
        return live if ctx.is_admin else and_(live, a.c.project_id == ctx.project_id)

    def extra_filters(self, query: ListQuery) -> list:
        clauses = []
        shared = exists().where(h.c.allocation_id == a.c.id)
        kinds = set(query.filters.get("type", []))
        if kinds and kinds != {"fixed", "shared"}:
            clauses.append(shared if "shared" in kinds else ~shared)
        if "port_id" in query.filters:
            ports = query.filters["port_id"]
            clauses.append(
                or_(a.c.port_id.in_(ports), a.c.id.in_(select(h.c.allocation_id).where(h.c.port_id.in_(ports))))
            )
        if "device_id" in query.filters:
            clauses.append(_holder_exists(p.c.device_id.in_(query.filters["device_id"])))
        return clauses

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> list[dict]:
        shared = await holders.holders_of(conn, [r.id for r in rows])
        port_ids = {
            r.id: ([pid for pid, _ in shared[r.id]] if r.id in shared else [r.port_id] if r.port_id else [])
            for r in rows
        }
        devices: dict[str, str] = {}
        wanted = sorted({pid for ids in port_ids.values() for pid in ids})
        if wanted and query.wants("device_ids"):
            devices = dict((await conn.execute(select(p.c.id, p.c.device_id).where(p.c.id.in_(wanted)))).all())
        return [self._view(r, "shared" if r.id in shared else "fixed", port_ids[r.id], devices) for r in rows]

    @staticmethod
    def _view(row: Any, kind: str, port_ids: list[str], devices: dict[str, str]) -> dict:
        device_ids: list[str] = []
        for pid in port_ids:
            device = devices.get(pid)
            if device and device not in device_ids:
                device_ids.append(device)
        return {
            "id": row.id,
            "network_id": row.network_id,
            "subnet_id": row.subnet_id,
            "ip_address": row.address,
            "version": row.ip_version,
            "type": kind,
            "port_ids": port_ids,
            "device_ids": device_ids,
            "project_id": row.project_id,
            "tenant_id": row.project_id,
            "created_at": base.format_time(row.allocated_at),
        }

    # --- create --------------------------------------------------------------------

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        """Allocate one address and give it its holders, in the caller's transaction."""
        # The network and its subnets in one read (as port create does).
        network, subnets = await network_tree(conn, ctx, attrs["network_id"], ctx.project_id)
        ports = await self._holder_ports(conn, ctx, network, attrs.get("port_ids") or [], attrs.get("device_ids") or [])
        project_id = _owner_project(ctx, attrs, ports)
        kind = attrs.get("type") or ("shared" if len(ports) > 1 else "fixed")
        self._check_holder_count(kind, len(ports))
        await self._check_port_limit(conn, [pt.id for pt in ports])
        if kind == "shared":
            await self._check_shared_limit(conn, network.id, project_id)
        single = ports[0].id if kind == "fixed" and ports else None
        allocation = await self._allocate(conn, ctx, network, subnets, attrs, single, project_id)
        allocation_id = allocation.id or await _allocation_id(conn, allocation)
        if kind == "shared":
            await _add_holders(conn, allocation_id, [pt.id for pt in ports])
        await self.ports.addresses_changed(conn, [pt.id for pt in ports])
        if single is None:  # reserved or shared: what a Neutron user would hold with a port of its own
            await self.events.publish(conn, ResourcesCreated("port", {project_id: 1}))
        return allocation_id

    async def _holder_ports(
        self, conn: AsyncConnection, ctx: Context, network: Any, port_ids: list[str], device_ids: list[str]
    ) -> list[Any]:
        """The holder ports named directly or through their devices, row-locked.

        A project names only its own ports (others: 404, as if absent); every
        port must be on the address's network (400).
        """
        if not port_ids and not device_ids:
            return []
        if "" in device_ids:
            raise errors.InvalidInput(error_message="device_ids cannot contain an empty device id")
        named = or_(p.c.id.in_(port_ids), and_(p.c.device_id.in_(device_ids), p.c.network_id == network.id))
        stmt = select(p).where(named)
        if not ctx.is_admin:
            stmt = stmt.where(p.c.project_id == ctx.project_id)
        # One statement, in id order: concurrent requests lock holder ports in the same order.
        rows = (await conn.execute(stmt.order_by(p.c.id).with_for_update())).all()
        ordered = _named_in_order(rows, port_ids, device_ids, network.id)
        for port in ordered:
            _refuse_service_port(port)
            if port.network_id != network.id:
                raise errors.PortNotOnAddressNetwork(
                    port_id=port.id, port_network_id=port.network_id, net_id=network.id
                )
        return ordered

    def _check_holder_count(self, kind: str, count: int) -> None:
        if kind == "fixed" and count > 1:
            raise errors.FixedIpAddressHasOnePort(count=count)
        if kind == "shared":
            if count == 0:
                raise errors.SharedIpAddressNeedsPorts()
            limit = self.settings.ipaddr_max_ports_per_shared
            if 0 <= limit < count:
                raise errors.SharedIpAddressPortLimitExceeded(limit=limit, count=count)

    async def _check_port_limit(self, conn: AsyncConnection, added: list[str]) -> None:
        """Each port gaining the address stays within ``ipaddr_max_per_port`` (ports are locked)."""
        limit = self.settings.ipaddr_max_per_port
        if limit < 0 or not added:
            return
        counts = await holders.addresses_per_port(conn, added)
        for port_id in added:
            if counts[port_id] + 1 > limit:
                raise errors.PortIpAddressLimitExceeded(port_id=port_id, count=counts[port_id] + 1, limit=limit)

    async def _check_shared_limit(self, conn: AsyncConnection, network_id: str, project_id: str) -> None:
        limit = self.settings.ipaddr_max_shared_per_network
        if limit < 0:
            return
        # The network row serialises shared-address creation on it, so the count is exact.
        await conn.execute(select(n.c.id).where(n.c.id == network_id).with_for_update())
        if await holders.shared_count(conn, network_id, project_id) + 1 > limit:
            raise errors.SharedIpAddressLimitExceeded(project_id=project_id, net_id=network_id, limit=limit)

    async def _allocate(
        self,
        conn: AsyncConnection,
        ctx: Context,
        network: Any,
        subnets: list[Any],
        attrs: dict,
        port_id: str | None,
        project_id: str,
    ) -> Allocation:
        """The requested address, or any free one on the chosen subnet(s), from the allocator.

        The address belongs to no single port's MAC (it is reserved, added to
        a port or shared), so it follows no EUI-64 rule; without a subnet or an
        address, one free address of the network, IPv4 first (``Strategy.ANY``).
        """
        version = attrs.get("version")
        if "subnet_id" in attrs and not any(sub.id == attrs["subnet_id"] for sub in subnets):
            raise errors.InvalidInput(error_message=f"subnet {attrs['subnet_id']} is not on network {network.id}")
        if "ip_address" in attrs and version is not None:
            address = ipaddress.ip_address(attrs["ip_address"])
            if address.version != version:
                raise errors.InvalidInput(error_message=f"{address} is not an IPv{version} address")
        entry = FixedIp(attrs.get("subnet_id"), attrs.get("ip_address"))
        request = AddressRequest(
            Holder(port_id, project_id),
            network.id,
            subnets,
            fixed_ips=None if entry == FixedIp() else (entry,),
            strategy=Strategy.ANY,
            version=version,
            admin=ctx.is_admin,
            one_required=True,
        )
        ((allocation,),) = await self.ips.allocate(conn, [request])
        return allocation

    # --- update ----------------------------------------------------------------------

    async def update(self, ctx: Context, ip_id: str, attrs: dict, if_match: int | None = None) -> dict:
        """Replace the holders (``port_ids`` and/or ``device_ids``); the type stays."""

        async def work(conn: AsyncConnection) -> dict:
            row = await self.get_row(conn, ctx, ip_id, for_update=True)
            if "port_ids" in attrs or "device_ids" in attrs:
                await _refuse_service_holders(conn, row)
                network = (await conn.execute(select(n).where(n.c.id == row.network_id))).one()
                ports = await self._holder_ports(
                    conn, ctx, network, attrs.get("port_ids") or [], attrs.get("device_ids") or []
                )
                await self._replace_holders(conn, row, [pt.id for pt in ports])
            return await self.render_one(conn, ctx, ip_id)

        return await self.db.run_write(work)

    async def _replace_holders(self, conn: AsyncConnection, row: Any, wanted: list[str]) -> None:
        shared = (await holders.holders_of(conn, [row.id])).get(row.id)
        self._check_holder_count("shared" if shared else "fixed", len(wanted))
        removed, added = _holder_changes(row, shared, wanted)
        await self._check_port_limit(conn, added)
        if not shared:  # a fixed address has its one holder on its own row
            await conn.execute(update(a).where(a.c.id == row.id).values(port_id=wanted[0] if wanted else None))
        else:
            if removed:
                await conn.execute(delete(h).where(h.c.allocation_id == row.id, h.c.port_id.in_(removed)))
            await _add_holders(conn, row.id, added)
        await self.ports.addresses_changed(conn, [*removed, *added])

    # --- delete ----------------------------------------------------------------------

    async def delete(self, ctx: Context, ip_id: str, if_match: int | None = None) -> None:
        """Release the address to the allocator (quarantined), whoever holds it."""

        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, ip_id, for_update=True)
            await _refuse_service_holders(conn, row)
            shared = (await holders.holders_of(conn, [row.id])).get(row.id, [])
            for port_id, service in shared:
                if service != "none":
                    raise errors.PortRequiresDisassociation(port_id=port_id, ip=row.address, service=service)
            await conn.execute(delete(h).where(h.c.allocation_id == row.id))
            await self.ips.release_allocations(conn, [row.id])
            holder_ids = sorted({pid for pid, _ in shared} | ({row.port_id} if row.port_id else set()))
            await self.ports.addresses_changed(conn, holder_ids)

        await self.db.run_write(work)

    # --- /ip_addresses/{id}/ports --------------------------------------------------------

    async def list_holders(self, ctx: Context, ip_id: str) -> list[dict]:
        async with self.db.read() as conn:
            row = await self.get_row(conn, ctx, ip_id)
            return await self._holder_views(conn, row)

    async def get_holder(self, ctx: Context, ip_id: str, port_id: str) -> dict:
        async with self.db.read() as conn:
            row = await self.get_row(conn, ctx, ip_id)
            return self._one_holder(await self._holder_views(conn, row), ip_id, port_id)

    async def update_holder(self, ctx: Context, ip_id: str, port_id: str, attrs: dict) -> dict:
        """Set the ``service`` of one holder of a shared address."""

        async def work(conn: AsyncConnection) -> dict:
            row = await self.get_row(conn, ctx, ip_id, for_update=True)
            views = await self._holder_views(conn, row)
            self._one_holder(views, ip_id, port_id)
            if "service" in attrs:
                if not (await holders.holders_of(conn, [row.id])).get(row.id):
                    raise errors.IpAddressServiceNotShared(ip=row.address)
                await conn.execute(
                    update(h)
                    .where(h.c.allocation_id == row.id, h.c.port_id == port_id)
                    .values(service=attrs["service"])
                )
            return self._one_holder(await self._holder_views(conn, row), ip_id, port_id)

        return await self.db.run_write(work)

    @staticmethod
    def _one_holder(views: list[dict], ip_id: str, port_id: str) -> dict:
        for view in views:
            if view["id"] == port_id:
                return view
        raise errors.PortNotHoldingAddress(port_id=port_id, ip_address_id=ip_id)

    @staticmethod
    async def _holder_views(conn: AsyncConnection, row: Any) -> list[dict]:
        shared = (await holders.holders_of(conn, [row.id])).get(row.id)
        services = dict(shared) if shared else ({row.port_id: "none"} if row.port_id else {})
        if not services:
            return []
        ports = {
            r.id: r
            for r in await conn.execute(
                select(p.c.id, p.c.name, p.c.network_id, p.c.device_id, p.c.device_owner, p.c.mac_address).where(
                    p.c.id.in_(list(services))
                )
            )
        }
        return [
            {
                "id": pid,
                "name": ports[pid].name,
                "network_id": ports[pid].network_id,
                "device_id": ports[pid].device_id,
                "device_owner": ports[pid].device_owner,
                "mac_address": ports[pid].mac_address,
                "service": service,
            }
            for pid, service in services.items()
            if pid in ports
        ]
