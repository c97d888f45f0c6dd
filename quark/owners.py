"""``device_owner`` values with a meaning to Quark, and their groups.

A port's owner says who manages it: a compute service (``compute:<zone>``),
or a network service (``network:*``: DHCP, router interfaces, floating IPs).
Network-service ports are managed through their own APIs, get no default
security group, and some go away with their network.
"""

from __future__ import annotations

DHCP = "network:dhcp"
FLOATING_IP = "network:floatingip"
# What Quark's instances extension gives ports when the caller names no owner.
COMPUTE_DEFAULT = "compute:nova"
COMPUTE_PREFIX = "compute:"
NETWORK_PREFIX = "network:"

# What Quark's routers give their ports (the router API creates and deletes them).
ROUTER_INTERFACE_PORT = "network:router_interface"
ROUTER_GATEWAY = "network:router_gateway"
# Router ports: they may take a subnet's gateway address and get no EUI-64
# address on SLAAC subnets (the router advertises the prefix).
ROUTER = (
    "network:router_interface",
    "network:router_gateway",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
    "network:router_centralized_snat",
)
# Router interfaces are created and deleted through the router API only.
ROUTER_INTERFACE = (
    "network:router_interface",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
)
# Ports that go away with their network instead of keeping it in use.
AUTO_DELETE = ("network:dhcp", "network:distributed", "network:floatingip_agent_gateway")


def is_network_service(owner: str | None) -> bool:
    """A port of a network service (``network:*``), managed through that service."""
    return bool(owner) and str(owner).startswith(NETWORK_PREFIX)


def is_compute(owner: str | None) -> bool:
    return bool(owner) and str(owner).startswith(COMPUTE_PREFIX)
