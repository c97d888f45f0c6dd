"""The steps of a port update, inside its transaction.

``PortUpdater.apply`` takes the locked port row and the attributes asked for,
and returns the column changes to write (the service bumps the revision and
publishes the change). Each step owns one concern: plain attributes, the
binding and the status it implies, the MAC, port security with its groups
and address pairs, DHCP options, and the addresses.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, false, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, owners
from quark.config import Settings
from quark.context import Context
from quark.db import models
from quark.ipam import addressing, holders, macs
from quark.ipam.decision import resolve_entry, takes_eui64
from quark.ipam.ip_allocator import IpAllocator
from quark.ipam.requests import AddressRequest, FixedIp, Holder, Strategy
from quark.ipam.segment_errors import HostNotCompatibleWithFixedIps
from quark.services.core import segment_hosts
from quark.services.core.binding import UNBOUND, Binder, bound_status, is_bound
from quark.services.core.ports import options
from quark.services.core.ports.mac_choice import MacChoice
from quark.services.core.ports.network_tree import subnets_of
from quark.services.events import Events, PortAddressesChanged, PortGroupsChanging

a = models.ip_allocations
psg = models.port_security_groups

PLAIN = ("name", "description", "admin_state_up", "device_id", "device_owner", "dns_name")
Held = tuple[str, str]  # (subnet_id, address)


@dataclass
class PortUpdate:
    """One update under way: the port row before, its network, what is asked,
    and the column changes decided so far."""

    ctx: Context
    row: Any
    network: Any
    attrs: dict
    changes: dict
    groups: frozenset[str] = frozenset()  # the port's security groups after the update

    def new(self, column: str) -> Any:
        """The column's value after the update (changed or not)."""
        return self.changes.get(column, getattr(self.row, column))


