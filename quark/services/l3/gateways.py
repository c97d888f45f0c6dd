"""A router's external gateway: its port on an external network (device_owner
``network:router_gateway``, no project, as Neutron's), created, replaced or
deleted inside the router's transaction, and the gateway's view."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import owners
from quark.context import Context
from quark.db import l3_models, models
from quark.services.core import network_rbac
from quark.services.core.ports.service import PortService
from quark.services.l3.router_errors import RouterBadRequest, RouterExternalGatewayInUseByFloatingIp

r = l3_models.routers
p = models.ports
n = models.networks
f = models.floatingips


def wanted_gateway(info: Any) -> dict | None:
    """The gateway a body asks for: None (no gateway) or a dict with a network_id."""
    if not info:
        return None
    if not isinstance(info, dict) or not info.get("network_id"):
        raise RouterBadRequest(msg="external_gateway_info requires a network_id")
    return info


class Gateways:
    def __init__(self, ports: PortService) -> None:
        self.ports = ports  # the gateway port is an internal port of the port service

    async def set(self, conn: AsyncConnection, ctx: Context, router: Any, info: dict | None) -> None:
        """Make the router's gateway ``info`` (None: no gateway). The router row is locked."""
        current = await self._port(conn, router)
        if info is None:
            if current is not None:
                await self._drop(conn, router, current)
            return
        network_id = info["network_id"]
        await self._external(conn, ctx, network_id)
        snat = info.get("enable_snat")
        changes: dict[str, Any] = {} if snat is None else {"enable_snat": bool(snat)}
        same_network = current is not None and current.network_id == network_id
        if not same_network or info.get("external_fixed_ips") is not None:
            if current is not None:
                # Another network breaks the floating IPs that go through this
                # gateway; new addresses on the same network do not.
                await self._drop(conn, router, current, check_floating_ips=not same_network)
            changes["gw_port_id"] = await self._create_port(conn, router.id, network_id, info.get("external_fixed_ips"))
            if snat is None and current is None:
                changes["enable_snat"] = True
        if changes:
            await conn.execute(update(r).where(r.c.id == router.id).values(**changes))

    async def _port(self, conn: AsyncConnection, router: Any) -> Any:
        if router.gw_port_id is None:
            return None
        return (await conn.execute(select(p).where(p.c.id == router.gw_port_id).with_for_update())).first()

    @staticmethod
    async def _external(conn: AsyncConnection, ctx: Context, network_id: str) -> None:
        network = await network_rbac.lookup(conn, ctx, network_id)  # 404 unless a policy opens it
        if not network.router_external:
            raise RouterBadRequest(msg=f"Network {network_id} is not an external network")

    async def _create_port(self, conn: AsyncConnection, router_id: str, network_id: str, fixed_ips: Any) -> str:
        attrs: dict[str, Any] = {
            "network_id": network_id,
            "device_owner": owners.ROUTER_GATEWAY,
            "device_id": router_id,
            "project_id": "",
            "admin_state_up": True,
            "security_groups": [],
        }
        if fixed_ips:
            attrs["fixed_ips"] = [
                {k: entry[k] for k in ("subnet_id", "ip_address") if entry.get(k)} for entry in fixed_ips
            ]
        internal = Context.admin(project_id="")
        return (await self.ports.create_ports_in(conn, internal, [attrs], internal=True))[0]["id"]

    async def _drop(self, conn: AsyncConnection, router: Any, port: Any, *, check_floating_ips: bool = True) -> None:
        if check_floating_ips:
            used = await conn.scalar(select(f.c.id).where(f.c.router_id == router.id).limit(1))
            if used is not None:
                raise RouterExternalGatewayInUseByFloatingIp(router_id=router.id, net_id=port.network_id)
        await conn.execute(update(r).where(r.c.id == router.id).values(gw_port_id=None))
        await self.ports.delete_in(conn, port)

    async def drop(self, conn: AsyncConnection, router: Any) -> None:
        """Delete the gateway of a router being deleted."""
        port = await self._port(conn, router)
        if port is not None:
            await self._drop(conn, router, port)


def gateway_view(router: Any, port_network: dict[str, str], addresses: list[Any]) -> dict | None:
    """``external_gateway_info`` of a router, given its gateway port's network
    and addresses (rows with subnet_id and address)."""
    if router.gw_port_id is None:
        return None
    return {
        "network_id": port_network.get(router.gw_port_id),
        "enable_snat": router.enable_snat,
        "external_fixed_ips": [{"subnet_id": row.subnet_id, "ip_address": row.address} for row in addresses],
    }
