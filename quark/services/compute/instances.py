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

from sqlalchemy import BindParameter, bindparam, false, literal, select

from quark import owners
from quark.context import Context
from quark.db import models
from quark.db.lookups import IDS, Lookup, fetch
from quark.services.common.idempotency import answered
from quark.services.common.listing import ListQuery
from quark.services.core.ports.service import PortService
from quark.services.security.rules import rules_of_groups

p = models.ports
n = models.networks
s = models.subnets
a = models.ip_allocations
f = models.floatingips
sg = models.security_groups
psg = models.port_security_groups


# Everything the network info shows besides the ports and what a port view
# has (addresses, groups, tags), keyed by the device's port ids (``ids``)
# and network ids (``network_ids``). With the port view's own lookups this
# is one statement (quark.db.lookups): a call makes two, the ports and this.
NETWORK_IDS: BindParameter[list[str]] = bindparam("network_ids", expanding=True)
DEVICE_GROUPS = select(psg.c.security_group_id).where(psg.c.port_id.in_(IDS))
INFO_LOOKUPS = (
    Lookup("info.networks", select(n).where(n.c.id.in_(NETWORK_IDS))),
    Lookup("info.subnets", select(s).where(s.c.network_id.in_(NETWORK_IDS)), order=("created_at", "id")),
    # DHCP server addresses: those of the networks' DHCP ports, lowest first.
    # The owner is written into the SQL, not bound: PostgreSQL then plans
    # this statement once per connection (a generic plan costed with the
    # real selectivity of 'network:dhcp'), where a bound owner's generic
    # plan costs more than a custom one and every call is planned afresh
    # (measured: ~2.5 ms of planning per call with current statistics).
    Lookup(
        "info.dhcp",
        select(a.c.subnet_id, a.c.address)
        .select_from(a.join(p, p.c.id == a.c.port_id))
        .where(
            p.c.network_id.in_(NETWORK_IDS),
            p.c.device_owner == literal(owners.DHCP, literal_execute=True),
            a.c.deallocated == false(),
        ),
        order=("address",),
    ),
    Lookup("info.floatingips", select(f).where(f.c.port_id.in_(IDS)), order=("created_at", "id")),
    Lookup("info.groups", select(sg).where(sg.c.id.in_(DEVICE_GROUPS)), order=("id",)),
    rules_of_groups(DEVICE_GROUPS),
)
# The device's ports, in creation order (the order of its NICs): as any
# caller sees them (admin) or as a project does.
DEVICE_PORTS = select(p).where(p.c.device_id == bindparam("device_id")).order_by(p.c.created_at, p.c.id)
PROJECT_DEVICE_PORTS = DEVICE_PORTS.where(PortService.visible_to(bindparam("project_id")))
# Nested views leave out tags and what the enclosing view already says (their
# assemble gets this call's lookups: the networks' "network.subnets" are not
# among them, the subnet lists are filled from info.subnets below).
NESTED = ListQuery(skip=frozenset({"tags", "router:external", "subnets"}))


