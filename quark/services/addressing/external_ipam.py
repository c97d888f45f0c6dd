"""Quark as another system's IPAM: the service behind ``/v2.0/ipam``
(docs/neutron_ipam_driver.md), which Neutron's ``quark`` IPAM driver calls.

- A subnet of the external system is registered under its own id, on a
  Quark network with the external network's id (``local``, driver
  ``unmanaged``: nothing to build), so Quark's pools, IP policies,
  quarantine and utilization apply to it.
- An address is allocated for a *holder* (a Neutron port id), from Quark's
  normal allocator, as an address held by no Quark port. The same request
  again (same holder, subnets, and address or "any") answers the same
  address: the row's ``request_key`` is unique per subnet and holder, so two
  copies racing each other still make one allocation.
- A release names the holder: it releases only what that holder holds, and
  releasing what is not held is a no-op. Released addresses are quarantined
  like a port's.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.db.external_ipam_models import external_allocations as x
from quark.ipam.addressing import canonical_ip
from quark.ipam.ip_allocator import IpAllocator
from quark.ipam.requests import AddressRequest, FixedIp, Holder, Strategy
from quark.services.core.networks import NetworkService
from quark.services.core.subnets import SubnetService

a = models.ip_allocations
s = models.subnets
n = models.networks

# The description of the networks registration creates: they go with their last subnet.
REGISTERED = "Registered by an external IPAM driver"
ANY = "any"

_USED = (
    select(func.coalesce(func.sum(models.ip_usage.c.used), 0))
    .where(models.ip_usage.c.subnet_id == s.c.id)
    .scalar_subquery()
)


def subnet_view(row: Any) -> dict:
    return {
        "id": row.id,
        "network_id": row.network_id,
        "project_id": row.project_id,
        "cidr": row.cidr,
        "ip_version": row.ip_version,
        "gateway_ip": row.gateway_ip,
        "allocation_pools": [{"start": start, "end": end} for start, end in row.allocation_pools or []],
    }


def allocation_view(row: Any) -> dict:
    return {
        "id": row.allocation_id,
        "subnet_id": row.subnet_id,
        "network_id": row.network_id,
        "ip_address": row.address,
        "holder": row.holder,
        "project_id": row.project_id,
    }


_ALLOCATIONS = select(x, a.c.network_id, a.c.project_id).select_from(x.join(a, a.c.id == x.c.allocation_id))


class ExternalIpamService:
    def __init__(self, db, networks: NetworkService, subnets: SubnetService, ips: IpAllocator) -> None:
        self.db = db
        self.networks = networks
        self.subnets = subnets
        self.ips = ips

    # --- subnets -------------------------------------------------------------------

    async def get_subnet(self, subnet_id: str) -> dict:
        async with self.db.read() as conn:
            row = (await conn.execute(select(s).where(s.c.id == subnet_id))).one_or_none()
        if row is None:
            raise errors.SubnetNotFound(subnet_id=subnet_id)
        return subnet_view(row)

    async def register_subnet(self, ctx: Context, subnet_id: str, attrs: dict) -> tuple[dict, bool]:
        """The subnet under ``subnet_id``, made (True) or brought to the pools and
        gateway asked for (False). Registering twice at once makes it once."""
        try:
            current = await self.get_subnet(subnet_id)
        except errors.SubnetNotFound:
            try:
                await self.db.run_write(lambda conn: self._create(conn, ctx, subnet_id, attrs))
                return await self.get_subnet(subnet_id), True
            except IntegrityError:  # a concurrent registration made it first
                current = await self.get_subnet(subnet_id)
        if current["network_id"] != attrs["network_id"] or current["cidr"] != attrs["cidr"]:
            raise errors.InvalidInput(error_message=f"subnet {subnet_id} is registered with another network or CIDR")
        changes = {k: attrs[k] for k in ("allocation_pools", "gateway_ip") if k in attrs and attrs[k] != current[k]}
        if changes:
            await self.subnets.update(ctx, subnet_id, changes)
        return await self.get_subnet(subnet_id), False

    async def _create(self, conn: AsyncConnection, ctx: Context, subnet_id: str, attrs: dict) -> None:
        network_id = attrs["network_id"]
        if await conn.scalar(select(n.c.id).where(n.c.id == network_id)) is None:
            network = {
                "id": network_id,
                "name": attrs.get("network_name") or "",
                "description": REGISTERED,
                "project_id": attrs["project_id"],
                "provider:network_type": "local",
                "network_plugin": "unmanaged",
            }
            await self.networks.create_in(conn, ctx, network)
        subnet = {k: attrs[k] for k in ("network_id", "cidr", "ip_version", "project_id", "gateway_ip") if k in attrs}
        subnet.update(id=subnet_id, enable_dhcp=False, name=attrs.get("name") or "")
        if attrs.get("allocation_pools"):
            subnet["allocation_pools"] = attrs["allocation_pools"]
        await self.subnets.create_in(conn, ctx, subnet)

    async def remove_subnet(self, ctx: Context, subnet_id: str) -> None:
        """Release what the subnet's holders still hold, delete it, and its network
        if registration made it and this was its last subnet. Removing a subnet
        that is not registered is a no-op."""

        async def release_all(conn: AsyncConnection) -> str | None:
            ids = (await conn.execute(select(x.c.allocation_id).where(x.c.subnet_id == subnet_id))).scalars().all()
            await self._release(conn, list(ids))
            return await conn.scalar(select(s.c.network_id).where(s.c.id == subnet_id))

        network_id = await self.db.run_write(release_all)
        if network_id is None:
            return
        try:
            await self.subnets.delete(ctx, subnet_id)
        except errors.SubnetNotFound:
            pass
        async with self.db.read() as conn:
            network = (await conn.execute(select(n.c.description).where(n.c.id == network_id))).one_or_none()
            left = await conn.scalar(select(func.count()).select_from(s).where(s.c.network_id == network_id))
        if network is not None and network.description == REGISTERED and not left:
            try:
                await self.networks.delete(ctx, network_id)
            except (errors.NetworkNotFound, errors.NetworkInUse):
                pass

    # --- allocations ---------------------------------------------------------------

    async def allocate(self, attrs: dict) -> tuple[dict, bool]:
        """One address for ``holder`` on one of ``subnet_ids`` (all of one network):
        ``ip_address`` if given, else any free one. True when newly allocated,
        False when the holder already had it from the same request."""
        holder: str = attrs["holder"]
        subnet_ids: list[str] = list(attrs["subnet_ids"])
        wanted = canonical_ip(attrs["ip_address"]) if attrs.get("ip_address") else None
        key = wanted or ANY

        async def work(conn: AsyncConnection) -> tuple[dict, bool]:
            held = await self._held(conn, holder, subnet_ids, key)
            if held is not None:
                return held, False
            subnets = await self._subnets(conn, subnet_ids)
            project_id = attrs.get("project_id") or subnets[0].project_id
            request = AddressRequest(
                Holder(None, project_id, device_owner=attrs.get("device_owner") or ""),
                subnets[0].network_id,
                subnets,
                fixed_ips=None if wanted is None else (FixedIp(subnet_ids[0] if len(subnets) == 1 else None, wanted),),
                strategy=Strategy.ANY,
                version=subnets[0].ip_version,
                admin=False,  # IP policies apply to the external system's addresses too
                one_required=True,
            )
            ((allocation,),) = await self.ips.allocate(conn, [request])
            allocation_id = allocation.id or await conn.scalar(
                select(a.c.id).where(a.c.subnet_id == allocation.subnet_id, a.c.address == allocation.address)
            )
            row = {
                "allocation_id": allocation_id,
                "subnet_id": allocation.subnet_id,
                "address": allocation.address,
                "holder": holder,
                "request_key": key,
                "created_at": utcnow(),
            }
            try:
                await conn.execute(insert(x).values(**row))
            except IntegrityError:
                # The same request, running at the same time, committed first: run
                # again (this allocation rolls back) and answer with its address.
                raise errors.RetryRequest() from None
            return allocation_view(
                SimpleNamespace(**row, network_id=subnets[0].network_id, project_id=project_id)
            ), True

        return await self.db.run_write(work)

    @staticmethod
    async def _held(conn: AsyncConnection, holder: str, subnet_ids: list[str], key: str) -> dict | None:
        row = (
            await conn.execute(
                _ALLOCATIONS.where(x.c.holder == holder, x.c.subnet_id.in_(subnet_ids), x.c.request_key == key)
            )
        ).first()
        return None if row is None else allocation_view(row)

    @staticmethod
    async def _subnets(conn: AsyncConnection, subnet_ids: list[str]) -> list[Any]:
        """The subnets asked for, in the order asked, with their use; all of one network."""
        rows = {r.id: r for r in await conn.execute(select(s, _USED.label("used")).where(s.c.id.in_(subnet_ids)))}
        for subnet_id in subnet_ids:
            if subnet_id not in rows:
                raise errors.SubnetNotFound(subnet_id=subnet_id)
        ordered = [rows[sid] for sid in subnet_ids]
        if len({r.network_id for r in ordered}) > 1:
            raise errors.InvalidInput(error_message="subnet_ids must all be subnets of one network")
        return ordered

    async def release(self, subnet_id: str, address: str, holder: str | None) -> bool:
        """Release ``address`` of the subnet if ``holder`` holds it (any external
        holder with ``holder`` None); True if something was released."""
        where = [x.c.subnet_id == subnet_id, x.c.address == canonical_ip(address)]
        if holder is not None:
            where.append(x.c.holder == holder)

        async def work(conn: AsyncConnection) -> bool:
            ids = (await conn.execute(select(x.c.allocation_id).where(*where).with_for_update())).scalars().all()
            await self._release(conn, list(ids))
            return bool(ids)

        return await self.db.run_write(work)

    async def _release(self, conn: AsyncConnection, allocation_ids: Sequence[str]) -> None:
        if allocation_ids:
            await conn.execute(delete(x).where(x.c.allocation_id.in_(list(allocation_ids))))
            await self.ips.release_allocations(conn, allocation_ids)

    async def list_allocations(self, holder: str | None, subnet_id: str | None) -> list[dict]:
        stmt = _ALLOCATIONS
        if holder is not None:
            stmt = stmt.where(x.c.holder == holder)
        if subnet_id is not None:
            stmt = stmt.where(x.c.subnet_id == subnet_id)
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt.order_by(x.c.subnet_id, x.c.created_at))).all()
        return [allocation_view(r) for r in rows]
