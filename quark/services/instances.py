"""Quark instances extension: everything a compute service needs about one
device, in one request each way.

* ``provision``: all of a device's ports (MACs, fixed IPs, groups, binding)
  in one transaction — all or nothing.
* ``network_info``: the device's ports with their networks, subnets (with
  the DHCP server address), floating IPs and security groups, read in one
  read transaction with a fixed number of indexed queries (not one per port
  or per fixed IP as Nova's refresh makes against Neutron).
* ``teardown``: every port of the device, in one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select, false, true

from quark.context import Context
from quark.db import models
from quark.services.listing import ListQuery

p = models.ports
n = models.networks
s = models.subnets
a = models.ip_allocations
f = models.floatingips

DHCP_OWNER = "network:dhcp"
DEFAULT_OWNER = "compute:nova"


class InstanceService:
    def __init__(self, db, networks, subnets, ports, security_groups) -> None:
        self.db = db
        self.networks = networks
        self.subnets = subnets
        self.ports = ports
        self.security_groups = security_groups

    async def provision(self, ctx: Context, device_id: str, ports: list[dict], *, device_owner: str | None = None,
                        host: str | None = None, project_id: str | None = None) -> dict:
        items = []
        for attrs in ports:
            item = {**attrs, "device_id": device_id, "device_owner": device_owner or DEFAULT_OWNER}
            if host is not None:
                item.setdefault("binding:host_id", host)
            if project_id is not None:
                item.setdefault("project_id", project_id)
            items.append(item)

        async def work(conn) -> dict:
            created = [port["id"] for port in await self.ports.create_in(conn, ctx, items)]
            info = await self._network_info(conn, ctx, device_id)
            # The new ports in request order (the order the compute service
            # asked for its NICs), then any the device already had.
            rank = {port_id: i for i, port_id in enumerate(created)}
            info["ports"].sort(key=lambda port: rank.get(port["id"], len(rank)))
            return info

        return await self.ports.run_creating(items, work)

    async def teardown(self, ctx: Context, device_id: str) -> list[str]:
        return await self.ports.delete_matching(ctx, ListQuery(filters={"device_id": [device_id]}))

    async def network_info(self, ctx: Context, device_id: str) -> dict:
        async with self.db.read() as conn:
            return await self._network_info(conn, ctx, device_id)

    async def _network_info(self, conn, ctx: Context, device_id: str) -> dict:
        stmt = self.ports.matching(ctx, ListQuery(filters={"device_id": [device_id]})).order_by(p.c.created_at, p.c.id)
        port_rows = (await conn.execute(stmt)).all()
        ports = await self.ports.render(conn, ctx, port_rows, ListQuery())
        if not ports:
            return {"device_id": device_id, "ports": [], "security_groups": []}
        network_ids = sorted({port["network_id"] for port in ports})
        subnet_ids = sorted({ip["subnet_id"] for port in ports for ip in port["fixed_ips"]})
        port_ids = [port["id"] for port in ports]
        # Networks and subnets the device uses are shown even when the caller
        # could not list them (a shared or admin-made network), as for Nova.
        admin = Context.admin(ctx.project_id)
        # Nested views leave out tags (and what the networks already say), which
        # saves a query each; this response is on Nova's hot path. The
        # networks' subnet lists come from the one subnets query below.
        nested = ListQuery(skip=frozenset({"tags", "router:external", "subnets"}))
        network_rows = (await conn.execute(select(n).where(n.c.id.in_(network_ids)))).all()
        networks = {net["id"]: net for net in await self.networks.render(conn, admin, network_rows, nested)}
        subnet_rows = (await conn.execute(
            select(s).where(s.c.network_id.in_(network_ids)).order_by(s.c.created_at, s.c.id))).all()
        subnets = {sub["id"]: sub for sub in await self.subnets.render(conn, admin, subnet_rows, nested)}
        for sub in subnets.values():
            network = networks[sub["network_id"]]
            network["subnets"].append(sub["id"])
            sub["router:external"] = network["router:external"]
        for view in (*networks.values(), *subnets.values()):
            view.pop("tags", None)
        dhcp_servers: dict[str, list[str]] = defaultdict(list)
        if subnet_ids:
            dhcp = select(a.c.subnet_id, a.c.address).join(p, p.c.id == a.c.port_id).where(
                p.c.network_id.in_(network_ids), p.c.device_owner == DHCP_OWNER,
                a.c.subnet_id.in_(subnet_ids), a.c.deallocated == false()).order_by(a.c.address)
            for subnet_id, address in await conn.execute(dhcp):
                dhcp_servers[subnet_id].append(address)
        floating: dict[str, list[dict]] = defaultdict(list)
        for fip in await conn.execute(select(f).where(f.c.port_id.in_(port_ids)).order_by(f.c.created_at, f.c.id)):
            floating[fip.port_id].append({
                "id": fip.id, "floating_ip_address": fip.floating_ip_address,
                "fixed_ip_address": fip.fixed_ip_address, "floating_network_id": fip.floating_network_id,
                "status": fip.status,
            })
        group_ids = sorted({g for port in ports for g in port["security_groups"]})
        groups = []
        if group_ids:
            group_rows = (await conn.execute(select(models.security_groups).where(
                models.security_groups.c.id.in_(group_ids)).order_by(models.security_groups.c.id))).all()
            groups = await self.security_groups.render(conn, admin, group_rows, nested)
            for group in groups:
                group.pop("tags", None)
        for port in ports:
            port["network"] = networks.get(port["network_id"])
            seen = []
            for ip in port["fixed_ips"]:
                if ip["subnet_id"] not in seen:
                    seen.append(ip["subnet_id"])
            port["subnets"] = [
                {**subnets[sid], "dhcp_server": (dhcp_servers.get(sid) or [None])[0]} for sid in seen if sid in subnets
            ]
            port["floating_ips"] = floating.get(port["id"], [])
        return {"device_id": device_id, "ports": ports, "security_groups": groups}