class PortUpdater:
    def __init__(
        self, settings: Settings, events: Events, ips: IpAllocator, mac_choice: MacChoice, binder: Binder
    ) -> None:
        self.settings = settings
        self.events = events
        self.ips = ips
        self.mac_choice = mac_choice
        self.binder = binder

    async def apply(self, conn: AsyncConnection, ctx: Context, row: Any, network: Any, attrs: dict) -> PortUpdate:
        """The update decided (every check passed, every row it needs written):
        its column changes, and the port's groups after it."""
        update = PortUpdate(ctx, row, network, attrs, _plain_changes(attrs))
        await self._binding(conn, update)
        await self._routed(conn, update)
        mac_changed = await self._mac(conn, update)
        await self._security(conn, update)
        if "extra_dhcp_opts" in attrs:
            update.changes["extra_dhcp_opts"] = options.merge_dhcp_opts(
                row.extra_dhcp_opts or [], attrs["extra_dhcp_opts"] or []
            )
        if "fixed_ips" in attrs or mac_changed:
            await self._addresses(conn, update)
        return update

    # --- binding ---------------------------------------------------------------------

    async def _binding(self, conn: AsyncConnection, update: PortUpdate) -> None:
        """A new host is bound at once (the answer is in this response); admin
        state changes of a bound port change its status."""
        row, changes = update.row, update.changes
        admin_up = update.new("admin_state_up")
        if "binding:host_id" not in update.attrs:
            if admin_up != row.admin_state_up and is_bound(row.binding_vif_type):
                # Admin down takes the device down at once; back up, the agent reports ACTIVE again.
                changes["status"] = bound_status(admin_up)
            return
        host = update.attrs["binding:host_id"] or ""
        result = await self.binder.bind(conn, row, update.network, host) if host else UNBOUND
        changes.update(binding_host_id=host, binding_vif_type=result.vif_type, binding_vif_details=result.vif_details)
        same = host == row.binding_host_id and row.binding_vif_type == result.vif_type and result.bound
        if same and admin_up and row.admin_state_up:
            return  # bound again where it is: the agent's last report still holds
        if result.bound:
            changes["status"] = bound_status(admin_up)
        elif result.status is not None:
            changes["status"] = result.status

    async def _routed(self, conn: AsyncConnection, update: PortUpdate) -> None:
        """A new host on a routed network (Neutron's IPAM ``update_port``): a
        deferred port gets its addresses from the segments the host reaches, in
        this transaction; a port's addresses must be on those segments (409
        ``HostNotCompatibleWithFixedIps``; 409 ``HostNotConnectedToAnySegment``
        when it reaches none)."""
        row, attrs = update.row, update.attrs
        host = attrs.get("binding:host_id") or ""
        if not host or host == row.binding_host_id or "fixed_ips" in attrs:
            return
        subnets = await subnets_of(conn, row.network_id)
        if not segment_hosts.is_routed(subnets):
            return
        stmt = select(a.c.subnet_id).where(a.c.port_id == row.id, a.c.deallocated == false())
        held = set((await conn.execute(stmt)).scalars())
        deferred = row.ip_allocation == segment_hosts.DEFERRED and not row.binding_host_id and not held
        if not deferred and not held:
            return
        valid = await segment_hosts.reachable(conn, row.network_id, subnets, host)
        if not deferred:
            if not held <= {sub.id for sub in valid}:
                raise HostNotCompatibleWithFixedIps(host=host, port_id=row.id)
            return
        mac, owner = macs.parse_mac(update.new("mac_address")), update.new("device_owner")
        strategy = Strategy(update.network.ipam_strategy or Strategy.NEUTRON)
        holder = Holder(row.id, row.project_id, mac, owner)
        request = AddressRequest(holder, row.network_id, valid, None, strategy=strategy, admin=update.ctx.is_admin)
        await self.ips.allocate(conn, [request])
        update.changes["ip_allocation"] = segment_hosts.IMMEDIATE
        await self.events.publish(conn, PortAddressesChanged((row.id,)))

    # --- MAC ---------------------------------------------------------------------------

    async def _mac(self, conn: AsyncConnection, update: PortUpdate) -> bool:
        """A new MAC for an unbound port; the old one is released. Whether it changed.
        ``mac_address: null`` asks for a new one from the ranges (port-mac-address-regenerate)."""
        row = update.row
        if "mac_address" not in update.attrs:
            return False
        wanted = update.attrs["mac_address"]
        if wanted == row.mac_address:
            return False
        if owners.is_network_service(update.new("device_owner")):
            raise errors.UnsupportedPortDeviceOwner(
                op="mac address update", port_id=row.id, device_owner=update.new("device_owner")
            )
        if is_bound(row.binding_vif_type):
            raise errors.PortBound(
                port_id=row.id, vif_type=row.binding_vif_type, old_mac=row.mac_address, new_mac=wanted or "(new)"
            )
        if wanted is None:
            chosen = await self.mac_choice.allocate(conn, row.network_id)
        else:
            chosen = await self.mac_choice.explicit(conn, row.network_id, wanted)
        if row.mac_allocated:
            await self.mac_choice.release(conn, row.mac_address)
        update.changes.update(mac_address=chosen.text, mac_allocated=chosen.owned)
        return True

    # --- port security, groups, address pairs -----------------------------------------

    async def _security(self, conn: AsyncConnection, update: PortUpdate) -> None:
        attrs, row = update.attrs, update.row
        port_security = attrs.get("port_security_enabled", row.port_security_enabled)
        update.changes["port_security_enabled"] = port_security
        await self._groups(conn, update, port_security)
        pairs = attrs.get("allowed_address_pairs", row.allowed_address_pairs or [])
        if not port_security and pairs:
            raise errors.AddressPairAndPortSecurityRequired()
        if "allowed_address_pairs" in attrs:
            update.changes["allowed_address_pairs"] = options.address_pairs(
                attrs["allowed_address_pairs"] or [],
                update.new("mac_address"),
                port_security,
                self.settings.max_allowed_address_pairs,
            )

    async def _groups(self, conn: AsyncConnection, update: PortUpdate, port_security: bool) -> None:
        row, attrs = update.row, update.attrs
        current = set((await conn.execute(select(psg.c.security_group_id).where(psg.c.port_id == row.id))).scalars())
        wanted = set(attrs["security_groups"] or []) if "security_groups" in attrs else current
        update.groups = frozenset(wanted)
        if wanted and not port_security:
            if "security_groups" in attrs:
                raise errors.PortSecurityAndIPRequiredForSecurityGroups()
            raise errors.PortSecurityPortHasSecurityGroup()
        if wanted == current:
            return
        added = tuple(sorted(wanted - current))
        await self.events.publish(
            conn, PortGroupsChanging(update.ctx, row.id, row.project_id, added, tuple(sorted(wanted)))
        )
        await conn.execute(delete(psg).where(psg.c.port_id == row.id))
        if wanted:
            await conn.execute(insert(psg), [{"port_id": row.id, "security_group_id": g} for g in sorted(wanted)])

    # --- addresses -------------------------------------------------------------------

    async def _addresses(self, conn: AsyncConnection, update: PortUpdate) -> None:
        """Keep the held addresses the entries still ask for, let go of the others
        and take the new ones, atomically; EUI-64 addresses follow the MAC."""
        row, network, ctx = update.row, update.network, update.ctx
        entries = update.attrs.get("fixed_ips")
        subnets = await subnets_of(conn, network.id)
        holder = Holder(row.id, row.project_id, macs.parse_mac(update.new("mac_address")), update.new("device_owner"))
        own = [
            (r.subnet_id, r.address)
            for r in await conn.execute(
                select(a.c.subnet_id, a.c.address).where(a.c.port_id == row.id, a.c.deallocated == false())
            )
        ]
        # Shared addresses the port holds match entries like its own; left out,
        # the port stops holding them (released if it was the last holder).
        shared = {(r.subnet_id, r.address): r.allocation_id for r in await holders.shared_held_by(conn, row.id)}
        plan = plan_addresses(entries, own, list(shared), subnets, holder, network.id)
        if plan is None:
            return  # a new MAC, and no address derived from the old one
        keep, wanted = plan
        if entries is not None:
            update.changes["ip_allocation"] = "none" if entries == [] else "immediate"
        await self.ips.release_port(conn, row.id, only=[h for h in own if h not in keep])
        await holders.detach(conn, self.ips, row.id, [aid for pair, aid in shared.items() if pair not in keep])
        request = AddressRequest(holder, network.id, subnets, tuple(wanted), admin=ctx.is_admin)
        await self.ips.allocate(conn, [request])
        await self.events.publish(conn, PortAddressesChanged((row.id,)))


