"""Neutron's resources read straight from its database (``--database-url``).

The tables are reflected from the database itself (Neutron's schema as its
migrations left it, no copy of Neutron's models), read a page at a time by
id, and each page's child rows (pools, routes, addresses, bindings...) in one
query per child table. Records come out as Neutron's API shows them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import MetaData, Table, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from quark.services.imports.records import ROUTER_INTERFACE_OWNERS, SPECS

TABLES = (
    "standardattributes",
    "networks",
    "externalnetworks",
    "networkrbacs",
    "networksegments",
    "subnets",
    "ipallocationpools",
    "subnetroutes",
    "dnsnameservers",
    "securitygroups",
    "default_security_group",
    "securitygrouprules",
    "routers",
    "routerports",
    "ports",
    "ipallocations",
    "ml2_port_bindings",
    "securitygroupportbindings",
    "portsecuritybindings",
    "allowedaddresspairs",
    "floatingips",
)
MAIN = {
    "networks": "networks",
    "subnets": "subnets",
    "security_groups": "securitygroups",
    "security_group_rules": "securitygrouprules",
    "routers": "routers",
    "ports": "ports",
    "router_interfaces": "routerports",
    "floatingips": "floatingips",
}


def async_url(url: str) -> str:
    """Neutron's ``[database] connection`` (``mysql+pymysql://``) as an asyncio driver's URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "mysql":
        return parsed.set(drivername="mysql+asyncmy").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    return url


class DatabaseSource:
    def __init__(self, url: str, page_size: int = 500) -> None:
        self.engine = create_async_engine(async_url(url), pool_size=2)
        self.page_size = page_size
        self.t: dict[str, Table] = {}

    async def _tables(self, conn: AsyncConnection) -> dict[str, Table]:
        if not self.t:
            meta = MetaData()

            def reflect(sync_conn: Any) -> None:
                there = set(inspect(sync_conn).get_table_names())
                meta.reflect(sync_conn, only=[n for n in TABLES if n in there])

            await conn.run_sync(reflect)
            self.t = dict(meta.tables)
        return self.t

    async def close(self) -> None:
        await self.engine.dispose()

    async def count(self, kind: str) -> int:
        async with self.engine.connect() as conn:
            t = (await self._tables(conn)).get(MAIN[kind])
            if t is None:
                return 0
            stmt = select(func.count()).select_from(t)
            if kind == "router_interfaces":
                stmt = stmt.where(t.c.port_type.in_(ROUTER_INTERFACE_OWNERS))
            return int(await conn.scalar(stmt) or 0)

    async def pages(self, kind: str) -> AsyncIterator[list[dict]]:
        async with self.engine.connect() as conn:
            tables = await self._tables(conn)
            main = tables.get(MAIN[kind])
            if main is None:
                return
            key = main.c.port_id if kind == "router_interfaces" else main.c.id
            last: str | None = None
            while True:
                stmt = select(main).order_by(key).limit(self.page_size)
                if kind == "router_interfaces":
                    stmt = stmt.where(main.c.port_type.in_(ROUTER_INTERFACE_OWNERS))
                if last is not None:
                    stmt = stmt.where(key > last)
                rows = (await conn.execute(stmt)).all()
                if not rows:
                    return
                last = rows[-1].port_id if kind == "router_interfaces" else rows[-1].id
                yield await READERS[kind](conn, tables, rows)


# --- one page of each kind ---------------------------------------------------------


async def _children(conn: AsyncConnection, table: Table | None, column: str, ids: Sequence[str]) -> dict[str, list]:
    """Rows of ``table`` whose ``column`` is one of ``ids``, by that id."""
    out: dict[str, list] = defaultdict(list)
    if table is None or not ids:
        return out
    for row in (await conn.execute(select(table).where(table.c[column].in_(ids)))).all():
        out[getattr(row, column)].append(row)
    return out


