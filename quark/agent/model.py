"""Desired and actual host state as plain immutable values.

``DesiredState`` is parsed from ``GET /v2.0/hosts/{host}/desired_state``
(dataplane contract); ``ActualState`` is what the netlink layer reads from the
kernel. ``quark.agent.plan`` compares the two and nothing else, so both stay
free of I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from quark import names

#: UDP port of the VXLAN devices (IANA).
VXLAN_PORT = 4789
#: The all-zero MAC of the "flood to this peer" FDB entries of a VXLAN device.
ZERO_MAC = "00:00:00:00:00:00"


@dataclass(frozen=True)
class FixedIp:
    subnet_id: str
    ip_address: str


@dataclass(frozen=True)
class DesiredPort:
    id: str
    network_id: str
    mac_address: str
    admin_state_up: bool = True
    status: str = "DOWN"
    device_owner: str = ""
    device_id: str = ""
    device_name: str = ""
    vm_device_name: str = ""
    bridge_name: str = ""
    mtu: int = 1500
    fixed_ips: tuple[FixedIp, ...] = ()

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> DesiredPort:
        pid, net = body["id"], body["network_id"]
        return cls(
            id=pid,
            network_id=net,
            mac_address=str(body.get("mac_address", "")).lower(),
            admin_state_up=bool(body.get("admin_state_up", True)),
            status=body.get("status") or "DOWN",
            device_owner=body.get("device_owner") or "",
            device_id=body.get("device_id") or "",
            device_name=body.get("device_name") or names.tap_name(pid),
            vm_device_name=body.get("vm_device_name") or names.vm_name(pid),
            bridge_name=body.get("bridge_name") or names.bridge_name(net),
            mtu=int(body.get("mtu") or 1500),
            fixed_ips=tuple(FixedIp(ip["subnet_id"], ip["ip_address"]) for ip in body.get("fixed_ips") or ()),
        )


@dataclass(frozen=True)
class DesiredNetwork:
    id: str
    network_type: str
    physical_network: str | None = None
    segmentation_id: int | None = None
    mtu: int = 1500
    bridge_name: str = ""
    peers: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> DesiredNetwork:
        seg = body.get("segmentation_id")
        return cls(
            id=body["id"],
            network_type=body.get("network_type") or "",
            physical_network=body.get("physical_network") or None,
            segmentation_id=int(seg) if seg is not None else None,
            mtu=int(body.get("mtu") or 1500),
            bridge_name=body.get("bridge_name") or names.bridge_name(body["id"]),
            peers=tuple(sorted(set(body.get("peers") or ()))),
        )


@dataclass(frozen=True)
class DesiredState:
    host: str
    generation: Any
    ports: tuple[DesiredPort, ...] = ()
    networks: tuple[DesiredNetwork, ...] = ()

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> DesiredState:
        return cls(
            host=body.get("host", ""),
            generation=body.get("generation"),
            ports=tuple(DesiredPort.from_api(p) for p in body.get("ports") or ()),
            networks=tuple(DesiredNetwork.from_api(n) for n in body.get("networks") or ()),
        )

    def network(self, network_id: str) -> DesiredNetwork | None:
        for net in self.networks:
            if net.id == network_id:
                return net
        return None


@dataclass(frozen=True)
class HostConfig:
    """What this host offers: the agent's own configuration."""

    bridge_mappings: dict[str, str] = field(default_factory=dict)
    tunnel_ip: str | None = None
    vlan_supported: bool = False
    vxlan_port: int = VXLAN_PORT


@dataclass(frozen=True)
class Link:
    """One network device as the kernel shows it (in the agent's namespace)."""

    name: str
    index: int
    kind: str | None = None  # "bridge", "veth", "vxlan", "vlan", "dummy", None for plain NICs
    master: int | None = None  # ifindex of the bridge it is enslaved to
    up: bool = False  # IFF_UP (administrative state)
    mac: str = ""
    mtu: int = 1500
    # veth: ifindex of the peer, and whether the peer lives in another namespace
    peer_index: int | None = None
    peer_elsewhere: bool = False
    vxlan_id: int | None = None
    vxlan_local: str | None = None
    vxlan_port: int | None = None
    vlan_id: int | None = None
    parent_index: int | None = None


@dataclass(frozen=True)
class ActualState:
    links: dict[str, Link] = field(default_factory=dict)
    # VXLAN device name -> destinations of its all-zero (flood) FDB entries
    flood_peers: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, links: list[Link], flood_peers: dict[str, frozenset[str]] | None = None) -> ActualState:
        return cls({link.name: link for link in links}, dict(flood_peers or {}))

    def by_index(self, index: int | None) -> Link | None:
        if index is None:
            return None
        for link in self.links.values():
            if link.index == index:
                return link
        return None