class InstanceService:
    def __init__(self, db, networks, subnets, ports, security_groups) -> None:
        self.db = db
        self.networks = networks
        self.subnets = subnets
        self.ports = ports
        self.security_groups = security_groups

    async def provision(
        self,
        ctx: Context,
        device_id: str,
        ports: list[dict],
        *,
        device_owner: str | None = None,
        host: str | None = None,
        project_id: str | None = None,
    ) -> dict:
        items = []
        for attrs in ports:
            item = {**attrs, "device_id": device_id, "device_owner": device_owner or owners.COMPUTE_DEFAULT}
            if host is not None:
                item.setdefault("binding:host_id", host)
            if project_id is not None:
                item.setdefault("project_id", project_id)
            items.append(item)

        async def work(conn) -> dict:
            created = [port["id"] for port in await self.ports.create_ports_in(conn, ctx, items)]
            info = await self._network_info(conn, ctx, device_id)
            # The new ports in request order (the order the compute service
            # asked for its NICs), then any the device already had.
            rank = {port_id: i for i, port_id in enumerate(created)}
            info["ports"].sort(key=lambda port: rank.get(port["id"], len(rank)))
            return info

        return await self.ports.run_creating(items, answered(ctx, work))

    async def teardown(self, ctx: Context, device_id: str) -> list[str]:
        return await self.ports.delete_matching(ctx, ListQuery(filters={"device_id": [device_id]}))

    async def network_info(self, ctx: Context, device_id: str) -> dict:
        async with self.db.read() as conn:
            return await self._network_info(conn, ctx, device_id)

    def _networks_and_subnets(self, found: dict) -> tuple[dict[str, dict], dict[str, dict]]:
        """The device's networks and subnets by id, each subnet listed on its network."""
        networks = {net["id"]: net for net in self.networks.assemble(found["info.networks"], found, NESTED)}
        subnets = {sub["id"]: sub for sub in self.subnets.assemble(found["info.subnets"], found, NESTED)}
        for view in (*networks.values(), *subnets.values()):
            view.pop("tags")
        for sub in subnets.values():
            network = networks[sub["network_id"]]
            network["subnets"].append(sub["id"])
            sub["router:external"] = network["router:external"]
        return networks, subnets

    async def _network_info(self, conn, ctx: Context, device_id: str) -> dict:
        stmt = DEVICE_PORTS if ctx.is_admin else PROJECT_DEVICE_PORTS
        port_rows = (await conn.execute(stmt, {"device_id": device_id, "project_id": ctx.project_id})).all()
        if not port_rows:
            return {"device_id": device_id, "ports": [], "security_groups": []}
        full = ListQuery()
        # Networks, subnets and groups the device uses are shown even when the
        # caller could not list them (a shared or admin-made network), as for Nova.
        found = await fetch(
            conn,
            [*self.ports.lookups(full), *INFO_LOOKUPS],
            {"ids": [r.id for r in port_rows], "network_ids": sorted({r.network_id for r in port_rows})},
        )
        ports = self.ports.assemble(port_rows, found, full)
        networks, subnets = self._networks_and_subnets(found)
        # Another project's port on the caller's network is shown (as Neutron shows
        # it to the network's owner), but not what only its project may see: the
        # groups only it uses and its floating IPs.
        own = {r.id for r in port_rows if ctx.is_admin or r.project_id == ctx.project_id}
        used = {group for port in ports if port["id"] in own for group in port["security_groups"]}
        groups = [g for g in self.security_groups.assemble(found["info.groups"], found, NESTED) if g["id"] in used]
        for group in groups:
            group.pop("tags")
        _decorate(ports, networks, subnets, found, own)
        return {"device_id": device_id, "ports": ports, "security_groups": groups}


def _floating_ips(rows) -> dict[str, list[dict]]:
    """The floating IPs of each port, as network info shows them."""
    floating: dict[str, list[dict]] = defaultdict(list)
    for fip in rows:
        floating[fip.port_id].append(
            {
                "id": fip.id,
                "floating_ip_address": fip.floating_ip_address,
                "fixed_ip_address": fip.fixed_ip_address,
                "floating_network_id": fip.floating_network_id,
                "status": fip.status,
            }
        )
    return floating


def _decorate(ports: list[dict], networks: dict, subnets: dict, found: dict, own: set[str]) -> None:
    """Each port gains its network, its subnets (with their DHCP server) and its floating IPs."""
    dhcp_servers: dict[str, str] = {}
    for row in found["info.dhcp"]:
        dhcp_servers.setdefault(row.subnet_id, row.address)
    floating = _floating_ips(row for row in found["info.floatingips"] if row.port_id in own)
    for port in ports:
        port["network"] = networks.get(port["network_id"])
        seen = list(dict.fromkeys(ip["subnet_id"] for ip in port["fixed_ips"]))
        port["subnets"] = [{**subnets[sid], "dhcp_server": dhcp_servers.get(sid)} for sid in seen if sid in subnets]
        port["floating_ips"] = floating.get(port["id"], [])