async def _descriptions(conn: AsyncConnection, tables: dict[str, Table], rows: Sequence[Any]) -> dict[int, str]:
    sa = tables["standardattributes"]
    ids = [r.standard_attr_id for r in rows if getattr(r, "standard_attr_id", None) is not None]
    if not ids:
        return {}
    found = await conn.execute(select(sa.c.id, sa.c.description).where(sa.c.id.in_(ids)))
    return {r.id: r.description or "" for r in found}


def _std(row: Any, described: dict[int, str]) -> dict:
    return {
        "id": row.id,
        "name": getattr(row, "name", "") or "",
        "project_id": row.project_id or "",
        "description": described.get(getattr(row, "standard_attr_id", -1), ""),
    }


def _unnamed(row: Any, described: dict[int, str], **values: Any) -> dict:
    """The view of a resource without a name (rules, floating IPs)."""
    view = _std(row, described)
    view.pop("name")
    view.update(values)
    return view


async def _networks(conn: AsyncConnection, t: dict[str, Table], rows: Sequence[Any]) -> list[dict]:
    ids = [r.id for r in rows]
    described = await _descriptions(conn, t, rows)
    external = await _children(conn, t.get("externalnetworks"), "network_id", ids)
    rbacs = await _children(conn, t.get("networkrbacs"), "object_id", ids)
    segments = await _children(conn, t.get("networksegments"), "network_id", ids)
    out = []
    for r in rows:
        first = sorted(segments.get(r.id, []), key=lambda s: (s.segment_index, s.id))
        seg = first[0] if first else None
        out.append(
            {
                **_std(r, described),
                "admin_state_up": bool(r.admin_state_up),
                "mtu": r.mtu,
                "router:external": r.id in external,
                "shared": any(x.action == "access_as_shared" and x.target_project == "*" for x in rbacs.get(r.id, [])),
                "provider:network_type": seg.network_type if seg else None,
                "provider:physical_network": seg.physical_network if seg else None,
                "provider:segmentation_id": seg.segmentation_id if seg else None,
            }
        )
    return out


async def _subnets(conn: AsyncConnection, t: dict[str, Table], rows: Sequence[Any]) -> list[dict]:
    ids = [r.id for r in rows]
    described = await _descriptions(conn, t, rows)
    pools = await _children(conn, t["ipallocationpools"], "subnet_id", ids)
    routes = await _children(conn, t["subnetroutes"], "subnet_id", ids)
    dns = await _children(conn, t["dnsnameservers"], "subnet_id", ids)
    return [
        {
            **_std(r, described),
            "network_id": r.network_id,
            "ip_version": r.ip_version,
            "cidr": r.cidr,
            "gateway_ip": r.gateway_ip,
            "enable_dhcp": bool(r.enable_dhcp),
            "ipv6_ra_mode": r.ipv6_ra_mode,
            "ipv6_address_mode": r.ipv6_address_mode,
            "allocation_pools": [{"start": p.first_ip, "end": p.last_ip} for p in pools.get(r.id, [])],
            "host_routes": [{"destination": x.destination, "nexthop": x.nexthop} for x in routes.get(r.id, [])],
            "dns_nameservers": [d.address for d in sorted(dns.get(r.id, []), key=lambda d: d.order)],
        }
        for r in rows
    ]


async def _groups(conn: AsyncConnection, t: dict[str, Table], rows: Sequence[Any]) -> list[dict]:
    described = await _descriptions(conn, t, rows)
    defaults = await _children(conn, t.get("default_security_group"), "security_group_id", [r.id for r in rows])
    return [
        {**_std(r, described), "stateful": bool(getattr(r, "stateful", True)), "default": r.id in defaults}
        for r in rows
    ]


async def _rules(conn: AsyncConnection, t: dict[str, Table], rows: Sequence[Any]) -> list[dict]:
    described = await _descriptions(conn, t, rows)
    # the rule's own columns, under their API names: those the import compares
    fields = [f for f in SPECS["security_group_rules"].compared if f not in ("project_id", "description")]
    return [_unnamed(r, described, **{f: getattr(r, f) for f in fields}) for r in rows]


