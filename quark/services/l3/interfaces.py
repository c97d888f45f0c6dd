"""A router's interfaces (``add_router_interface`` / ``remove_router_interface``):
a port of the router on a subnet, at the subnet's gateway address (by
``subnet_id``) or an existing free port (by ``port_id``), with Neutron's
checks and answer.

Two routers attaching one subnet at once both ask the IPAM for its gateway
address: the allocation's uniqueness lets exactly one win (409
``IpAddressAlreadyAllocated``, as Neutron answers).
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, owners
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.db.engine import Database
from quark.ipam import holders
from quark.services.core import network_rbac
from quark.services.core.ports.service import PortService
from quark.services.events import Events, RoutersChanged
from quark.services.l3 import extra_routes, router_ports
from quark.services.l3.router_errors import (
    RouterBadRequest,
    RouterInterfaceInUseByFloatingIP,
    RouterInterfaceInUseByRoute,
    RouterInterfaceNotFound,
    RouterInterfaceNotFoundForSubnet,
)
from quark.services.l3.router_ports import Interface


class RouterRows(Protocol):
    """What interfaces need of the router service (its rows, their locks and revisions)."""

    db: Database
    events: Events

    async def writable_row(
        self, conn: AsyncConnection, ctx: Context, resource_id: str, if_match: int | None = None
    ) -> Any: ...
    async def bump_revision(self, conn: AsyncConnection, resource_id: str, **changes: Any) -> Any: ...
    async def written(self, conn: AsyncConnection, ctx: Context, row: Any, operation: str) -> None: ...


p = models.ports
s = models.subnets
f = models.floatingips


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def _interface_request(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        raise RouterBadRequest(msg="the body must be an object with subnet_id or port_id")
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    for value in (subnet_id, port_id):
        if value is not None and not _is_uuid(value):
            raise errors.InvalidInput(error_message=f"'{value}' is not a valid UUID")
    if not subnet_id and not port_id:
        raise RouterBadRequest(msg="Either subnet_id or port_id must be specified")
    return subnet_id, port_id


def _answer(router: Any, port_id: str, network_id: str, subnet_ids: list[str]) -> dict:
    """Neutron's body of an interface change."""
    return {
        "id": router.id,
        "tenant_id": router.project_id,
        "project_id": router.project_id,
        "port_id": port_id,
        "subnet_id": subnet_ids[0] if subnet_ids else None,
        "subnet_ids": subnet_ids,
        "network_id": network_id,
    }


