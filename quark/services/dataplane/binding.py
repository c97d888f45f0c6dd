"""Binding ports to the bridges of Quark's host agents (docs/agent_api.md).

``AgentBinder`` answers the port service (``quark.services.core.binding``):

- a live, admin-up ``"Quark L2 agent"`` on the host that can serve the
  network's segment → ``vif_type "bridge"`` with the device names the agent
  will create (``quark.names``), status ``BUILD`` (``DOWN`` if admin-down),
  ``port_filter`` true only when the agent reports it enforces security groups;
- otherwise ``"binding_failed"`` with no details.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import names
from quark.clock import Clock
from quark.config import Settings
from quark.db import models
from quark.services.core.binding import BINDING_FAILED, BindingResult, bound_status
from quark.services.dataplane import liveness

L2_AGENT = "Quark L2 agent"
BRIDGE = "bridge"


def can_serve(configurations: dict, network: Any) -> bool:
    """Whether an L2 agent with these ``configurations`` can realise the network's segment."""
    mappings = configurations.get("bridge_mappings") or {}
    if not isinstance(mappings, dict):
        return False
    if network.network_type == "flat":
        return bool(network.physical_network) and network.physical_network in mappings
    if network.network_type == "vlan":
        return (
            network.physical_network in mappings
            and configurations.get("vlan_supported") is True
            and network.segmentation_id is not None
        )
    if network.network_type == "vxlan":
        tunnel_types = configurations.get("tunnel_types") or []
        return "vxlan" in tunnel_types and bool(configurations.get("tunnel_ip")) and network.segmentation_id is not None
    return False


def vif_details(port_id: str, network_id: str, port_filter: bool = False) -> dict[str, Any]:
    """``port_filter``: the host's agent enforces security groups (it says so in its
    report's ``configurations``, ``quark.agent.firewall``)."""
    return {
        "bridge_name": names.bridge_name(network_id),
        "device_name": names.tap_name(port_id),
        "vm_device_name": names.vm_name(port_id),
        "connectivity": "l2",
        "port_filter": port_filter,
    }


class AgentBinder:
    """Binds to the host's L2 agent when it is alive, admin-up and able."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    async def bind(self, conn: AsyncConnection, port: Any, network: Any, host: str) -> BindingResult:
        ag = models.agents
        agent = (
            await conn.execute(
                select(ag.c.admin_state_up, ag.c.heartbeat_timestamp, ag.c.configurations).where(
                    ag.c.agent_type == L2_AGENT, ag.c.host == host
                )
            )
        ).first()
        if agent is None or not agent.admin_state_up:
            return BINDING_FAILED
        if not liveness.is_alive(agent.heartbeat_timestamp, self.settings, self.clock):
            return BINDING_FAILED
        if not can_serve(agent.configurations or {}, network):
            return BINDING_FAILED
        filtering = (agent.configurations or {}).get("port_filter") is True
        return BindingResult(BRIDGE, vif_details(port.id, network.id, filtering), bound_status(port.admin_state_up))