def plan_addresses(
    entries: list[dict] | None,
    own: list[Held],
    shared: list[Held],
    subnets: list[Any],
    holder: Holder,
    network_id: str,
) -> tuple[set[Held], list[FixedIp]] | None:
    """Which held addresses (own and shared) a port keeps, and the entries for
    the ones it gets; None when nothing changes.

    ``entries`` is the new ``fixed_ips`` (None: unchanged, only the MAC
    changed). Addresses on auto-address (SLAAC) subnets stay unless they are
    the EUI-64 of an old MAC: those are replaced by the new MAC's.
    """
    stale, refresh = _stale_eui64(own, subnets, holder)
    if entries is None and not stale:
        return None
    held = [h for h in own if h not in stale] + shared
    keep, wanted = _match(entries, held, subnets, network_id) if entries is not None else (set(held), [])
    auto = {sub.id for sub in subnets if addressing.is_auto_address(sub)}
    keep |= {h for h in held if h[0] in auto}
    asked = {entry.subnet_id for entry in wanted}
    wanted += [entry for entry in refresh if entry.subnet_id not in asked]
    return keep, wanted


def _plain_changes(attrs: dict) -> dict:
    changes = {key: attrs[key] for key in PLAIN if key in attrs}
    if "binding:vnic_type" in attrs:
        changes["binding_vnic_type"] = attrs["binding:vnic_type"] or "normal"
    if "binding:profile" in attrs:
        changes["binding_profile"] = attrs["binding:profile"] or {}
    return changes


def _stale_eui64(own: list[Held], subnets: list[Any], holder: Holder) -> tuple[set[Held], list[FixedIp]]:
    """The port's EUI-64 addresses that are not the EUI-64 of its MAC (the MAC
    changed), and the entries that give it the right ones instead."""
    by_id = {sub.id: sub for sub in subnets}
    stale: set[Held] = set()
    for subnet_id, address in own:
        subnet = by_id.get(subnet_id)
        if subnet is None or not takes_eui64(subnet, holder):
            continue
        assert holder.mac is not None
        if ipaddress.ip_address(address) != addressing.eui64(ipaddress.ip_network(subnet.cidr), holder.mac):
            stale.add((subnet_id, address))
    return stale, [FixedIp(subnet_id=subnet_id) for subnet_id in sorted({sid for sid, _ in stale})]


def _match(
    entries: list[dict], held: list[Held], subnets: list[Any], network_id: str
) -> tuple[set[Held], list[FixedIp]]:
    """Which held addresses the entries keep, and the entries that ask for new ones."""
    keep: set[Held] = set()
    wanted: list[FixedIp] = []
    for raw in entries:
        entry = FixedIp.of(raw)
        subnet, address = resolve_entry(entry, subnets, network_id)
        match = next(
            (
                h
                for h in held
                if h not in keep and h[0] == subnet.id and (address is None or ipaddress.ip_address(h[1]) == address)
            ),
            None,
        )
        if match is not None:
            keep.add(match)
        else:
            wanted.append(FixedIp(subnet.id, None if address is None else str(address)))
    return keep, wanted
