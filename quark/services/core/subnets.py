"""Subnets: CIDR, gateway and pool rules (contract §4.1), IPv6 modes, and
the allocator cursor kept in step with pool changes.

Publishes ``SubnetCreated``, ``SubnetUpdated`` and ``SubnetDeleted``
(quark.services.events): route rows, IP-policy exclusions and DHCP follow
through their subscribers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, delete, exists, false, insert, or_, select, true, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, owners
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.db.dialect import InSubquery
from quark.db.lookups import IDS, Lookup
from quark.ipam import addressing
from quark.ipam.addressing import RangeSet
from quark.ipam.ip_allocator import IpAllocator
from quark.ipam.pools import cursor_after_pool_change, initial_cursor, pool_ranges
from quark.ipam.prefix_allocator import PrefixAllocator
from quark.services.common import base, rbac
from quark.services.common.base import ResourceService, check_revision, standard_columns, write_tags
from quark.services.common.listing import ListQuery
from quark.services.core import segment_rules
from quark.services.core.mtu import check_subnet_fits
from quark.services.core.network_services import dhcp_default
from quark.services.core.segment_rules import check_subnet_segment
from quark.services.core.subnet_prefixes import check_affinity, take_prefix
from quark.services.events import (
    Events,
    PortAddressesChanged,
    ResourcesCreated,
    ResourcesWritten,
    SubnetCreated,
    SubnetDeleted,
    SubnetUpdated,
    Written,
)

s = models.subnets
n = models.networks
a = models.ip_allocations
p = models.ports
h = models.ip_address_ports

# Which of the subnets shown are on an external network (router:external).
EXTERNAL_SUBNETS = Lookup(
    "subnet.external",
    select(s.c.id)
    .select_from(s.join(n, n.c.id == s.c.network_id))
    .where(s.c.id.in_(IDS), n.c.router_external == true()),
)

AUTO_MODES = ("slaac", "dhcpv6-stateless")


def _pools_json(pools: list[tuple[Any, Any]]) -> list[list[str]]:
    return [[str(start), str(end)] for start, end in pools]


_s = s.alias("seen_subnets")


def visible_subnets(id_column: Any, project_id: str) -> Any:
    """Subnets a project may list: its own, and those of the networks a policy
    opens to it (docs/rbac.md); one set, found by index."""
    own = select(_s.c.id).where(_s.c.project_id == project_id)
    opened = select(_s.c.id).where(InSubquery(_s.c.network_id, rbac.granted_objects("network", project_id)))
    return InSubquery(id_column, union_all(own, opened))


class SubnetService(ResourceService):
    table = s
    not_found = errors.SubnetNotFound
    not_found_key = "subnet_id"
    columns = {
        **standard_columns(s),
        "network_id": s.c.network_id,
        "ip_version": s.c.ip_version,
        "cidr": s.c.cidr,
        "gateway_ip": s.c.gateway_ip,
        "enable_dhcp": s.c.enable_dhcp,
        "ipv6_ra_mode": s.c.ipv6_ra_mode,
        "ipv6_address_mode": s.c.ipv6_address_mode,
        "subnetpool_id": s.c.subnetpool_id,
        "segment_id": s.c.segment_id,
    }
    related = (("tags", base.TAGS), ("router:external", EXTERNAL_SUBNETS))

    def __init__(self, db, settings, events: Events, ip_allocator: IpAllocator) -> None:
        super().__init__(db, settings, events)
        self.ips = ip_allocator
        self.prefixes = PrefixAllocator()  # subnets out of subnet pools (docs/subnet_pools.md)

    def visible(self, ctx: Context):
        if ctx.is_admin:
            return None
        return visible_subnets(s.c.id, ctx.project_id)

    def matching(self, ctx: Context, query: ListQuery):
        """``shared`` and ``router:external``: Neutron's filters of subnets by their
        network's (``shared`` as the caller is shown it: shared with its project)."""
        stmt = super().matching(ctx, query)
        if "router:external" in query.filters:
            external = select(n.c.id).where(n.c.router_external.in_(query.filters["router:external"]))
            stmt = stmt.where(s.c.network_id.in_(external))
        if "shared" in query.filters:
            shared = rbac.grants("network", s.c.network_id, ctx.project_id, (rbac.SHARED,))
            stmt = stmt.where(rbac.flag_filter(shared, query.filters["shared"]))
        return stmt

    def assemble(self, rows: Sequence[Any], found: dict[str, list[Any]], query: ListQuery) -> list[dict]:
        tags = base.tags_by_resource(found)
        external = {row.id for row in found.get("subnet.external", ())}
        return [self._view(r, tags.get(r.id, []), r.id in external) for r in rows]

    @staticmethod
    def _view(row: Any, tags: list[str], external: bool) -> dict:
        view = base.standard_view(row)
        view.update(
            {
                "name": row.name,
                "network_id": row.network_id,
                "ip_version": row.ip_version,
                "cidr": row.cidr,
                "gateway_ip": row.gateway_ip,
                "allocation_pools": [{"start": lo, "end": hi} for lo, hi in row.allocation_pools or []],
                "dns_nameservers": list(row.dns_nameservers or []),
                "host_routes": list(row.host_routes or []),
                "enable_dhcp": row.enable_dhcp,
                "ipv6_ra_mode": row.ipv6_ra_mode,
                "ipv6_address_mode": row.ipv6_address_mode,
                "subnetpool_id": row.subnetpool_id,
                "segment_id": row.segment_id,
                "service_types": list(row.service_types or []),
                "dns_publish_fixed_ip": False,
                "router:external": external,
                "tags": tags,
            }
        )
        return view

    # --- validation --------------------------------------------------------------

    def _check_lists(self, subnet_id: str, version: int, attrs: dict) -> None:
        dns = attrs.get("dns_nameservers")
        if dns is not None:
            if len(dns) > self.settings.max_dns_nameservers:
                raise errors.DNSNameServersExhausted(subnet_id=subnet_id, quota=self.settings.max_dns_nameservers)
            for server in dns:
                if ipaddress.ip_address(server).version != version:
                    raise errors.InvalidInput(
                        error_message=f"IP version of DNS nameserver {server} does not match subnet"
                    )
        routes = attrs.get("host_routes")
        if routes is not None:
            if len(routes) > self.settings.max_subnet_host_routes:
                raise errors.HostRoutesExhausted(subnet_id=subnet_id, quota=self.settings.max_subnet_host_routes)
            normalised = []
            for route in routes:
                try:
                    dest = ipaddress.ip_network(route["destination"], strict=False)
                except ValueError:
                    raise errors.InvalidInput(
                        error_message=f"Invalid host route destination {route['destination']}"
                    ) from None
                if dest.version != version or ipaddress.ip_address(route["nexthop"]).version != version:
                    raise errors.InvalidInput(
                        error_message=f"Host route {route} does not match the subnet's IP version"
                    )
                normalised.append({"destination": str(dest), "nexthop": route["nexthop"]})
            attrs["host_routes"] = normalised

    @staticmethod
    def _check_modes(
        version: int, net: addressing.IPNetwork, enable_dhcp: bool, ra: str | None, mode: str | None
    ) -> None:
        def bad(reason: str) -> None:
            raise errors.InvalidInput(error_message=reason)

        if version == 4 and (ra or mode):
            bad("ipv6_ra_mode or ipv6_address_mode cannot be set when ip_version is 4")
        if (ra or mode) and not enable_dhcp:
            bad("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False")
        if ra and mode and ra != mode:
            bad(
                f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to '{mode}' is not valid. "
                "If both attributes are set, they must be the same value"
            )
        if (ra in AUTO_MODES or mode in AUTO_MODES) and net.prefixlen != 64:
            bad(
                f"Invalid CIDR {net} for IPv6 address mode. OpenStack uses the EUI-64 address format, "
                "which requires the prefix to be /64"
            )

    @staticmethod
    def _check_dhcp_cidr(net: addressing.IPNetwork) -> None:
        too_small = (net.version == 4 and net.prefixlen > 30) or (net.version == 6 and net.prefixlen > 126)
        if too_small or net.is_multicast or net.is_loopback or net.network_address == ipaddress.ip_address("0.0.0.0"):
            raise errors.InvalidInput(error_message=f"{net} is not a valid CIDR for a subnet with DHCP enabled")

    # --- create ----------------------------------------------------------------------

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict, network: Any | None = None) -> str:
        """Insert one subnet inside the caller's transaction; returns its id."""
        project_id = base.resolve_project(ctx, attrs)
        if network is None:
            network = await self._network_for_write(conn, ctx, attrs["network_id"])
        pool = await take_prefix(conn, ctx, self.prefixes, attrs, project_id)
        version = attrs["ip_version"]
        net = addressing.parse_cidr(attrs["cidr"], version)
        enable_dhcp = attrs["enable_dhcp"] if "enable_dhcp" in attrs else await dhcp_default(conn, network)
        ra, mode = attrs.get("ipv6_ra_mode"), attrs.get("ipv6_address_mode")
        self._check_modes(version, net, enable_dhcp, ra, mode)
        if enable_dhcp:
            self._check_dhcp_cidr(net)
        check_subnet_fits(network.id, network.mtu, [version])
        await check_affinity(conn, network.id, version, pool)
        await self._check_overlap(conn, network.id, net)

        subnet_id = attrs.get("id") or base.new_id()  # an id given: an external IPAM registration
        gateway = attrs.get("gateway_ip")
        if "gateway_ip" not in attrs:
            gateway = addressing.default_gateway(net)
        elif gateway is not None:
            gateway = addressing.parse_ip(gateway, version)
            addressing.validate_gateway(net, gateway)
        if attrs.get("allocation_pools") is not None:
            pools = addressing.validate_pools(net, attrs["allocation_pools"], gateway)
        else:
            pools = addressing.default_pools(net, gateway)
        self._check_lists(subnet_id, version, attrs)
        ranges = RangeSet.from_pools(pools)
        now = utcnow()
        row = {
            "id": subnet_id,
            "network_id": network.id,
            "project_id": project_id,
            "name": attrs.get("name", ""),
            "description": attrs.get("description", ""),
            "ip_version": version,
            "cidr": addressing.canonical_cidr(net),
            "gateway_ip": None if gateway is None else str(gateway),
            "enable_dhcp": enable_dhcp,
            "ipv6_ra_mode": ra,
            "ipv6_address_mode": mode,
            "allocation_pools": _pools_json(pools),
            "dns_nameservers": attrs.get("dns_nameservers") or [],
            "host_routes": attrs.get("host_routes") or [],
            "service_types": attrs.get("service_types") or [],
            "next_ip_key": initial_cursor(ranges, version),
            "subnetpool_id": None if pool is None else pool.id,
            "segment_id": await check_subnet_segment(conn, network.id, attrs.get("segment_id")),
            "created_at": now,
            "updated_at": now,
            "revision_number": 0,
        }
        await conn.execute(insert(s).values(**row))
        await IpAllocator.create_counters(conn, subnet_id)
        subnet = SimpleNamespace(**row, excluded_ranges=[])
        await self._bump_network(conn, network.id)
        await self.events.publish(conn, SubnetCreated(subnet))
        driver = network.network_plugin or self.settings.backend_driver
        written = Written(subnet_id, 0, project_id, network.id, driver)
        await self.events.publish(conn, ResourcesWritten("subnet", "create", (written,), ctx))
        await self._network_written(conn, network.id)
        await self.events.publish(conn, ResourcesCreated("subnet", {project_id: 1}))
        return subnet_id

    async def _network_for_write(self, conn: AsyncConnection, ctx: Context, network_id: str) -> Any:
        stmt = select(n).where(n.c.id == network_id)
        if not ctx.is_admin:
            stmt = stmt.where(or_(n.c.project_id == ctx.project_id, rbac.grants("network", n.c.id, ctx.project_id)))
        network = (await conn.execute(stmt)).first()
        if network is None:
            raise errors.NetworkNotFound(net_id=network_id)
        if not ctx.is_admin and network.project_id != ctx.project_id:
            raise errors.PolicyNotAuthorized(action="rule:create_subnet")
        return network

    async def _check_overlap(self, conn: AsyncConnection, network_id: str, net: addressing.IPNetwork) -> None:
        if await overlapping(conn, network_id, net):
            raise errors.InvalidInput(
                error_message=f"Requested subnet with cidr: {net} for network: {network_id} overlaps with another subnet"
            )

    async def _bump_network(self, conn: AsyncConnection, network_id: str) -> None:
        await conn.execute(
            update(n).where(n.c.id == network_id).values(revision_number=n.c.revision_number + 1, updated_at=utcnow())
        )

    async def _network_written(self, conn: AsyncConnection, network_id: str) -> None:
        """The network's revision moved with its subnets (``_bump_network``): a driver that
        follows networks hears of it (an update job at the new revision, not told to the
        request), so the revision its backend holds is the network's."""
        net = (
            await conn.execute(
                select(n.c.revision_number, n.c.project_id, n.c.network_plugin).where(n.c.id == network_id)
            )
        ).one()
        driver = net.network_plugin or self.settings.backend_driver
        written = Written(network_id, net.revision_number, net.project_id, network_id, driver)
        await self.events.publish(conn, ResourcesWritten("network", "update", (written,)))

    # --- update ----------------------------------------------------------------------

    async def update(self, ctx: Context, subnet_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.get_row(conn, ctx, subnet_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            net = ipaddress.ip_network(row.cidr)
            changes: dict[str, Any] = {}
            for key in ("name", "description", "enable_dhcp", "service_types"):
                if key in attrs:
                    changes[key] = attrs[key]
            if changes.get("enable_dhcp"):
                self._check_dhcp_cidr(net)
            if changes.get("enable_dhcp") is False and (row.ipv6_ra_mode or row.ipv6_address_mode):
                raise errors.InvalidInput(error_message="enable_dhcp cannot be False on a subnet with IPv6 modes")
            self._check_lists(subnet_id, row.ip_version, attrs)
            for key in ("dns_nameservers", "host_routes"):
                if key in attrs:
                    changes[key] = attrs[key] or []
            if "gateway_ip" in attrs or "allocation_pools" in attrs:
                changes.update(await self._pools_and_gateway(conn, row, net, attrs))
            if "segment_id" in attrs and attrs["segment_id"] != row.segment_id:
                await segment_rules.check_segment_change(conn, row, attrs["segment_id"])
                changes["segment_id"] = attrs["segment_id"]
            await self.bump_revision(conn, subnet_id, **changes)
            await self.events.publish(conn, SubnetUpdated(row, changes))
            written = Written(subnet_id, row.revision_number + 1, row.project_id, row.network_id)
            await self.events.publish(conn, ResourcesWritten("subnet", "update", (written,), ctx))
            return await self.render_one(conn, ctx, subnet_id)

        return await self.db.run_write(work)

    async def _pools_and_gateway(self, conn: AsyncConnection, row: Any, net, attrs: dict) -> dict:
        gateway = attrs.get("gateway_ip", row.gateway_ip)
        if gateway is not None:
            gateway = addressing.parse_ip(gateway, row.ip_version)
            addressing.validate_gateway(net, gateway)
        if "gateway_ip" in attrs and row.gateway_ip is not None and str(gateway) != row.gateway_ip:
            await self._check_gateway_not_routed(conn, row)
        raw_pools = attrs.get("allocation_pools")
        if raw_pools is None:
            raw_pools = [{"start": lo, "end": hi} for lo, hi in row.allocation_pools or []]
        pools = addressing.validate_pools(net, raw_pools, gateway)
        old, new = pool_ranges(row), RangeSet.from_pools(pools)
        if old != new:
            await self._check_stranded(conn, row, old.subtract(new))
        return {
            "gateway_ip": None if gateway is None else str(gateway),
            "allocation_pools": _pools_json(pools),
            "next_ip_key": cursor_after_pool_change(old, new, row.next_ip_key, row.ip_version),
        }

    @staticmethod
    async def _check_gateway_not_routed(conn: AsyncConnection, row: Any) -> None:
        """As Neutron: the gateway address may not move (or go) while a router
        port holds it (409 GatewayIpInUse)."""
        port_id = await conn.scalar(
            select(a.c.port_id)
            .join(p, p.c.id == a.c.port_id)
            .where(
                a.c.subnet_id == row.id,
                a.c.address == row.gateway_ip,
                a.c.deallocated == false(),
                p.c.device_owner.in_(owners.ROUTER),
            )
            .limit(1)
        )
        if port_id is not None:
            raise errors.GatewayIpInUse(ip_address=row.gateway_ip, port_id=port_id)

    async def _check_stranded(self, conn: AsyncConnection, row: Any, removed: RangeSet) -> None:
        """Refuse a pool change that would leave held addresses outside the pools."""
        if not removed:
            return
        version = row.ip_version
        in_removed = or_(
            *[
                a.c.address_key.between(addressing.ip_key(lo, version), addressing.ip_key(hi, version))
                for lo, hi in removed.ranges()
            ]
        )
        held = await conn.scalar(
            select(a.c.address).where(a.c.subnet_id == row.id, a.c.deallocated == false(), in_removed).limit(1)
        )
        if held is not None:
            raise errors.AllocationPoolStrandsAddresses(ip_address=held)

    # --- delete ----------------------------------------------------------------------

    async def delete(self, ctx: Context, subnet_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, subnet_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            if not addressing.is_auto_address(row):
                in_use = await conn.scalar(
                    select(
                        exists().where(
                            a.c.subnet_id == subnet_id,
                            a.c.deallocated == false(),
                            ~exists().where(and_(p.c.id == a.c.port_id, p.c.device_owner.in_(owners.AUTO_DELETE))),
                        )
                    )
                )
                if in_use:
                    raise errors.SubnetInUse(subnet_id=subnet_id)
            held_by = await self._holders(conn, subnet_id)
            await conn.execute(delete(a).where(a.c.subnet_id == subnet_id))
            await conn.execute(delete(models.ip_usage).where(models.ip_usage.c.subnet_id == subnet_id))
            await write_tags(conn, subnet_id, [])
            await conn.execute(delete(s).where(s.c.id == subnet_id))
            if row.subnetpool_id:  # its prefix back to the pool, for the next subnet
                await self.prefixes.release(conn, row.subnetpool_id, ipaddress.ip_network(row.cidr))
            if held_by:
                await conn.execute(
                    update(p)
                    .where(p.c.id.in_(held_by))
                    .values(revision_number=p.c.revision_number + 1, updated_at=utcnow())
                )
            await self._bump_network(conn, row.network_id)
            await self.events.publish(conn, SubnetDeleted(row))
            written = Written(subnet_id, row.revision_number, row.project_id, row.network_id)
            await self.events.publish(conn, ResourcesWritten("subnet", "delete", (written,), ctx))
            await self._network_written(conn, row.network_id)
            if held_by:  # what followed their addresses (floating IPs) must let go
                await self.events.publish(conn, PortAddressesChanged(tuple(held_by)))

        await self.db.run_write(work)

    @staticmethod
    async def _holders(conn: AsyncConnection, subnet_id: str) -> list[str]:
        """The ports holding an address of the subnet: their own, or shared (ip_address_ports)."""
        own = select(a.c.port_id).where(a.c.subnet_id == subnet_id, a.c.port_id.is_not(None))
        shared = (
            select(h.c.port_id)
            .select_from(h.join(a, a.c.id == h.c.allocation_id))
            .where(a.c.subnet_id == subnet_id, a.c.deallocated == false())
        )
        return sorted(set((await conn.execute(own.union(shared))).scalars()))


async def overlapping(conn: AsyncConnection, network_id: str, net: addressing.IPNetwork) -> list[tuple[str, str]]:
    """(id, cidr) of the network's subnets whose prefix overlaps ``net`` (a subnet create
    refuses any; an import's dry run reports them)."""
    rows = await conn.execute(
        select(s.c.id, s.c.cidr).where(s.c.network_id == network_id, s.c.ip_version == net.version)
    )
    return [(other_id, cidr) for other_id, cidr in rows if net.overlaps(ipaddress.ip_network(cidr))]