class Interfaces:
    def __init__(self, routers: RouterRows, ports: PortService) -> None:
        self.routers = routers
        self.ports = ports

    async def add(self, ctx: Context, router_id: str, body: Any) -> dict:
        subnet_id, port_id = _interface_request(body)
        if subnet_id and port_id:
            raise RouterBadRequest(msg="Cannot specify both subnet-id and port-id")

        async def work(conn: AsyncConnection) -> dict:
            router = await self.routers.writable_row(conn, ctx, router_id)
            attached = await router_ports.interfaces(conn, router_id)
            if port_id:
                answer = await self._attach_port(conn, ctx, router, port_id, attached)
            else:
                assert subnet_id is not None
                answer = await self._attach_subnet(conn, ctx, router, subnet_id, attached)
            await self.routers.bump_revision(conn, router_id)
            await self.routers.written(conn, ctx, router, "update")
            await self.routers.events.publish(conn, RoutersChanged((router_id,)))
            return answer

        return await self.ports.run_creating([{}] if subnet_id else [], work)

    @staticmethod
    def _check_new_subnet(router: Any, subnet: Any, attached: list[Interface]) -> None:
        if any(i.subnet_id == subnet.id for i in attached):
            raise RouterBadRequest(msg=f"Router already has a port on subnet {subnet.id}")
        other = router_ports.overlapping(subnet.cidr, attached)
        if other is not None:
            raise RouterBadRequest(
                msg=f"Cidr {subnet.cidr} of subnet {subnet.id} overlaps with cidr {other.cidr} of subnet {other.subnet_id}"
            )

    async def _attach_subnet(
        self, conn: AsyncConnection, ctx: Context, router: Any, subnet_id: str, attached: list[Interface]
    ) -> dict:
        subnet = await self.routers_subnet(conn, ctx, subnet_id)
        if not subnet.gateway_ip:
            raise RouterBadRequest(msg="Subnet for router interface must have a gateway IP")
        self._check_new_subnet(router, subnet, attached)
        attrs = {
            "network_id": subnet.network_id,
            "device_owner": owners.ROUTER_INTERFACE_PORT,
            "device_id": router.id,
            "project_id": router.project_id,
            "admin_state_up": True,
            "security_groups": [],
            "fixed_ips": [{"subnet_id": subnet.id, "ip_address": subnet.gateway_ip}],
        }
        internal = Context.admin(project_id=router.project_id)
        port = (await self.ports.create_ports_in(conn, internal, [attrs], internal=True))[0]
        return _answer(router, port["id"], subnet.network_id, [subnet.id])

    async def routers_subnet(self, conn: AsyncConnection, ctx: Context, subnet_id: str) -> Any:
        """A subnet the caller can see (404 otherwise)."""
        stmt = select(s).where(s.c.id == subnet_id)
        row = (await conn.execute(stmt)).first()
        if row is None or not (ctx.is_admin or await self._subnet_visible(conn, ctx, row)):
            raise errors.SubnetNotFound(subnet_id=subnet_id)
        return row

    @staticmethod
    async def _subnet_visible(conn: AsyncConnection, ctx: Context, subnet: Any) -> bool:
        if subnet.project_id == ctx.project_id:
            return True
        shared = network_rbac.shared_to(ctx.project_id, models.networks.c.id)
        stmt = select(models.networks.c.id).where(models.networks.c.id == subnet.network_id, shared)
        return (await conn.execute(stmt)).first() is not None

    async def _attach_port(
        self, conn: AsyncConnection, ctx: Context, router: Any, port_id: str, attached: list[Interface]
    ) -> dict:
        port = await self.ports.get_row(conn, ctx, port_id, for_update=True)
        # A free port, or one made as a router interface not yet attached (an import's).
        if port.device_id or (port.device_owner and port.device_owner not in owners.ROUTER_INTERFACE):
            raise errors.PortInUse(port_id=port_id, net_id=port.network_id, device_id=port.device_id)
        held = await holders.held_by_ports(conn, [port_id])
        if not held:
            raise RouterBadRequest(msg="Router port must have at least one fixed IP")
        subnet_ids = list(dict.fromkeys(row.subnet_id for row in held))
        for subnet_id in subnet_ids:
            subnet = (await conn.execute(select(s).where(s.c.id == subnet_id))).one()
            self._check_new_subnet(router, subnet, attached)
        await conn.execute(
            update(p)
            .where(p.c.id == port_id)
            .values(
                device_id=router.id,
                device_owner=port.device_owner or owners.ROUTER_INTERFACE_PORT,
                updated_at=utcnow(),
                revision_number=p.c.revision_number + 1,
            )
        )
        return _answer(router, port_id, port.network_id, subnet_ids)

    async def remove(self, ctx: Context, router_id: str, body: Any) -> dict:
        subnet_id, port_id = _interface_request(body)

        async def work(conn: AsyncConnection) -> dict:
            router = await self.routers.writable_row(conn, ctx, router_id)
            attached = await router_ports.interfaces(conn, router_id)
            if port_id:
                mine = [i for i in attached if i.port_id == port_id]
                if not mine or (subnet_id and not any(i.subnet_id == subnet_id for i in mine)):
                    raise RouterInterfaceNotFound(router_id=router_id, port_id=port_id)
            else:
                on_subnet = [i for i in attached if i.subnet_id == subnet_id]
                if not on_subnet:
                    raise RouterInterfaceNotFoundForSubnet(router_id=router_id, subnet_id=subnet_id)
                mine = [i for i in attached if i.port_id == on_subnet[0].port_id]
            await self._check_unused(conn, router_id, mine, [i for i in attached if i.port_id != mine[0].port_id])
            port = (await conn.execute(select(p).where(p.c.id == mine[0].port_id).with_for_update())).one()
            await self.ports.delete_in(conn, port, ctx=ctx)
            await self.routers.bump_revision(conn, router_id)
            await self.routers.written(conn, ctx, router, "update")
            await self.routers.events.publish(conn, RoutersChanged((router_id,)))
            return _answer(router, port.id, port.network_id, [i.subnet_id for i in mine])

        return await self.routers.db.run_write(work)

    @staticmethod
    async def _check_unused(
        conn: AsyncConnection, router_id: str, leaving: list[Interface], staying: list[Interface]
    ) -> None:
        """Neither a floating IP nor an extra route may need the subnets that go."""
        fixed = (await conn.execute(select(f.c.fixed_ip_address).where(f.c.router_id == router_id))).scalars().all()
        routes = await extra_routes.load(conn, router_id)
        for interface in leaving:
            network = ipaddress.ip_network(interface.cidr, strict=False)
            if any(address and ipaddress.ip_address(address) in network for address in fixed):
                raise RouterInterfaceInUseByFloatingIP(router_id=router_id, subnet_id=interface.subnet_id)
            needed = extra_routes.routes_through(routes, interface.cidr)
            if needed and not all(
                any(ipaddress.ip_address(hop) in ipaddress.ip_network(i.cidr, strict=False) for i in staying)
                for _, hop in needed
            ):
                raise RouterInterfaceInUseByRoute(router_id=router_id, subnet_id=interface.subnet_id)