async def _addresses(conn: AsyncConnection, t: dict[str, Table], port_ids: Sequence[str]) -> dict[str, list[dict]]:
    held = await _children(conn, t["ipallocations"], "port_id", port_ids)
    return {pid: [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in rows] for pid, rows in held.items()}


async def _routers(conn: AsyncConnection, t: dict[str, Table], rows: Sequence[Any]) -> list[dict]:
    described = await _descriptions(conn, t, rows)
    gw_ids = [r.gw_port_id for r in rows if r.gw_port_id]
    gw_ports = await _children(conn, t["ports"], "id", gw_ids)
    addresses = await _addresses(conn, t, gw_ids)
    out = []
    for r in rows:
        gateway = None
        if r.gw_port_id and r.gw_port_id in gw_ports:
            gateway = {
                "network_id": gw_ports[r.gw_port_id][0].network_id,
                "enable_snat": bool(r.enable_snat),
                "external_fixed_ips": addresses.get(r.gw_port_id, []),
            }
        out.append({**_std(r, described), "admin_state_up": bool(r.admin_state_up), "external_gateway_info": gateway})
    return out


def _binding(rows: list[Any]) -> Any:
    """A port's binding row: the active one of a port being migrated."""
    active = [b for b in rows if getattr(b, "status", "ACTIVE") == "ACTIVE"]
    return (active or rows or [None])[0]


async def _ports(conn: AsyncConnection, t: dict[str, Table], rows: Sequence[Any]) -> list[dict]:
    ids = [r.id for r in rows]
    described = await _descriptions(conn, t, rows)
    addresses = await _addresses(conn, t, ids)
    bindings = await _children(conn, t.get("ml2_port_bindings"), "port_id", ids)
    groups = await _children(conn, t.get("securitygroupportbindings"), "port_id", ids)
    security = await _children(conn, t.get("portsecuritybindings"), "port_id", ids)
    pairs = await _children(conn, t.get("allowedaddresspairs"), "port_id", ids)
    out = []
    for r in rows:
        binding = _binding(bindings.get(r.id, []))
        secured = security.get(r.id)
        out.append(
            {
                **_std(r, described),
                "network_id": r.network_id,
                "mac_address": r.mac_address,
                "admin_state_up": bool(r.admin_state_up),
                "device_id": r.device_id or "",
                "device_owner": r.device_owner or "",
                "fixed_ips": addresses.get(r.id, []),
                "binding:host_id": binding.host if binding else "",
                "binding:vnic_type": binding.vnic_type if binding else "normal",
                "binding:profile": json.loads(binding.profile) if binding and binding.profile else {},
                "security_groups": [g.security_group_id for g in groups.get(r.id, [])],
                "port_security_enabled": bool(secured[0].port_security_enabled) if secured else True,
                "allowed_address_pairs": [
                    {"ip_address": p.ip_address, "mac_address": p.mac_address} for p in pairs.get(r.id, [])
                ],
            }
        )
    return out


async def _interfaces(conn: AsyncConnection, t: dict[str, Table], rows: Sequence[Any]) -> list[dict]:
    return [{"id": r.port_id, "router_id": r.router_id, "port_id": r.port_id} for r in rows]


async def _floatingips(conn: AsyncConnection, t: dict[str, Table], rows: Sequence[Any]) -> list[dict]:
    described = await _descriptions(conn, t, rows)
    return [
        _unnamed(
            r,
            described,
            floating_network_id=r.floating_network_id,
            floating_ip_address=r.floating_ip_address,
            port_id=r.fixed_port_id,
            fixed_ip_address=r.fixed_ip_address,
        )
        for r in rows
    ]


READERS = {
    "networks": _networks,
    "subnets": _subnets,
    "security_groups": _groups,
    "security_group_rules": _rules,
    "routers": _routers,
    "ports": _ports,
    "router_interfaces": _interfaces,
    "floatingips": _floatingips,
}
