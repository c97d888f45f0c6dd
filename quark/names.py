"""Device names shared by the server and the host agents (dataplane contract).

Pure functions: the server puts these names into ``binding:vif_details`` and the
desired/DHCP state documents; the agents create devices with exactly these names.
Linux limits interface names to 15 characters (IFNAMSIZ - 1); every name here fits.
"""

from __future__ import annotations

__all__ = ["bridge_name", "dhcp_namespace", "router_namespace", "tap_name", "vm_name", "vxlan_name"]

_ID_CHARS = 11


def bridge_name(network_id: str) -> str:
    """The Linux bridge of a network: ``"brq" + network_id[:11]`` (14 chars)."""
    return "brq" + str(network_id)[:_ID_CHARS]


def tap_name(port_id: str) -> str:
    """Host-side end of a port's veth pair (enslaved to the bridge): ``"tap" + port_id[:11]``."""
    return "tap" + str(port_id)[:_ID_CHARS]


def vm_name(port_id: str) -> str:
    """VM-side peer of the port's veth pair (carries the port MAC): ``"vm" + port_id[:11]``."""
    return "vm" + str(port_id)[:_ID_CHARS]


def vxlan_name(vni: int) -> str:
    """VXLAN device of a network: ``"vxlan-" + str(vni)`` (at most 14 chars for a 24-bit VNI)."""
    return "vxlan-" + str(int(vni))


def dhcp_namespace(network_id: str, prefix: str = "") -> str:
    """Network namespace of a network's DHCP server: ``prefix + "qdhcp-" + network_id``."""
    return f"{prefix}qdhcp-{network_id}"


def router_namespace(router_id: str, prefix: str = "") -> str:
    """Network namespace of a router on its L3 host: ``prefix + "qr-" + router_id``."""
    return f"{prefix}qr-{router_id}"
