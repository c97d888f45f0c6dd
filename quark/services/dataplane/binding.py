"""Port binding: what ``binding:host_id`` turns into.

``PortService`` calls the binder inside the transaction of the PUT (or POST)
that sets a host, and stores what it answers, so Nova sees the result in the
response of that same request (contract §4.6, docs/agent_api.md):

- a live, admin-up ``"Quark L2 agent"`` on the host that can serve the
  network's segment → ``vif_type "bridge"`` with the device names the agent
  will create (``quark.names``);
- otherwise ``"binding_failed"`` with no details.

Statuses: a port bound to a bridge is ``BUILD`` until its agent reports it
``ACTIVE`` (``DOWN`` while admin_state_up is false); unbound and failed ports
are ``DOWN``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import names
from quark.db import models

L2_AGENT = "Quark L2 agent"
BRIDGE = "bridge"


@dataclass(frozen=True)
class BindingResult:
    vif_type: str
    vif_details: dict[str, Any] = field(default_factory=dict)
    # New port status, or None to leave it as it is.
    status: str | None = None


UNBOUND = BindingResult("unbound", {}, "DOWN")
BINDING_FAILED = BindingResult("binding_failed", {}, "DOWN")


class Binder(Protocol):
    async def bind(self, conn: AsyncConnection, port: Any, network: Any, host: str) -> BindingResult:
        """Bind ``port`` (a ports row) on ``network`` (a networks row) to ``host``."""


class UnboundBinder:
    """Stores the host and leaves the port unbound (no host agents)."""

    async def bind(self, conn: AsyncConnection, port: Any, network: Any, host: str) -> BindingResult:
        return UNBOUND


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


def vif_details(port_id: str, network_id: str) -> dict[str, Any]:
    return {
        "bridge_name": names.bridge_name(network_id),
        "device_name": names.tap_name(port_id),
        "vm_device_name": names.vm_name(port_id),
        "connectivity": "l2",
        "port_filter": False,
    }


def bound_status(admin_state_up: bool) -> str:
    """Status of a port just bound to a bridge (before its agent reports)."""
    return "BUILD" if admin_state_up else "DOWN"


class AgentBinder:
    """Binds to the host's L2 agent when it is alive, admin-up and able."""

    def __init__(self, settings, clock) -> None:
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
        if agent.heartbeat_timestamp <= self.clock() - timedelta(seconds=self.settings.agent_down_time):
            return BINDING_FAILED
        if not can_serve(agent.configurations or {}, network):
            return BINDING_FAILED
        return BindingResult(BRIDGE, vif_details(port.id, network.id), bound_status(port.admin_state_up))
