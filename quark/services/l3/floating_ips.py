"""Floating IPs with Neutron's API (contract §3.5): an IPv4 address of an
external network, optionally associated with one fixed IPv4 address of a
port.

The floating address is held by an internal port on the external network
(device_owner ``network:floatingip``, device_id the floating IP's id, no
project), created and deleted in the floating IP's own transaction, so the
IPAM (quarantine, counters, ``quark ipam check``) and ``NetworkInUse`` see
it like any other holder. Association needs
what it needs is a router joining them, as in Neutron: one with an interface
on the subnet of the fixed address and its gateway on the floating IP's
network (``router_id``; 404 ``ExternalGatewayForFloatingIPNotFound``
otherwise). Status is ``DOWN`` at every (dis)association, until the
router's L3 host reports the NAT rules in place (``RoutersChanged`` tells
it; docs/l3.md): Quark does not report what does not work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, owners
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.db.lookups import IDS, Lookup
from quark.ipam import holders
from quark.services.common import base
from quark.services.common.base import ResourceService, check_revision, standard_columns, write_tags
from quark.services.common.idempotency import answered
from quark.services.common.listing import ListQuery
from quark.services.core import network_rbac
from quark.services.core.ports.service import PortService
from quark.services.events import (
    Events,
    FloatingIpAssociating,
    FloatingIpDeleting,
    NetworkClearing,
    PortAddressesChanged,
    PortDeleting,
    ResourcesCreated,
    ResourcesWritten,
    RoutersChanged,
    Written,
)
from quark.services.l3 import port_forwarding_rules, router_ports
from quark.services.l3.router_errors import ExternalGatewayForFloatingIPNotFound

f = models.floatingips
p = models.ports
n = models.networks
a = models.ip_allocations

# port_details of the floating IPs shown (those associated with a port).
FIP_PORTS = Lookup(
    "fip.port",
    select(
        f.c.id.label("fip_id"),
        p.c.name,
        p.c.network_id,
        p.c.mac_address,
        p.c.admin_state_up,
        p.c.status,
        p.c.device_id,
        p.c.device_owner,
    )
    .select_from(f.join(p, p.c.id == f.c.port_id))
    .where(f.c.id.in_(IDS)),
)


class ExternalNetworkRequired(errors.BadRequest):
    wire_type = "BadRequest"
    message = "Bad floatingip request: Network {net_id} is not a valid external network."


class FloatingIpPortInvalid(errors.BadRequest):
    wire_type = "BadRequest"
    message = "Bad floatingip request: {reason}"


class FloatingIpService(ResourceService):
    table = f
    not_found = errors.FloatingIPNotFound
    not_found_key = "floatingip_id"
    columns = {
        **standard_columns(f),
        "floating_network_id": f.c.floating_network_id,
        "floating_ip_address": f.c.floating_ip_address,
        "port_id": f.c.port_id,
        "fixed_ip_address": f.c.fixed_ip_address,
        "router_id": f.c.router_id,
        "status": f.c.status,
    }
    related = (
        ("port_details", FIP_PORTS),
        ("port_forwardings", port_forwarding_rules.FIP_FORWARDINGS),
        ("tags", base.TAGS),
    )

    def __init__(self, db, settings, ports: PortService, events: Events | None = None) -> None:
        super().__init__(db, settings, events)
        self.ports = ports  # a floating IP's address is held by an internal port

    def visible(self, ctx: Context):
        return None if ctx.is_admin else f.c.project_id == ctx.project_id

    def assemble(self, rows: Sequence[Any], found: dict[str, list[Any]], query: ListQuery) -> list[dict]:
        details = {
            port.fip_id: {
                "name": port.name,
                "network_id": port.network_id,
                "mac_address": port.mac_address,
                "admin_state_up": port.admin_state_up,
                "status": port.status,
                "device_id": port.device_id,
                "device_owner": port.device_owner,
            }
            for port in found.get("fip.port", ())
        }
        tags = base.tags_by_resource(found)
        forwardings: dict[str, list[Any]] = {}
        for forwarding in found.get("fip.port_forwardings", ()):
            forwardings.setdefault(forwarding.floatingip_id, []).append(forwarding)
        out = []
        for row in rows:
            view = base.standard_view(row)
            view.update(
                {
                    "floating_network_id": row.floating_network_id,
                    "floating_ip_address": row.floating_ip_address,
                    "port_id": row.port_id,
                    "fixed_ip_address": row.fixed_ip_address,
                    "router_id": row.router_id,
                    "status": row.status,
                    "port_details": details.get(row.id) if row.port_id else None,
                    "port_forwardings": port_forwarding_rules.in_floatingip(forwardings.get(row.id, [])),
                    "dns_name": "",
                    "dns_domain": "",
                    "qos_policy_id": None,
                    "tags": tags.get(row.id, []),
                }
            )
            out.append(view)
        return out

    # --- writes ------------------------------------------------------------------------

    async def create_bulk(self, ctx: Context, items: list[dict]) -> list[dict]:
        async def work(conn: AsyncConnection) -> list[dict]:
            return await self.render_ids(conn, ctx, [await self._create_one(conn, ctx, attrs) for attrs in items])

        return await self.ports.run_creating([{} for _ in items], answered(ctx, work))  # one internal port each

    async def _create_one(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        project_id = base.resolve_project(ctx, attrs)
        network_id = attrs["floating_network_id"]
        await self._external_network(conn, ctx, network_id)
        fip_id = attrs.get("id") or base.new_id()  # an id given: an import (quark import neutron)
        port_id, address = await self._floating_port(conn, fip_id, network_id, attrs)
        now = utcnow()
        await conn.execute(
            insert(f).values(
                id=fip_id,
                project_id=project_id,
                floating_network_id=network_id,
                floating_port_id=port_id,
                floating_ip_address=address,
                port_id=None,
                fixed_ip_address=None,
                router_id=None,
                status="DOWN",
                description=attrs.get("description", ""),
                created_at=now,
                updated_at=now,
                revision_number=0,
            )
        )
        if attrs.get("tags"):
            await write_tags(conn, fip_id, base.validate_tags(attrs["tags"]))
        if attrs.get("port_id"):
            await self._associate(
                conn, ctx, fip_id, project_id, network_id, attrs["port_id"], attrs.get("fixed_ip_address")
            )
            await self.events.publish(conn, RoutersChanged(await _router_of(conn, fip_id)))
        await self.written(conn, "create", [(fip_id, 0, project_id)], ctx)
        await self.events.publish(conn, ResourcesCreated("floatingip", {project_id: 1}))
        return fip_id

    @staticmethod
    async def _external_network(conn: AsyncConnection, ctx: Context, network_id: str) -> None:
        """404 for a network the caller cannot see, 400 for one that is not external."""
        network = await network_rbac.lookup(conn, ctx, network_id)  # 404 unless a policy opens it
        if not network.router_external:
            raise ExternalNetworkRequired(net_id=network_id)

    async def _floating_port(self, conn: AsyncConnection, fip_id: str, network_id: str, attrs: dict) -> tuple[str, str]:
        """The internal port holding the floating address (on the subnet or at
        the address asked for): its id and its IPv4 address."""
        entry = {
            key: attrs[asked]
            for key, asked in (("subnet_id", "subnet_id"), ("ip_address", "floating_ip_address"))
            if attrs.get(asked)
        }
        port_attrs: dict[str, Any] = {
            "network_id": network_id,
            "device_owner": owners.FLOATING_IP,
            "device_id": fip_id,
            "project_id": "",
            "admin_state_up": True,
            "security_groups": [],
        }
        if entry:
            port_attrs["fixed_ips"] = [entry]
        internal = Context.admin(project_id="")
        port = (await self.ports.create_ports_in(conn, internal, [port_attrs], ip_version=4, internal=True))[0]
        v4 = [ip["ip_address"] for ip in port["fixed_ips"] if ":" not in ip["ip_address"]]
        if not v4:
            raise errors.IpAddressGenerationFailure(net_id=network_id)
        return port["id"], v4[0]

    async def update(self, ctx: Context, fip_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.get_row(conn, ctx, fip_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            # As Neutron (l3_db._check_and_get_fip_assoc): port_id null, or a
            # blank update ({}), disassociates; other attributes alone keep it.
            if attrs.get("port_id"):
                await self._associate(
                    conn,
                    ctx,
                    fip_id,
                    row.project_id,
                    row.floating_network_id,
                    attrs["port_id"],
                    attrs.get("fixed_ip_address"),
                    current=row.fixed_ip_address,
                )
            elif attrs.get("fixed_ip_address"):
                raise FloatingIpPortInvalid(reason="fixed_ip_address cannot be specified without a port_id")
            elif ("port_id" in attrs or not attrs) and row.port_id is not None:
                # (An unassociated one keeps its router_id: that of its port forwardings.)
                await conn.execute(
                    update(f)
                    .where(f.c.id == fip_id)
                    .values(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN")
                )
            await self.bump_revision(conn, fip_id, **{k: attrs[k] for k in ("description",) if k in attrs})
            await self.written(conn, "update", [(fip_id, row.revision_number + 1, row.project_id)], ctx)
            routers = (row.router_id,) if row.router_id else ()
            await self.events.publish(conn, RoutersChanged(routers + await _router_of(conn, fip_id)))
            return await self.render_one(conn, ctx, fip_id)

        return await self.db.run_write(work)

    async def _associate(
        self,
        conn: AsyncConnection,
        ctx: Context,
        fip_id: str,
        project_id: str,
        network_id: str,
        port_id: str,
        fixed_ip: str | None,
        current: str | None = None,
    ) -> None:
        """Point the floating IP at ``fixed_ip`` of ``port_id``. Without
        ``fixed_ip``, the port's only IPv4 address; or, if it has several, the
        address the floating IP points at now (``current``) when the port
        holds it too: the failover of a shared address to its other holder.
        (openstacksdk sends only changed attributes, so `openstack floating
        ip set --port B --fixed-ip-address <same address>` arrives without it.)"""
        # What the floating IP is used for already (port forwardings) may refuse it.
        fip = (await conn.execute(select(f).where(f.c.id == fip_id))).first()
        await self.events.publish(conn, FloatingIpAssociating(fip, port_id))
        # Locked: a port delete running meanwhile waits for this association
        # (and then drops it, l3 on_port_deleting), or this waits for the delete.
        port = (await conn.execute(select(p).where(p.c.id == port_id).with_for_update())).first()
        if port is None or not await port_visible(conn, ctx, port):
            raise errors.PortNotFound(port_id=port_id)
        if port.project_id != project_id:  # seen (an admin, the network's owner) but not the floating IP's
            raise FloatingIpPortInvalid(
                reason=f"Cannot create floating IP and bind it to Port {port_id}, "
                "since that port is owned by a different tenant"
            )
        if port.device_owner == owners.FLOATING_IP or port.network_id == network_id:
            raise FloatingIpPortInvalid(reason=f"Port {port_id} cannot have a floating IP of network {network_id}")
        # Any IPv4 address the port holds: its own, or one from /v2.0/ip_addresses
        # (added to it, or shared with other ports, e.g. an active/passive pair).
        held = {
            row.address: row.subnet_id for row in await holders.held_by_ports(conn, [port_id]) if row.ip_version == 4
        }
        fixed_ip = _choose_fixed_ip(port_id, list(held), fixed_ip, current)
        # The holders of a shared (failover) address are on its subnet: the router check passes for each.
        router_id = await router_ports.router_between(conn, held[fixed_ip], network_id)
        if router_id is None:
            raise ExternalGatewayForFloatingIPNotFound(
                external_network_id=network_id, subnet_id=held[fixed_ip], port_id=port_id
            )
        holder = await conn.scalar(
            select(f.c.id).where(
                f.c.floating_network_id == network_id,
                f.c.port_id == port_id,
                f.c.fixed_ip_address == fixed_ip,
                f.c.id != fip_id,
            )
        )
        if holder is not None:
            raise self._already(fip_id, port_id, fixed_ip, network_id)
        try:
            await conn.execute(
                update(f)
                .where(f.c.id == fip_id)
                .values(port_id=port_id, fixed_ip_address=fixed_ip, router_id=router_id, status="DOWN")
            )
        except IntegrityError:  # a concurrent association of the same fixed IP won (the transaction is lost)
            raise self._already(fip_id, port_id, fixed_ip, network_id) from None

    @staticmethod
    def _already(fip_id: str, port_id: str, fixed_ip: str, network_id: str) -> errors.QuarkError:
        return errors.FloatingIPPortAlreadyAssociated(
            fip_id=fip_id, port_id=port_id, fixed_ip=fixed_ip, net_id=network_id, floating_ip_address=""
        )

    async def delete(self, ctx: Context, fip_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, fip_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            await self.delete_in(conn, row)

        await self.db.run_write(work)

    async def on_network_clearing(self, conn: AsyncConnection, event: NetworkClearing) -> None:
        """An external network being deleted takes its unassociated floating IPs
        with it (Neutron's delete_disassociated_floatingips); associated ones keep
        their ports, and so the network in use (409)."""
        rows = (
            await conn.execute(
                select(f).where(f.c.floating_network_id == event.network.id, f.c.port_id.is_(None)).with_for_update()
            )
        ).all()
        for row in rows:
            await self.delete_in(conn, row)

    async def delete_in(self, conn: AsyncConnection, row: Any) -> None:
        await self.events.publish(conn, FloatingIpDeleting(row))
        await conn.execute(delete(f).where(f.c.id == row.id))
        await self.written(conn, "delete", [(row.id, row.revision_number, row.project_id)])
        if row.router_id:
            await self.events.publish(conn, RoutersChanged((row.router_id,)))
        await write_tags(conn, row.id, [])
        port = (await conn.execute(select(p).where(p.c.id == row.floating_port_id))).first()
        if port is not None:
            await self.ports.delete_in(conn, port)

    async def written(
        self, conn: AsyncConnection, operation: str, fips: Sequence[tuple[str, int, str]], ctx: Context | None = None
    ) -> None:
        """The backend's jobs (quark.services.backends.outbox): (id, revision, project) each."""
        if fips:
            items = tuple(Written(fip_id, revision, project_id) for fip_id, revision, project_id in fips)
            await self.events.publish(conn, ResourcesWritten("floatingip", operation, items, ctx))

    # --- subscribers: associations follow the ports' addresses -----------------------------

    async def on_port_deleting(self, conn: AsyncConnection, event: PortDeleting) -> None:
        """Drop every association of a port's fixed IPs (the port is going away)."""
        await self.written(conn, "update", await _disassociate(conn, f.c.port_id == event.port.id))

    async def on_port_addresses_changed(self, conn: AsyncConnection, event: PortAddressesChanged) -> None:
        """Drop the associations of the ports whose fixed IP the port no longer
        holds: its fixed_ips changed, or an /ip_addresses change took the address
        away."""
        await self.written(conn, "update", await _drop_stale(conn, event.port_ids))


async def port_visible(conn: AsyncConnection, ctx: Context, port: Any) -> bool:
    """Whether the caller sees the port (its own, or one on its network: PortService.visible_to)."""
    if ctx.is_admin or port.project_id == ctx.project_id:
        return True
    return await conn.scalar(select(n.c.project_id).where(n.c.id == port.network_id)) == ctx.project_id


def _choose_fixed_ip(port_id: str, addresses: list[str], asked: str | None, current: str | None) -> str:
    """The fixed IPv4 address of the port a floating IP points at (see ``_associate``)."""
    if asked is not None:
        if asked not in addresses:
            raise FloatingIpPortInvalid(reason=f"Port {port_id} does not have fixed ip {asked}")
        return asked
    if not addresses:
        raise FloatingIpPortInvalid(reason=f"Port {port_id} does not have any fixed IPv4 address")
    if len(addresses) == 1:
        return addresses[0]
    if current in addresses:
        return current
    raise FloatingIpPortInvalid(
        reason=f"Port {port_id} has multiple fixed IPv4 addresses. Must provide a specific IPv4 address "
        "when assigning a floating IP"
    )


async def _drop_stale(conn: AsyncConnection, port_ids: Sequence[str]) -> list[tuple[str, int, str]]:
    """Disassociate the floating IPs of ``port_ids`` whose fixed IP the port no longer holds."""
    associated = (
        await conn.execute(select(f.c.id, f.c.port_id, f.c.fixed_ip_address).where(f.c.port_id.in_(list(port_ids))))
    ).all()
    if not associated:
        return []
    held = {
        (row.port_id, row.address)
        for row in await holders.held_by_ports(conn, sorted({row.port_id for row in associated}))
    }
    stale = [row.id for row in associated if (row.port_id, row.fixed_ip_address) not in held]
    return await _disassociate(conn, f.c.id.in_(stale)) if stale else []


async def _router_of(conn: AsyncConnection, fip_id: str) -> tuple[str, ...]:
    router_id = await conn.scalar(select(f.c.router_id).where(f.c.id == fip_id))
    return (router_id,) if router_id else ()


async def _disassociate(conn: AsyncConnection, where) -> list[tuple[str, int, str]]:
    """Disassociate the floating IPs ``where`` says: their (id, new revision, project)."""
    found = (await conn.execute(select(f.c.id, f.c.revision_number, f.c.project_id).where(where))).all()
    if not found:
        return []  # the common case (a port without floating IPs): no UPDATE to send
    await conn.execute(
        update(f)
        .where(where)
        .values(
            port_id=None,
            fixed_ip_address=None,
            router_id=None,
            status="DOWN",
            updated_at=utcnow(),
            revision_number=f.c.revision_number + 1,
        )
    )
    return [(row.id, row.revision_number + 1, row.project_id) for row in found]
