"""The port service: reads, create (single, bulk, inside other transactions),
update, delete, and the ports' reactions to other resources' changes.

Addresses come from the IP allocator in one call per create or update
(``quark.ipam.decision`` decides), MACs from the MAC ranges
(``mac_choice``); what a port change means elsewhere (security groups,
hosts, floating IPs) follows through the change events it publishes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import delete, exists, false, insert, or_, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, owners
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.ipam import addressing, holders, macs
from quark.ipam.decision import serves
from quark.ipam.ip_allocator import IpAllocator
from quark.ipam.mac_allocator import MacAllocator
from quark.ipam.requests import AddressRequest, FixedIp, Holder
from quark.services.common.base import ResourceService, check_revision, standard_columns, write_tags
from quark.services.common.batching import CreateBatcher
from quark.services.common.idempotency import record
from quark.services.common.listing import ListQuery
from quark.services.core.binding import Binder, UnboundBinder, bound_host
from quark.services.core.ports import creating, views
from quark.services.core.ports.creating import NewPort
from quark.services.core.ports.mac_choice import MacChoice
from quark.services.core.ports.network_tree import network_tree, subnets_of
from quark.services.core.ports.updating import PortUpdater
from quark.services.events import (
    Events,
    NetworkDeleting,
    PortAddressesChanged,
    PortChange,
    PortDeleting,
    PortsChanged,
    PortsCreating,
    ResourcesCreated,
    ResourcesWritten,
    SubnetCreated,
    Written,
)

p = models.ports
n = models.networks
a = models.ip_allocations
psg = models.port_security_groups
h = models.ip_address_ports

T = TypeVar("T")

# Port attributes no host agent shows: changing only these tells no host.
QUIET_ATTRIBUTES = frozenset({"name", "description", "security_groups", "binding:profile", "binding:vnic_type"})


class PortService(ResourceService):
    table = p
    not_found = errors.PortNotFound
    not_found_key = "port_id"
    columns = {
        **standard_columns(p),
        "network_id": p.c.network_id,
        "admin_state_up": p.c.admin_state_up,
        "mac_address": p.c.mac_address,
        "device_id": p.c.device_id,
        "device_owner": p.c.device_owner,
        "status": p.c.status,
        "binding:host_id": p.c.binding_host_id,
        "binding:vnic_type": p.c.binding_vnic_type,
        "binding:vif_type": p.c.binding_vif_type,
        "ip_allocation": p.c.ip_allocation,
    }
    related = views.RELATED

    def __init__(
        self,
        db,
        settings,
        events: Events,
        ip_allocator: IpAllocator,
        mac_allocator: MacAllocator,
        binder: Binder | None = None,
    ) -> None:
        super().__init__(db, settings, events)
        self.ips = ip_allocator
        self.macs = mac_allocator
        self.mac_choice = MacChoice(mac_allocator)
        self.binder: Binder = binder or UnboundBinder()
        self.updater = PortUpdater(settings, events, ip_allocator, self.mac_choice, self.binder)
        batch = getattr(settings, "port_create_batch", 0)
        self.batcher = CreateBatcher(self._create_now, batch) if batch > 1 else None

    # --- reads -------------------------------------------------------------------

    def visible(self, ctx: Context):
        # Nova's service user binds any project's ports (Neutron's get_port / update_port
        # allow rule:service_api); what it may change is the policy's decision.
        return None if ctx.is_service else self.visible_to(ctx.project_id)

    async def authorize_write(self, conn: AsyncConnection, ctx: Context, row: Any) -> None:
        """The port's project, the service, or the network's owner (Neutron's
        delete_port; what each may change is the policy's decision, made before)."""
        if ctx.is_service or row.project_id == ctx.project_id:
            return
        owner = await conn.scalar(select(n.c.project_id).where(n.c.id == row.network_id))
        if owner != ctx.project_id:
            await super().authorize_write(conn, ctx, row)

    @staticmethod
    def visible_to(project: Any):
        """Ports a project may see: its own, and any on its networks (``project``: a value or a bind parameter)."""
        own_networks = select(n.c.id).where(n.c.project_id == project)
        return or_(p.c.project_id == project, p.c.network_id.in_(own_networks))

    def extra_filters(self, query: ListQuery) -> list:
        clauses = []
        fixed = query.extra.get("fixed_ips") or {}

        def held(condition):
            """Ports holding a matching address, by themselves or shared with
            others (ip_address_ports). One IN over a UNION, driven by the
            addresses' index: an EXISTS correlated to the port, ORed with the
            shared case, made PostgreSQL test every port (issue 21: 130 ms at
            30,000 ports, growing with the table)."""
            alone = select(a.c.port_id).where(a.c.port_id.is_not(None), a.c.deallocated == false(), condition)
            shared = select(h.c.port_id).select_from(h.join(a, a.c.id == h.c.allocation_id)).where(condition)
            return p.c.id.in_(union_all(alone, shared))

        if fixed.get("ip_address"):
            clauses.append(held(a.c.address.in_(fixed["ip_address"])))
        if fixed.get("subnet_id"):
            clauses.append(held(a.c.subnet_id.in_(fixed["subnet_id"])))
        for substr in fixed.get("ip_address_substr") or []:
            clauses.append(held(a.c.address.contains(substr, autoescape=True)))
        if "security_groups" in query.filters:
            clauses.append(
                exists().where(psg.c.port_id == p.c.id, psg.c.security_group_id.in_(query.filters["security_groups"]))
            )
        return clauses

    def assemble(self, rows: Sequence[Any], found: dict[str, list[Any]], query: ListQuery) -> list[dict]:
        return views.assemble(rows, found)

    # --- create ------------------------------------------------------------------

    async def create_bulk(self, ctx: Context, items: list[dict]) -> list[dict]:
        if len(items) == 1 and self.batcher is not None:
            return await self.batcher.submit(ctx, items)
        return await self._create_now([(ctx, items)])

    async def _create_now(self, requests: list[tuple[Context, list[dict]]]) -> list[dict]:
        """The ports of one or more requests of one caller (the batcher's group
        commit) in one transaction, as the first request's Context asks; each
        request's Idempotency-Key answer is its own slice of the views."""
        items = [item for _, asked in requests for item in asked]

        async def work(conn: AsyncConnection) -> list[dict]:
            first = requests[0][0]
            views = await self.create_ports_in(conn, first, items)
            start = 0
            for ctx, asked in requests:
                mine = views[start : start + len(asked)]
                if ctx is not first:  # the jobs of a batched request's ports are its own (X-Quark-Job-Id)
                    ctx.jobs.update({v["id"]: first.jobs[v["id"]] for v in mine if v["id"] in first.jobs})
                await record(conn, ctx, mine)
                start += len(asked)
            return views

        return await self.run_creating(items, work)

    async def run_creating(self, items: list[dict], work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` (a transaction that creates the ports ``items``) with the
        MACs it needs reserved first, outside it (see ipam.mac_allocator)."""
        async with self.macs.reserve(sum(1 for item in items if "mac_address" not in item)) as reservation:

            async def attempt(conn: AsyncConnection) -> T:
                reservation.rewind()
                return await work(conn)

            return await self.db.run_write(attempt)

    async def create_ports_in(
        self,
        conn: AsyncConnection,
        ctx: Context,
        items: list[dict],
        *,
        ip_version: int | None = None,
        internal: bool = False,
    ) -> list[dict]:
        """Create ports inside the caller's transaction (bulk create, floating
        IPs, instance provisioning, DHCP ports); their views, in order.
        ``ip_version`` limits the addresses to that family (floating IPs: 4);
        ``internal`` ports (DHCP) are counted in their project's quota but
        never refused by it, as Neutron's.
        The steps are described in ``quark.services.core.ports.creating``."""
        new_ports = await self._plan_all(conn, ctx, items, ip_version)
        await self.events.publish(conn, PortsCreating(ctx, [np.group_choice for np in new_ports]))
        for new_port in new_ports:  # the row goes in bound: no read-back, no second write
            if new_port.row["binding_host_id"]:
                await self._bind_new(conn, new_port)
        try:
            await conn.execute(insert(p), [np.row for np in new_ports])
        except IntegrityError:
            # A concurrent request took an explicit MAC between our check and insert.
            first = new_ports[0].row
            raise errors.MacAddressInUse(net_id=first["network_id"], mac=first["mac_address"]) from None
        await creating.write_children(conn, new_ports)
        # The backend's jobs before the addresses: the subnet cursor row that
        # allocation locks is held to the commit, and the jobs' INSERT stays out of it.
        await self._written_created(conn, ctx, new_ports)
        granted = await self.ips.allocate(conn, [np.addresses for np in new_ports])
        for new_port, allocations in zip(new_ports, granted):
            new_port.allocations = allocations
        await self._publish_created(conn, new_ports)
        if not internal:  # last: the quota lock is held only from here to the commit
            await self.events.publish(conn, ResourcesCreated("port", Counter(np.row["project_id"] for np in new_ports)))
        return [np.view() for np in new_ports]

    async def _plan_all(
        self, conn: AsyncConnection, ctx: Context, items: list[dict], ip_version: int | None
    ) -> list[NewPort]:
        trees: dict[str, tuple[Any, list[Any]]] = {}
        new_ports: list[NewPort] = []
        macs_seen: set[tuple[str, str]] = set()
        for attrs in items:
            net_id = attrs["network_id"]
            if net_id not in trees:
                project = attrs.get("project_id") or attrs.get("tenant_id") or ctx.project_id
                trees[net_id] = await network_tree(conn, ctx, net_id, project)
            network, subnets = trees[net_id]
            new_port = await creating.plan_port(
                conn,
                ctx,
                dict(attrs),
                network,
                subnets,
                mac_choice=self.mac_choice,
                max_address_pairs=self.settings.max_allowed_address_pairs,
                ip_version=ip_version,
            )
            key = (net_id, new_port.row["mac_address"])
            if key in macs_seen:
                raise errors.MacAddressInUse(net_id=net_id, mac=new_port.row["mac_address"])
            macs_seen.add(key)
            new_ports.append(new_port)
        return new_ports

    async def _bind_new(self, conn: AsyncConnection, new_port: NewPort) -> None:
        """Bind a port not yet written: the binder sees its planned row."""
        row = SimpleNamespace(**new_port.row)
        result = await self.binder.bind(conn, row, new_port.network, new_port.row["binding_host_id"])
        new_port.row.update(binding_vif_type=result.vif_type, binding_vif_details=result.vif_details)
        if result.status is not None:
            new_port.row["status"] = result.status

    async def _written_created(self, conn: AsyncConnection, ctx: Context, new_ports: list[NewPort]) -> None:
        default = self.settings.backend_driver
        written = tuple(
            Written(np.row["id"], 0, np.row["project_id"], np.network.id, np.network.network_plugin or default)
            for np in new_ports
        )
        await self.events.publish(conn, ResourcesWritten("port", "create", written, ctx))

    async def _publish_created(self, conn: AsyncConnection, new_ports: list[NewPort]) -> None:
        by_network: dict[str, list[PortChange]] = defaultdict(list)
        groups: dict[str, set[str]] = defaultdict(set)
        networks = {}
        for new_port in new_ports:
            host = bound_host(new_port.row["binding_host_id"], new_port.row["binding_vif_type"])
            by_network[new_port.network.id].append(PortChange(new_port.row["id"], "", host))
            groups[new_port.network.id].update(new_port.groups)
            networks[new_port.network.id] = new_port.network
        for net_id, changes in by_network.items():
            event = PortsChanged(networks[net_id], tuple(changes), groups=frozenset(groups[net_id]))
            await self.events.publish(conn, event)

    # --- update ------------------------------------------------------------------------

    async def update(self, ctx: Context, port_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.get_row(conn, ctx, port_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            network = (await conn.execute(select(n).where(n.c.id == row.network_id))).one()
            decided = await self.updater.apply(conn, ctx, row, network, attrs)
            changes = decided.changes
            updated_at = await self.bump_revision(conn, port_id, **changes)
            if set(attrs) - QUIET_ATTRIBUTES:
                before = bound_host(row.binding_host_id, row.binding_vif_type)
                after = bound_host(
                    changes.get("binding_host_id", row.binding_host_id),
                    changes.get("binding_vif_type", row.binding_vif_type),
                )
                change = PortChange(port_id, before, after)
                await self.events.publish(conn, PortsChanged(network, (change,), groups=decided.groups))
            driver = network.network_plugin or self.settings.backend_driver
            written = Written(port_id, row.revision_number + 1, row.project_id, network.id, driver)
            await self.events.publish(conn, ResourcesWritten("port", "update", (written,), ctx))
            # The row as written (not read back): the locked row with the changes and the new revision.
            written_row = {**row._mapping, **changes, "revision_number": written.revision, "updated_at": updated_at}
            return (await self.render(conn, ctx, [SimpleNamespace(**written_row)], ListQuery()))[0]

        return await self.db.run_write(work)

    async def addresses_changed(self, conn: AsyncConnection, port_ids: Sequence[str]) -> None:
        """The ports' addresses changed behind them (shared addresses, a DHCP port
        on a new subnet): new revisions, and the change published (hosts, floating IPs)."""
        if not port_ids:
            return
        ordered = sorted(set(port_ids))
        await conn.execute(
            update(p).where(p.c.id.in_(ordered)).values(revision_number=p.c.revision_number + 1, updated_at=utcnow())
        )
        rows = (
            await conn.execute(
                select(
                    p.c.id,
                    p.c.network_id,
                    p.c.binding_host_id,
                    p.c.binding_vif_type,
                    p.c.project_id,
                    p.c.revision_number,
                ).where(p.c.id.in_(ordered))
            )
        ).all()
        by_network: dict[str, list[PortChange]] = defaultdict(list)
        for row in rows:
            host = bound_host(row.binding_host_id, row.binding_vif_type)
            by_network[row.network_id].append(PortChange(row.id, host, host))
        for network_id, changes in sorted(by_network.items()):
            network = (await conn.execute(select(n).where(n.c.id == network_id))).one()
            await self.events.publish(conn, PortsChanged(network, tuple(changes)))
        await self.events.publish(conn, PortAddressesChanged(tuple(ordered)))
        written = tuple(Written(r.id, r.revision_number, r.project_id, r.network_id) for r in rows)
        await self.events.publish(conn, ResourcesWritten("port", "update", written))

    async def add_subnets(self, conn: AsyncConnection, row: Any, subnet_ids: list[str]) -> None:
        """Give the port an address on each of ``subnet_ids`` it has none on
        (DHCP ports on new subnets). A full subnet is left out."""
        held = set(
            (
                await conn.execute(select(a.c.subnet_id).where(a.c.port_id == row.id, a.c.deallocated == false()))
            ).scalars()
        )
        missing = [sid for sid in subnet_ids if sid not in held]
        if not missing:
            return
        subnets = await subnets_of(conn, row.network_id)
        holder = Holder(row.id, row.project_id, macs.parse_mac(row.mac_address), row.device_owner)
        added = False
        for subnet_id in missing:
            if not any(sub.id == subnet_id for sub in subnets):
                continue
            request = AddressRequest(holder, row.network_id, subnets, (FixedIp(subnet_id),), admin=True)
            try:
                await self.ips.allocate(conn, [request])
                added = True
            except errors.IpAddressGenerationFailure:
                continue
        if added:
            await self.addresses_changed(conn, [row.id])

    # --- subscribers -------------------------------------------------------------------

    async def on_subnet_created(self, conn: AsyncConnection, event: SubnetCreated) -> None:
        """On a new auto-address (SLAAC) subnet, the network's ports get the
        EUI-64 address of their MAC (router ports none: the router advertises;
        on a subnet with ``service_types``, only the ports of those owners)."""
        subnet = event.subnet
        if not addressing.is_auto_address(subnet):
            return
        ports = (
            await conn.execute(
                select(p.c.id, p.c.mac_address, p.c.project_id, p.c.device_owner)
                .where(p.c.network_id == subnet.network_id)
                .order_by(p.c.id)
            )
        ).all()
        requests = [
            AddressRequest(
                Holder(port.id, port.project_id, macs.parse_mac(port.mac_address), port.device_owner),
                subnet.network_id,
                [subnet],
                (FixedIp(subnet.id),),
                admin=True,
            )
            for port in ports
            if port.device_owner not in owners.ROUTER
            # a subnet reserved for some device owners serves only their ports
            and serves(subnet, port.device_owner)
        ]
        if requests:
            await self.ips.allocate(conn, requests)
            await self.addresses_changed(conn, [r.holder.port_id for r in requests if r.holder.port_id])

    async def on_network_deleting(self, conn: AsyncConnection, event: NetworkDeleting) -> None:
        """The ports left on a network being deleted (DHCP and other auto-delete
        ports) go with it; their addresses go with the subnets."""
        for port in (await conn.execute(select(p).where(p.c.network_id == event.network.id))).all():
            await self.delete_in(conn, port, drop_allocations=True)

    # --- delete ------------------------------------------------------------------------

    async def delete(self, ctx: Context, port_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, port_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            self._check_deletable(row)
            await self.delete_in(conn, row, ctx=ctx)

        await self.db.run_write(work)

    async def delete_matching(self, ctx: Context, query: ListQuery) -> list[str]:
        """Quark bulk delete: every port the caller can see that matches the
        filters (e.g. ``device_id`` for an instance teardown), in one
        transaction; one port that may not go fails the whole request."""
        if not (query.filters or query.tags or query.tags_any or query.extra):
            raise errors.HTTPBadRequest(msg="Deleting ports by filter needs at least one filter")

        async def work(conn: AsyncConnection) -> list[str]:
            rows = (await conn.execute(self.matching(ctx, query).order_by(p.c.id).with_for_update())).all()
            for row in rows:
                await self.authorize_write(conn, ctx, row)
                self._check_deletable(row)
            for row in rows:
                await self.delete_in(conn, row, ctx=ctx)
            return [row.id for row in rows]

        return await self.db.run_write(work)

    @staticmethod
    def _check_deletable(row: Any) -> None:
        if row.device_owner in owners.ROUTER:  # Neutron's prevent_l3_port_deletion
            raise errors.L3PortInUse(port_id=row.id, device_owner=row.device_owner)
        if row.device_owner == owners.FLOATING_IP:
            raise errors.ServicePortInUse(port_id=row.id, reason="it holds a floating IP; delete the floating IP")

    async def delete_in(
        self, conn: AsyncConnection, row: Any, *, drop_allocations: bool = False, ctx: Context | None = None
    ) -> None:
        """Delete a port and give back what it holds (inside the caller's transaction)."""
        network = (await conn.execute(select(n).where(n.c.id == row.network_id))).one()
        host = bound_host(row.binding_host_id, row.binding_vif_type)
        await self.events.publish(conn, PortDeleting(row, network, host))
        driver = network.network_plugin or self.settings.backend_driver
        written = Written(row.id, row.revision_number, row.project_id, network.id, driver)
        await self.events.publish(conn, ResourcesWritten("port", "delete", (written,), ctx))
        await self.ips.release_port(conn, row.id, delete_rows=drop_allocations)
        await holders.detach(conn, self.ips, row.id)  # a shared address lives on with its other holders
        if row.mac_allocated:
            await self.mac_choice.release(conn, row.mac_address)
        await conn.execute(delete(psg).where(psg.c.port_id == row.id))
        await write_tags(conn, row.id, [])
        await conn.execute(delete(p).where(p.c.id == row.id))
