"""Ports: MAC and fixed IP allocation (contract §4.2–4.5), address pairs,
DHCP options, stored binding attributes; all in one transaction per request.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, delete, exists, false, func, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, owners
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.db.lookups import IDS, Lookup
from quark.ipam import addressing, holders, macs
from quark.ipam.ip_allocator import IpAllocator, excluded_set, pool_ranges
from quark.ipam.mac_allocator import MacAllocator
from quark.services.common import base
from quark.services.common.base import ResourceService, check_revision, standard_columns, write_tags
from quark.services.common.batching import CreateBatcher
from quark.services.common.listing import ListQuery
from quark.services.core.binding import UNBOUND, Binder, UnboundBinder, bound_host, bound_status, is_bound
from quark.services.events import (
    Events,
    GroupChoice,
    NetworkDeleting,
    PortAddressesChanged,
    PortChange,
    PortDeleting,
    PortGroupsChanging,
    PortsChanged,
    PortsCreating,
)

p = models.ports
n = models.networks
s = models.subnets
a = models.ip_allocations
psg = models.port_security_groups
h = models.ip_address_ports

PORT_GROUPS = Lookup("port.groups", select(psg.c.port_id, psg.c.security_group_id).where(psg.c.port_id.in_(IDS)))

MAC_ATTEMPTS = 8

# Port attributes no host agent shows: changing only these tells no host.
QUIET_ATTRIBUTES = frozenset({"name", "description", "security_groups", "binding:profile", "binding:vnic_type"})

# Statements of the port-create hot path, built once (see ipam.ip_allocator).
_NETWORK_ADMIN = select(n).where(n.c.id == bindparam("b_id"))
_NETWORK_VISIBLE = _NETWORK_ADMIN.where(
    or_(n.c.project_id == bindparam("b_project"), n.c.shared == true(), n.c.router_external == true())
)
_USED = (
    select(func.coalesce(func.sum(models.ip_usage.c.used), 0))
    .where(models.ip_usage.c.subnet_id == s.c.id)
    .scalar_subquery()
)
_SUBNETS_OF = select(s, _USED.label("used")).where(s.c.network_id == bindparam("b_id")).order_by(s.c.created_at, s.c.id)
# Port create reads its network, the network's subnets (with their use) and
# the project's default security group in one round trip.
_DEFAULT_GROUP = (
    select(models.default_security_groups.c.security_group_id)
    .where(models.default_security_groups.c.project_id == bindparam("b_group_project"))
    .scalar_subquery()
)
_NETWORK_TREE = (
    select(n, _DEFAULT_GROUP.label("default_group_id"), *[c.label("s__" + c.name) for c in s.c], _USED.label("s__used"))
    .select_from(n.outerjoin(s, s.c.network_id == n.c.id))
    .where(n.c.id == bindparam("b_id"))
    .order_by(s.c.created_at, s.c.id)
)
_NETWORK_TREE_VISIBLE = _NETWORK_TREE.where(
    or_(n.c.project_id == bindparam("b_project"), n.c.shared == true(), n.c.router_external == true())
)
_NETWORK_FIELDS = tuple(c.name for c in n.c)
_SUBNET_FIELDS = tuple(c.name for c in s.c) + ("used",)


def dns_assignment(dns_name: str, fixed_ips: list[dict]) -> list[dict]:
    out = []
    for ip in fixed_ips:
        hostname = dns_name or "host-" + ip["ip_address"].replace(".", "-").replace(":", "-")
        out.append({"hostname": hostname, "ip_address": ip["ip_address"], "fqdn": f"{hostname}.openstacklocal."})
    return out


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
    # dns_assignment is made from the fixed IPs: either attribute needs the addresses.
    related = (
        *((attribute, held) for attribute in ("fixed_ips", "dns_assignment") for held in holders.HELD_BY_PORTS),
        ("security_groups", PORT_GROUPS),
        ("tags", base.TAGS),
    )

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
        self.binder: Binder = binder or UnboundBinder()
        batch = getattr(settings, "port_create_batch", 0)
        self.batcher = CreateBatcher(self._create_now, batch) if batch > 1 else None

    # --- reads -------------------------------------------------------------------

    def visible(self, ctx: Context):
        return None if ctx.is_admin else self.visible_to(ctx.project_id)

    @staticmethod
    def visible_to(project: Any):
        """Ports a project may see: its own, and any on its networks (``project``: a value or a bind parameter)."""
        own_networks = select(n.c.id).where(n.c.project_id == project)
        return or_(p.c.project_id == project, p.c.network_id.in_(own_networks))

    def extra_filters(self, query: ListQuery) -> list:
        clauses = []
        fixed = query.extra.get("fixed_ips") or {}
        live = [a.c.port_id == p.c.id, a.c.deallocated == false()]

        def held(condition):  # by the port alone, or shared with others (ip_address_ports)
            shared = select(h.c.port_id).select_from(h.join(a, a.c.id == h.c.allocation_id)).where(condition)
            return or_(exists().where(*live, condition), p.c.id.in_(shared))

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
        fixed: dict[str, list[dict]] = defaultdict(list)
        for held in found.get("held", ()):
            fixed[held.port_id].append({"subnet_id": held.subnet_id, "ip_address": held.address})
        groups: dict[str, list[str]] = defaultdict(list)
        for member in found.get("port.groups", ()):
            groups[member.port_id].append(member.security_group_id)
        tags = base.tags_by_resource(found)
        return [self._view(r, fixed.get(r.id, []), groups.get(r.id, []), tags.get(r.id, [])) for r in rows]

    @staticmethod
    def _view(row: Any, fixed_ips: list[dict], groups: list[str], tags: list[str]) -> dict:
        view = base.standard_view(row)
        view.update(
            {
                "name": row.name,
                "network_id": row.network_id,
                "admin_state_up": row.admin_state_up,
                "status": row.status,
                "mac_address": row.mac_address,
                "fixed_ips": fixed_ips,
                "device_id": row.device_id,
                "device_owner": row.device_owner,
                "security_groups": sorted(groups),
                "port_security_enabled": row.port_security_enabled,
                "allowed_address_pairs": list(row.allowed_address_pairs or []),
                "extra_dhcp_opts": list(row.extra_dhcp_opts or []),
                "ip_allocation": row.ip_allocation,
                "binding:host_id": row.binding_host_id,
                "binding:vnic_type": row.binding_vnic_type,
                "binding:profile": row.binding_profile or {},
                "binding:vif_type": row.binding_vif_type,
                "binding:vif_details": row.binding_vif_details or {},
                "dns_name": row.dns_name,
                "dns_assignment": dns_assignment(row.dns_name, fixed_ips),
                "qos_policy_id": None,
                "qos_network_policy_id": None,
                "resource_request": None,
                "data_plane_status": None,
                "tags": tags,
            }
        )
        return view

    # --- create ------------------------------------------------------------------
    #
    # A create (single or bulk) runs in three steps inside one transaction:
    # plan every port (checks, MAC, row values), insert all port rows in one
    # statement, then allocate the addresses — last, so the subnet cursor
    # locks are held only until the commit that follows, and in batches per
    # subnet. The response is built from what was written, not read back.

    async def create_bulk(self, ctx: Context, items: list[dict]) -> list[dict]:
        if len(items) == 1 and self.batcher is not None:
            return await self.batcher.submit(ctx, items)
        return await self._create_now(ctx, items)

    async def _create_now(self, ctx: Context, items: list[dict]) -> list[dict]:
        return await self.run_creating(items, lambda conn: self.create_in(conn, ctx, items))

    async def run_creating(self, items: list[dict], work):
        """Run ``work`` (a transaction that creates the ports ``items``) with the
        MACs it needs reserved first, outside it (see ipam.mac_allocator)."""
        async with self.macs.reserve(sum(1 for item in items if "mac_address" not in item)) as reservation:

            async def attempt(conn: AsyncConnection):
                reservation.rewind()
                return await work(conn)

            return await self.db.run_write(attempt)

    async def create_in(
        self, conn: AsyncConnection, ctx: Context, items: list[dict], *, ip_version: int | None = None
    ) -> list[dict]:
        """Create ports inside the caller's transaction (bulk create, floating
        IPs, instance provisioning). ``ip_version`` limits the addresses of
        ports created without fixed_ips to that family (floating IPs: 4)."""
        networks: dict[str, Any] = {}
        subnets: dict[str, list[Any]] = {}
        plans: list[_PortPlan] = []
        macs_seen: set[tuple[str, str]] = set()
        for attrs in items:
            net_id = attrs["network_id"]
            if net_id not in networks:
                networks[net_id], subnets[net_id] = await self._network_tree(
                    conn, ctx, net_id, attrs.get("project_id") or attrs.get("tenant_id") or ctx.project_id
                )
            plan = await self._plan(conn, ctx, dict(attrs), networks[net_id], subnets[net_id])
            plan.only_version = ip_version
            key = (net_id, plan.row["mac_address"])
            if key in macs_seen:
                raise errors.MacAddressInUse(net_id=net_id, mac=plan.row["mac_address"])
            macs_seen.add(key)
            plans.append(plan)
        # The security domain decides the groups of every new port (checked, or the default group).
        await self.events.publish(conn, PortsCreating(ctx, [plan.group_choice for plan in plans]))
        for plan in plans:
            plan.groups = sorted(set(plan.group_choice.groups))
        try:
            await conn.execute(insert(p), [plan.row for plan in plans])
        except IntegrityError:
            # A concurrent request took an explicit MAC between our check and insert.
            raise errors.MacAddressInUse(net_id=plans[0].network.id, mac=plans[0].row["mac_address"]) from None
        await self._write_children(conn, plans)
        for plan in plans:
            if plan.fixed_requested is not None:
                await self._allocate_requested(conn, ctx, plan)
        # Automatic addresses last of all: a subnet cursor is locked from here to the commit.
        await self._allocate_defaults(conn, [plan for plan in plans if plan.fixed_requested is None])
        for plan in plans:
            if plan.row["binding_host_id"]:
                await self._bind_new(conn, plan)
        by_network: dict[str, list[PortChange]] = defaultdict(list)
        for plan in plans:
            host = bound_host(plan.row["binding_host_id"], plan.row["binding_vif_type"])
            by_network[plan.network.id].append(PortChange(plan.row["id"], "", host))
        for net_id, changes in by_network.items():
            await self.events.publish(conn, PortsChanged(networks[net_id], tuple(changes)))
        return [plan.view() for plan in plans]

    async def _network_for_port(self, conn: AsyncConnection, ctx: Context, network_id: str) -> Any:
        stmt = _NETWORK_ADMIN if ctx.is_admin else _NETWORK_VISIBLE
        network = (await conn.execute(stmt, {"b_id": network_id, "b_project": ctx.project_id})).first()
        if network is None:
            raise errors.NetworkNotFound(net_id=network_id)
        if not ctx.is_admin and network.project_id != ctx.project_id and not network.shared:
            raise errors.PolicyNotAuthorized(action="rule:create_port and rule:create_port:network_id")
        return network

    async def _network_tree(
        self, conn: AsyncConnection, ctx: Context, network_id: str, project_id: str
    ) -> tuple[Any, list[Any]]:
        """The network (checked as ``_network_for_port`` does) and its subnets with
        their use, in one statement; ``network.default_group_id`` is the default
        security group of ``project_id`` (``network.default_group_project``) if it exists."""
        stmt = _NETWORK_TREE if ctx.is_admin else _NETWORK_TREE_VISIBLE
        rows = (
            await conn.execute(stmt, {"b_id": network_id, "b_project": ctx.project_id, "b_group_project": project_id})
        ).all()
        if not rows:
            raise errors.NetworkNotFound(net_id=network_id)
        first = rows[0]
        network = SimpleNamespace(
            **{f: getattr(first, f) for f in _NETWORK_FIELDS},
            default_group_id=first.default_group_id,
            default_group_project=project_id,
        )
        if not ctx.is_admin and network.project_id != ctx.project_id and not network.shared:
            raise errors.PolicyNotAuthorized(action="rule:create_port and rule:create_port:network_id")
        subnets = [
            SimpleNamespace(**{f: getattr(row, "s__" + f) for f in _SUBNET_FIELDS})
            for row in rows
            if row.s__id is not None
        ]
        return network, subnets

    @staticmethod
    async def _subnets_of(conn: AsyncConnection, network_id: str) -> list[Any]:
        return list(await conn.execute(_SUBNETS_OF, {"b_id": network_id}))

    async def _plan(
        self, conn: AsyncConnection, ctx: Context, attrs: dict, network: Any, subnets: list[Any]
    ) -> _PortPlan:
        """Check one port request and decide its row (MAC included); writes only the MAC."""
        project_id = base.resolve_project(ctx, attrs)
        owner = ctx.is_admin or network.project_id == ctx.project_id
        if "mac_address" in attrs:
            if not owner and not ctx.is_service:
                raise errors.PolicyNotAuthorized(action="rule:create_port:mac_address")
            mac_text, mac_owned = await self._explicit_mac(conn, network.id, attrs["mac_address"])
        else:
            mac_text, mac_owned = await self._allocate_mac(conn, network.id)
        port_security = attrs.get("port_security_enabled", network.port_security_enabled)
        known = getattr(network, "default_group_id", None)
        group_choice = GroupChoice(
            project_id=project_id,
            device_owner=attrs.get("device_owner", ""),
            port_security=port_security,
            requested=list(attrs["security_groups"] or []) if "security_groups" in attrs else None,
            # read with the network (_network_tree), for the port's project only
            known_default=known if getattr(network, "default_group_project", None) == project_id else None,
        )
        fixed_requested = attrs.get("fixed_ips")
        if fixed_requested:
            for entry in fixed_requested:
                if "ip_address" in entry and not owner and not ctx.is_service:
                    raise errors.PolicyNotAuthorized(action="rule:create_port:fixed_ips:ip_address")
        now = utcnow()
        row = {
            "id": base.new_id(),
            "network_id": network.id,
            "project_id": project_id,
            "name": attrs.get("name", ""),
            "description": attrs.get("description", ""),
            "admin_state_up": attrs.get("admin_state_up", True),
            "status": "DOWN",
            "mac_address": mac_text,
            "mac_allocated": mac_owned,
            "device_id": attrs.get("device_id", ""),
            "device_owner": attrs.get("device_owner", ""),
            "port_security_enabled": port_security,
            "allowed_address_pairs": self._address_pairs(
                attrs.get("allowed_address_pairs") or [], mac_text, port_security
            ),
            "extra_dhcp_opts": self._dhcp_opts([], attrs.get("extra_dhcp_opts") or []),
            "binding_host_id": attrs.get("binding:host_id") or "",
            "binding_vnic_type": attrs.get("binding:vnic_type", "normal"),
            "binding_profile": attrs.get("binding:profile") or {},
            "binding_vif_type": "unbound",
            "binding_vif_details": {},
            "dns_name": attrs.get("dns_name", ""),
            "ip_allocation": "none" if fixed_requested == [] else "immediate",
            "created_at": now,
            "updated_at": now,
            "revision_number": 0,
        }
        return _PortPlan(
            row=row,
            network=network,
            subnets=subnets,
            fixed_requested=fixed_requested,
            groups=[],
            group_choice=group_choice,
            tags=base.validate_tags(attrs.get("tags") or []),
            admin=ctx.is_admin,
        )

    async def _write_children(self, conn: AsyncConnection, plans: list[_PortPlan]) -> None:
        groups = [{"port_id": pl.row["id"], "security_group_id": g} for pl in plans for g in pl.groups]
        if groups:
            await conn.execute(insert(psg), groups)
        tag_rows = [{"resource_id": pl.row["id"], "tag": t} for pl in plans for t in pl.tags]
        if tag_rows:
            await conn.execute(insert(models.tags), tag_rows)

    async def _bind_new(self, conn: AsyncConnection, plan: _PortPlan) -> None:
        row = (await conn.execute(select(p).where(p.c.id == plan.row["id"]))).one()
        result = await self.binder.bind(conn, row, plan.network, plan.row["binding_host_id"])
        changes = {"binding_vif_type": result.vif_type, "binding_vif_details": result.vif_details}
        if result.status is not None:
            changes["status"] = result.status
        await conn.execute(update(p).where(p.c.id == plan.row["id"]).values(**changes))
        plan.row.update(changes)

    # --- MACs ----------------------------------------------------------------------

    async def _mac_taken(self, conn: AsyncConnection, network_id: str, mac_text: str) -> bool:
        return bool(
            await conn.scalar(select(exists().where(p.c.network_id == network_id, p.c.mac_address == mac_text)))
        )

    async def _explicit_mac(self, conn: AsyncConnection, network_id: str, mac_text: str) -> tuple[str, bool]:
        if await self._mac_taken(conn, network_id, mac_text):
            raise errors.MacAddressInUse(net_id=network_id, mac=mac_text)
        return mac_text, await self.macs.record_explicit(conn, macs.parse_mac(mac_text))

    async def _allocate_mac(self, conn: AsyncConnection, network_id: str) -> tuple[str, bool]:
        """A MAC from the ranges; a reused one is checked against the network's ports."""
        avoid: set[int] = set()
        while len(avoid) < MAC_ATTEMPTS:
            got = await self.macs.allocate(conn, avoid=avoid)
            if got is None:
                break
            value, reused = got
            text = macs.format_mac(value)
            if not reused or not await self._mac_taken(conn, network_id, text):
                return text, True
            avoid.add(value)
        raise errors.MacAddressGenerationFailure(net_id=network_id)

    # --- fixed IPs -------------------------------------------------------------------

    async def _allocate_defaults(self, conn: AsyncConnection, plans: list[_PortPlan]) -> None:
        """Addresses for ports created without fixed_ips, per the network's strategy.

        ``NEUTRON`` (default): one IPv4 and one stateful IPv6 address when the
        network has such subnets, an error when a family present is full.
        ``ANY``: one address, IPv4 first, IPv6 when no IPv4 is free.
        ``BOTH``: one of each family if possible, at least one.
        ``BOTH_REQUIRED``: one of each family, or an error.
        EUI-64 addresses on auto-address (SLAAC) subnets come on top and count
        for IPv6. Within a family the fullest subnet with room is used first
        (sparse subnets stay free for growth), falling through to the next;
        ports of one network asking the same family are served in one batch.
        """
        for plan in plans:
            owner = plan.row["device_owner"]
            plan.eligible = [
                sub
                for sub in plan.subnets
                if (not sub.service_types or owner in sub.service_types) and plan.only_version in (None, sub.ip_version)
            ]
            if owner not in owners.ROUTER:
                for sub in plan.eligible:
                    if addressing.is_auto_address(sub):
                        await self._allocate_entry(conn, plan, sub, None)
        # ANY prefers IPv4, so it asks IPv4 first; otherwise the families are
        # independent and IPv6 (random draws, no lock) goes first, so that the
        # IPv4 cursor row is held for as short a time as possible.
        order = (4, 6) if any(plan.strategy == "ANY" for plan in plans) else (6, 4)
        usage: dict[str, int] = {}  # counters of every subnet, written once at the end
        for version in order:
            groups: dict[tuple[str, ...], list[_PortPlan]] = defaultdict(list)
            families: dict[tuple[str, ...], list[Any]] = {}
            for plan in plans:
                if not plan.wants(version):
                    continue
                family = [
                    sub for sub in plan.eligible if sub.ip_version == version and not addressing.is_auto_address(sub)
                ]
                if family:
                    family.sort(key=_fullness, reverse=True)
                    key = tuple(sub.id for sub in family)
                    groups[key].append(plan)
                    families[key] = family
            for key, waiting in groups.items():
                for subnet in families[key]:
                    got = await self.ips.allocate_many(
                        conn, subnet, [(pl.row["id"], pl.row["project_id"]) for pl in waiting], usage
                    )
                    for plan, allocation in zip(waiting, got):
                        plan.add(subnet, allocation.address)
                    waiting = waiting[len(got) :]
                    if not waiting:
                        break
        await self.ips.add_usage(conn, usage)
        for plan in plans:
            if not plan.satisfied():
                raise errors.IpAddressGenerationFailure(net_id=plan.network.id)

    def _resolve_entry(self, network, subnets, entry: dict) -> tuple[Any, addressing.IPAddress | None]:
        """The subnet and (optional) address a fixed_ips entry asks for."""
        by_id = {sub.id: sub for sub in subnets}
        address = ipaddress.ip_address(entry["ip_address"]) if "ip_address" in entry else None
        if "subnet_id" in entry:
            subnet = by_id.get(entry["subnet_id"])
            if subnet is None:
                raise errors.InvalidInput(
                    error_message=f"Failed to create port on network {network.id}, because fixed_ips included "
                    f"invalid subnet {entry['subnet_id']}"
                )
            if address is not None and address not in ipaddress.ip_network(subnet.cidr):
                raise errors.InvalidIpForSubnet(ip_address=str(address))
            return subnet, address
        if address is None:
            raise errors.InvalidInput(error_message="fixed_ips entries need a subnet_id or an ip_address")
        for subnet in subnets:
            if address.version == subnet.ip_version and address in ipaddress.ip_network(subnet.cidr):
                return subnet, address
        raise errors.InvalidIpForNetwork(ip_address=str(address))

    async def _allocate_entry(self, conn, plan: _PortPlan, subnet, address) -> None:
        """One fixed_ips entry of a port (``plan`` carries its row: id, project, MAC, owner)."""
        row = plan.row
        net = ipaddress.ip_network(subnet.cidr)
        device_owner = row["device_owner"]
        if addressing.is_auto_address(subnet) and device_owner not in owners.ROUTER:
            expected = addressing.eui64(net, macs.parse_mac(row["mac_address"]))
            if address is not None and address != expected:
                raise errors.AllocationOnAutoAddressSubnet(ip=str(address), subnet_id=subnet.id)
            address = expected
        if address is None:
            allocation = await self.ips.allocate_any(conn, subnet, row["id"], row["project_id"])
            if allocation is None:
                raise errors.IpAddressGenerationFailure(net_id=subnet.network_id)
            plan.add(subnet, allocation.address)
            return
        if net.version == 4 and net.prefixlen <= 30 and address in (net.network_address, net.broadcast_address):
            raise errors.InvalidIpForSubnet(ip_address=str(address))
        if not plan.admin and int(address) in excluded_set(subnet):
            raise errors.IpAddressExcludedByPolicy(ip=str(address), subnet_id=subnet.id)
        if subnet.gateway_ip == str(address) and device_owner not in owners.ROUTER:
            raise errors.IpAddressAlreadyAllocated(ip=str(address), subnet_id=subnet.id)
        await self.ips.allocate_specific(conn, subnet, address, row["id"], row["project_id"])
        plan.add(subnet, str(address))

    async def _allocate_requested(self, conn, ctx, plan: _PortPlan) -> None:
        for entry in plan.fixed_requested or []:
            subnet, address = self._resolve_entry(plan.network, plan.subnets, entry)
            await self._allocate_entry(conn, plan, subnet, address)

    # --- address pairs, DHCP options ------------------------------------------------

    def _address_pairs(self, pairs: list[dict], mac_text: str, port_security: bool) -> list[dict]:
        if not pairs:
            return []
        if not port_security:
            raise errors.AddressPairAndPortSecurityRequired()
        if len(pairs) > self.settings.max_allowed_address_pairs:
            raise errors.AllowedAddressPairExhausted(quota=self.settings.max_allowed_address_pairs)
        out: list[dict] = []
        for pair in pairs:
            item = {"ip_address": pair["ip_address"], "mac_address": pair.get("mac_address") or mac_text}
            if item in out:
                raise errors.DuplicateAddressPairInRequest(**item)
            out.append(item)
        return out

    @staticmethod
    def _dhcp_opts(current: list[dict], changes: list[dict]) -> list[dict]:
        """Merge options by (name, ip_version); ``opt_value: null`` deletes one."""
        merged = {(o["opt_name"], o.get("ip_version", 4)): o for o in current}
        for opt in changes:
            key = (opt["opt_name"], opt.get("ip_version", 4))
            if opt.get("opt_value") is None:
                merged.pop(key, None)
            else:
                merged[key] = {"opt_name": key[0], "opt_value": opt["opt_value"], "ip_version": key[1]}
        return list(merged.values())

    # --- update ------------------------------------------------------------------------

    async def update(self, ctx: Context, port_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.get_row(conn, ctx, port_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            network = (await conn.execute(select(n).where(n.c.id == row.network_id))).one()
            owner = ctx.is_admin or network.project_id == ctx.project_id
            changes = {
                key: attrs[key]
                for key in ("name", "description", "admin_state_up", "device_id", "device_owner", "dns_name")
                if key in attrs
            }
            for attr, column in (("binding:vnic_type", "binding_vnic_type"), ("binding:profile", "binding_profile")):
                if attr in attrs:
                    changes[column] = attrs[attr] or ({} if attr == "binding:profile" else "normal")
            admin_up = changes.get("admin_state_up", row.admin_state_up)
            vif_type = row.binding_vif_type
            if "binding:host_id" in attrs:
                host = attrs["binding:host_id"] or ""
                changes["binding_host_id"] = host
                result = await self.binder.bind(conn, row, network, host) if host else UNBOUND
                changes.update(binding_vif_type=result.vif_type, binding_vif_details=result.vif_details)
                vif_type = result.vif_type
                same = host == row.binding_host_id and row.binding_vif_type == result.vif_type and result.bound
                if same and admin_up and row.admin_state_up:
                    pass  # bound again where it is: the agent's last report still holds
                elif result.bound:
                    changes["status"] = bound_status(admin_up)
                elif result.status is not None:
                    changes["status"] = result.status
            elif admin_up != row.admin_state_up and is_bound(vif_type):
                # Admin down takes the device down at once; back up, the agent reports ACTIVE again.
                changes["status"] = bound_status(admin_up)
            mac_text = row.mac_address
            if "mac_address" in attrs and attrs["mac_address"] != row.mac_address:
                mac_text = await self._change_mac(conn, ctx, row, attrs["mac_address"], owner, changes)
            port_security = attrs.get("port_security_enabled", row.port_security_enabled)
            changes["port_security_enabled"] = port_security
            await self._update_groups(conn, ctx, row, attrs, port_security)
            pairs = attrs.get("allowed_address_pairs", row.allowed_address_pairs or [])
            if not port_security and pairs:
                raise errors.AddressPairAndPortSecurityRequired()
            if "allowed_address_pairs" in attrs:
                changes["allowed_address_pairs"] = self._address_pairs(
                    attrs["allowed_address_pairs"] or [], mac_text, port_security
                )
            if "extra_dhcp_opts" in attrs:
                changes["extra_dhcp_opts"] = self._dhcp_opts(row.extra_dhcp_opts or [], attrs["extra_dhcp_opts"] or [])
            if "fixed_ips" in attrs:
                await self._replace_fixed_ips(
                    conn,
                    ctx,
                    row,
                    network,
                    attrs["fixed_ips"],
                    mac_text,
                    changes.get("device_owner", row.device_owner),
                    owner,
                )
                changes["ip_allocation"] = "none" if attrs["fixed_ips"] == [] else "immediate"
                await self.events.publish(conn, PortAddressesChanged((port_id,)))
            await self.bump_revision(conn, port_id, **changes)
            if set(attrs) - QUIET_ATTRIBUTES:
                before = bound_host(row.binding_host_id, row.binding_vif_type)
                after = bound_host(changes.get("binding_host_id", row.binding_host_id), vif_type)
                await self.events.publish(conn, PortsChanged(network, (PortChange(port_id, before, after),)))
            return (await self.render_ids(conn, ctx, [port_id]))[0]

        return await self.db.run_write(work)

    async def _change_mac(self, conn, ctx, row, mac_text: str, owner: bool, changes: dict) -> str:
        if not owner and not ctx.is_service:
            raise errors.PolicyNotAuthorized(action="rule:update_port:mac_address")
        if is_bound(row.binding_vif_type):
            raise errors.PortBound(
                port_id=row.id, vif_type=row.binding_vif_type, old_mac=row.mac_address, new_mac=mac_text
            )
        new_text, owned = await self._explicit_mac(conn, row.network_id, mac_text)
        if row.mac_allocated:
            await self.macs.release(conn, macs.parse_mac(row.mac_address))
        changes.update(mac_address=new_text, mac_allocated=owned)
        return new_text

    async def _update_groups(self, conn, ctx, row, attrs: dict, port_security: bool) -> None:
        current = set((await conn.execute(select(psg.c.security_group_id).where(psg.c.port_id == row.id))).scalars())
        wanted = set(attrs["security_groups"] or []) if "security_groups" in attrs else current
        if wanted and not port_security:
            if "security_groups" in attrs:
                raise errors.PortSecurityAndIPRequiredForSecurityGroups()
            raise errors.PortSecurityPortHasSecurityGroup()
        if wanted != current:
            added = tuple(sorted(wanted - current))
            await self.events.publish(conn, PortGroupsChanging(ctx, row.id, row.project_id, added))
            await conn.execute(delete(psg).where(psg.c.port_id == row.id))
            if wanted:
                await conn.execute(insert(psg), [{"port_id": row.id, "security_group_id": g} for g in sorted(wanted)])

    async def _replace_fixed_ips(
        self, conn, ctx, row, network, entries: list[dict], mac_text: str, device_owner: str, owner: bool
    ) -> None:
        """Keep matching allocations, release missing ones, allocate new ones, atomically."""
        subnets = await self._subnets_of(conn, network.id)
        by_id = {sub.id: sub for sub in subnets}
        held = [
            (r.subnet_id, r.address)
            for r in await conn.execute(
                select(a.c.subnet_id, a.c.address).where(a.c.port_id == row.id, a.c.deallocated == false())
            )
        ]
        # Shared addresses the port holds match entries like its own; left out,
        # the port stops holding them (released if it was the last holder).
        shared = {(r.subnet_id, r.address): r.allocation_id for r in await holders.shared_held_by(conn, row.id)}
        held += list(shared)
        keep: set[tuple[str, str]] = set()
        wanted: list[tuple[Any, Any]] = []
        for entry in entries:
            if "ip_address" in entry and not owner and not ctx.is_service:
                raise errors.PolicyNotAuthorized(action="rule:update_port:fixed_ips:ip_address")
            subnet, address = self._resolve_entry(network, subnets, entry)
            match = next(
                (
                    h
                    for h in held
                    if h not in keep
                    and h[0] == subnet.id
                    and (address is None or ipaddress.ip_address(h[1]) == address)
                ),
                None,
            )
            if match is not None:
                keep.add(match)
            else:
                wanted.append((subnet, address))
        for held_ip in held:  # auto-address (SLAAC) allocations always stay
            sub = by_id.get(held_ip[0])
            if sub is not None and addressing.is_auto_address(sub):
                keep.add(held_ip)
        await self.ips.release_port(conn, row.id, only=[ip for ip in held if ip not in keep and ip not in shared])
        await holders.detach(conn, self.ips, row.id, [aid for pair, aid in shared.items() if pair not in keep])
        target = _PortPlan(
            row={"id": row.id, "project_id": row.project_id, "mac_address": mac_text, "device_owner": device_owner},
            network=network,
            subnets=subnets,
            fixed_requested=entries,
            groups=[],
            tags=[],
            admin=ctx.is_admin,
        )
        for subnet, address in wanted:
            await self._allocate_entry(conn, target, subnet, address)

    # --- delete ------------------------------------------------------------------------

    async def delete(self, ctx: Context, port_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, port_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            self._check_deletable(row)
            await self.delete_in(conn, row)

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
                await self.delete_in(conn, row)
            return [row.id for row in rows]

        return await self.db.run_write(work)

    @staticmethod
    def _check_deletable(row: Any) -> None:
        if row.device_owner in owners.ROUTER_INTERFACE:
            raise errors.ServicePortInUse(port_id=row.id, reason="it is a router interface; use the router API")
        if row.device_owner == owners.FLOATING_IP:
            raise errors.ServicePortInUse(port_id=row.id, reason="it holds a floating IP; delete the floating IP")

    async def on_network_deleting(self, conn: AsyncConnection, event: NetworkDeleting) -> None:
        """The ports left on a network being deleted (DHCP and other auto-delete
        ports) go with it; their addresses go with the subnets."""
        for port in (await conn.execute(select(p).where(p.c.network_id == event.network.id))).all():
            await self.delete_in(conn, port, drop_allocations=True)

    async def delete_in(self, conn: AsyncConnection, row: Any, *, drop_allocations: bool = False) -> None:
        """Delete a port and give back what it holds (inside the caller's transaction)."""
        network = (await conn.execute(select(n).where(n.c.id == row.network_id))).one()
        host = bound_host(row.binding_host_id, row.binding_vif_type)
        await self.events.publish(conn, PortDeleting(row, network, host))
        await self.ips.release_port(conn, row.id, delete_rows=drop_allocations)
        await holders.detach(conn, self.ips, row.id)  # a shared address lives on with its other holders
        if row.mac_allocated:
            await self.macs.release(conn, macs.parse_mac(row.mac_address))
        await conn.execute(delete(psg).where(psg.c.port_id == row.id))
        await write_tags(conn, row.id, [])
        await conn.execute(delete(p).where(p.c.id == row.id))

    async def add_subnets(self, conn: AsyncConnection, row: Any, subnet_ids: list[str]) -> None:
        """Give the port an address on each of ``subnet_ids`` it has none on
        (DHCP ports on new subnets). A full subnet is left out."""
        held = set(
            (
                await conn.execute(select(a.c.subnet_id).where(a.c.port_id == row.id, a.c.deallocated.is_(False)))
            ).scalars()
        )
        missing = [sid for sid in subnet_ids if sid not in held]
        if not missing:
            return
        network = (await conn.execute(select(n).where(n.c.id == row.network_id))).one()
        subnets = await self._subnets_of(conn, network.id)
        by_id = {sub.id: sub for sub in subnets}
        target = _PortPlan(
            row={
                "id": row.id,
                "project_id": row.project_id,
                "mac_address": row.mac_address,
                "device_owner": row.device_owner,
            },
            network=network,
            subnets=subnets,
            fixed_requested=[{"subnet_id": sid} for sid in missing],
            groups=[],
            tags=[],
            admin=True,
        )
        added = False
        for sid in missing:
            if sid in by_id:
                try:
                    await self._allocate_entry(conn, target, by_id[sid], None)
                    added = True
                except errors.IpAddressGenerationFailure:
                    continue
        if added:
            await self.addresses_changed(conn, [row.id])

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
                select(p.c.id, p.c.network_id, p.c.binding_host_id, p.c.binding_vif_type).where(p.c.id.in_(ordered))
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


@dataclass
class _PortPlan:
    """One port being created: its row, where it lives, and what it got."""

    row: dict
    network: Any
    subnets: list[Any]
    fixed_requested: list[dict] | None
    groups: list[str]
    tags: list[str]
    group_choice: GroupChoice | None = None
    admin: bool = False
    only_version: int | None = None
    eligible: list[Any] = field(default_factory=list)
    fixed_ips: list[tuple[int, str, str, str]] = field(default_factory=list)

    stateful: int = 0

    def add(self, subnet: Any, address: str) -> None:
        version = subnet.ip_version
        self.fixed_ips.append((version, addressing.ip_key(ipaddress.ip_address(address), version), subnet.id, address))
        if not addressing.is_auto_address(subnet):
            self.stateful += 1

    @property
    def strategy(self) -> str:
        return getattr(self.network, "ipam_strategy", None) or "NEUTRON"

    def has(self, version: int) -> bool:
        return any(v == version for v, *_ in self.fixed_ips)

    def wants(self, version: int) -> bool:
        """Whether the default allocation should look for an address of ``version`` now."""
        if self.has(version):
            return False
        if self.strategy == "ANY":
            return not self.stateful
        return True

    def satisfied(self) -> bool:
        families = {sub.ip_version for sub in self.eligible}
        stateful = {sub.ip_version for sub in self.eligible if not addressing.is_auto_address(sub)}
        if self.strategy == "ANY":
            return bool(self.fixed_ips) or not families
        if self.strategy == "BOTH":
            return bool(self.fixed_ips) or not families
        if self.strategy == "BOTH_REQUIRED":
            return self.has(4) and self.has(6)
        return all(self.has(version) for version in stateful)

    def view(self) -> dict:
        fixed = [{"subnet_id": sid, "ip_address": addr} for _, _, sid, addr in sorted(self.fixed_ips)]
        return PortService._view(SimpleNamespace(**self.row), fixed, self.groups, sorted(self.tags))


def _fullness(subnet: Any) -> float:
    """Share of a subnet's allocatable addresses in use (for fullest-first)."""
    capacity = pool_ranges(subnet).size
    return (subnet.used or 0) / capacity if capacity else 1.0
