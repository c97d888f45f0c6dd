"""Pure convergence planning: ``converge(desired, actual, host) -> Plan``.

Nothing here touches the kernel. The plan is a list of small actions that,
applied in order by ``quark.agent.netlink``, turn the actual state into the
desired one; an action on a device that already looks right is never planned,
so converging an already converged host plans nothing.

What a host realises (dataplane contract):

- one Linux bridge per network (``brq…``), up, STP off, forward delay 0;
- its uplink: flat → the physical interface of ``bridge_mappings[physnet]``
  enslaved as it is; vlan → an 8021q device on that interface (only where the
  kernel has 8021q); vxlan → ``vxlan-<vni>`` with local = tunnel ip, UDP 4789,
  learning on, and an all-zero FDB entry towards every peer's tunnel ip;
- one veth pair per port: ``tap…`` in the bridge, its peer ``vm…`` carrying
  the port's MAC, both with the network's MTU, down when the port is
  ``admin_state_up=false``. The ``vm…`` end may be moved to another namespace
  (a VM, a DHCP namespace); it is then out of the agent's sight and left alone.

Devices the agent owns are recognised by name *and* kind (``owned``), so
unrelated devices such as ``vmbr0`` are never touched. Stale owned devices are
removed only when ``cleanup`` is true: the agent turns it on after its first
full pass, so that after a restart everything is recreated from the API
before anything is removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from quark import names
from quark.agent.model import ActualState, DesiredNetwork, DesiredPort, DesiredState, HostConfig, Link

ACTIVE, DOWN, ERROR = "ACTIVE", "DOWN", "ERROR"

# --- actions -----------------------------------------------------------------


@dataclass(frozen=True)
class AddBridge:
    name: str
    mtu: int


@dataclass(frozen=True)
class AddVxlan:
    name: str
    vni: int
    local: str
    port: int
    mtu: int


@dataclass(frozen=True)
class AddVlan:
    name: str
    parent: str
    vlan_id: int
    mtu: int


@dataclass(frozen=True)
class AddVeth:
    name: str
    peer: str
    mac: str
    mtu: int


@dataclass(frozen=True)
class SetLink:
    """Change what differs; ``None`` fields are left alone."""

    name: str
    master: str | None = None
    up: bool | None = None
    mtu: int | None = None
    mac: str | None = None


@dataclass(frozen=True)
class AddFlood:
    """``bridge fdb append 00:00:00:00:00:00 dev <device> dst <dst>``"""

    device: str
    dst: str


@dataclass(frozen=True)
class DelFlood:
    device: str
    dst: str


@dataclass(frozen=True)
class DelLink:
    name: str
    reason: str = ""


Action = AddBridge | AddVxlan | AddVlan | AddVeth | SetLink | AddFlood | DelFlood | DelLink


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)
    # network id -> why it cannot be realised on this host (its ports are ERROR)
    errors: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.actions)


# --- names the agent owns ----------------------------------------------------

_OWNED = (
    # prefix, name length, kinds
    ("brq", len(names.bridge_name("x" * 36)), {"bridge"}),
    ("tap", len(names.tap_name("x" * 36)), {"veth", "tun"}),
    ("vm", len(names.vm_name("x" * 36)), {"veth"}),
)


def owned(link: Link) -> bool:
    """True for devices this agent created (by name pattern and kind)."""
    for prefix, length, kinds in _OWNED:
        if link.name.startswith(prefix) and len(link.name) == length and link.kind in kinds:
            return True
    if link.name.startswith("vxlan-") and link.name[6:].isdigit() and link.kind == "vxlan":
        return True
    return False


def vlan_device_name(interface: str, vlan_id: int) -> str:
    """``eth1.100``, shortened on the interface side to fit IFNAMSIZ."""
    suffix = f".{vlan_id}"
    return interface[: 15 - len(suffix)] + suffix


# --- planning ----------------------------------------------------------------


def network_error(net: DesiredNetwork, host: HostConfig, actual: ActualState) -> str | None:
    """Why ``net`` cannot be realised on this host, or None."""
    if net.network_type in ("flat", "vlan"):
        iface = host.bridge_mappings.get(net.physical_network or "")
        if not iface:
            return f"no bridge mapping for physical network {net.physical_network!r} on this host"
        if iface not in actual.links:
            return f"interface {iface!r} of physical network {net.physical_network!r} does not exist"
        if net.network_type == "vlan":
            if not host.vlan_supported:
                return "VLAN segments need the kernel's 8021q support, which this host does not have"
            if net.segmentation_id is None:
                return "vlan network without a segmentation id"
        return None
    if net.network_type == "vxlan":
        if not host.tunnel_ip:
            return "VXLAN network but this agent has no tunnel_ip"
        if net.segmentation_id is None:
            return "vxlan network without a segmentation id (VNI)"
        return None
    return f"network type {net.network_type!r} is not supported by the Quark L2 agent"


def _ensure(
    actions: list[Action], link: Link | None, *, master: str | None, master_index: int | None, up: bool, mtu: int | None
) -> None:
    """Plan SetLink for an existing device with only what differs."""
    assert link is not None
    # master_index None: the bridge is created by this very plan
    change_master = master if master is not None and (master_index is None or link.master != master_index) else None
    change_up = up if link.up != up else None
    change_mtu = mtu if mtu is not None and link.mtu != mtu else None
    if change_master is not None or change_up is not None or change_mtu is not None:
        actions.append(SetLink(link.name, master=change_master, up=change_up, mtu=change_mtu))


def _plan_bridge(actions: list[Action], net: DesiredNetwork, actual: ActualState, wanted: set[str]) -> int | None:
    """Plan the network's bridge; its ifindex, or None when this plan creates it."""
    bridge = actual.links.get(net.bridge_name)
    wanted.add(net.bridge_name)
    if bridge is not None and bridge.kind != "bridge":
        actions.append(DelLink(bridge.name, "not a bridge"))
        bridge = None
    if bridge is None:
        actions.append(AddBridge(net.bridge_name, net.mtu))
        actions.append(SetLink(net.bridge_name, up=True))
        return None
    _ensure(actions, bridge, master=None, master_index=None, up=True, mtu=None)
    return bridge.index


def _plan_flat_uplink(
    actions: list[Action], net: DesiredNetwork, host: HostConfig, actual: ActualState, bridge_index: int | None
) -> None:
    """The physical interface itself is enslaved as it is: its MTU is left alone."""
    iface = actual.links[host.bridge_mappings[net.physical_network or ""]]
    _ensure(actions, iface, master=net.bridge_name, master_index=bridge_index, up=True, mtu=None)


def _plan_vlan_uplink(
    actions: list[Action],
    net: DesiredNetwork,
    host: HostConfig,
    actual: ActualState,
    wanted: set[str],
    bridge_index: int | None,
) -> None:
    """An 8021q device on the physical interface; one with another VLAN id or parent is replaced."""
    parent = host.bridge_mappings[net.physical_network or ""]
    name = vlan_device_name(parent, net.segmentation_id or 0)
    wanted.add(name)
    link = actual.links.get(name)
    parent_index = actual.links[parent].index
    if link is not None and (
        link.kind != "vlan" or link.vlan_id != net.segmentation_id or link.parent_index != parent_index
    ):
        actions.append(DelLink(name, "wrong vlan device"))
        link = None
    if link is None:
        actions.append(AddVlan(name, parent, net.segmentation_id or 0, net.mtu))
        actions.append(SetLink(name, master=net.bridge_name, up=True))
    else:
        _ensure(actions, link, master=net.bridge_name, master_index=bridge_index, up=True, mtu=net.mtu)


def _vxlan_matches(link: Link, vni: int, host: HostConfig) -> bool:
    """True when an existing device is the VXLAN device this host wants for ``vni``."""
    return (
        link.kind == "vxlan"
        and link.vxlan_id == vni
        and link.vxlan_local == host.tunnel_ip
        and link.vxlan_port == host.vxlan_port
    )


def _plan_vxlan_uplink(
    actions: list[Action],
    net: DesiredNetwork,
    host: HostConfig,
    actual: ActualState,
    wanted: set[str],
    bridge_index: int | None,
) -> None:
    """``vxlan-<vni>`` (replaced when its parameters differ) and its flood entries."""
    vni = net.segmentation_id or 0
    name = names.vxlan_name(vni)
    wanted.add(name)
    link = actual.links.get(name)
    if link is not None and not _vxlan_matches(link, vni, host):
        actions.append(DelLink(name, "VXLAN device with other parameters"))
        link = None
    if link is None:
        actions.append(AddVxlan(name, vni, host.tunnel_ip or "", host.vxlan_port, net.mtu))
        actions.append(SetLink(name, master=net.bridge_name, up=True))
        have: frozenset[str] = frozenset()
    else:
        _ensure(actions, link, master=net.bridge_name, master_index=bridge_index, up=True, mtu=net.mtu)
        have = actual.flood_peers.get(name, frozenset())
    _plan_flood(actions, name, net, host, have)


def _plan_flood(
    actions: list[Action], device: str, net: DesiredNetwork, host: HostConfig, have: frozenset[str]
) -> None:
    """One all-zero FDB entry per peer's tunnel ip (never towards this host itself)."""
    want = {p for p in net.peers if p and p != host.tunnel_ip}
    for dst in sorted(want - have):
        actions.append(AddFlood(device, dst))
    for dst in sorted(have - want):
        actions.append(DelFlood(device, dst))


def _plan_network(
    actions: list[Action], net: DesiredNetwork, host: HostConfig, actual: ActualState, wanted: set[str]
) -> None:
    """The bridge of a realisable network and the uplink its network type calls for."""
    bridge_index = _plan_bridge(actions, net, actual, wanted)
    if net.network_type == "flat":
        _plan_flat_uplink(actions, net, host, actual, bridge_index)
    elif net.network_type == "vlan":
        _plan_vlan_uplink(actions, net, host, actual, wanted, bridge_index)
    elif net.network_type == "vxlan":
        _plan_vxlan_uplink(actions, net, host, actual, wanted, bridge_index)


def _plan_port(
    actions: list[Action], port: DesiredPort, net: DesiredNetwork, actual: ActualState, wanted: set[str]
) -> None:
    wanted.update((port.device_name, port.vm_device_name))
    tap = actual.links.get(port.device_name)
    if tap is not None and tap.kind != "veth":
        actions.append(DelLink(tap.name, "not a veth"))
        tap = None
    if tap is None:
        actions.append(AddVeth(port.device_name, port.vm_device_name, port.mac_address, net.mtu))
        actions.append(SetLink(port.device_name, master=net.bridge_name, up=port.admin_state_up))
        actions.append(SetLink(port.vm_device_name, up=port.admin_state_up))
        return
    bridge = actual.links.get(net.bridge_name)
    _ensure(
        actions,
        tap,
        master=net.bridge_name,
        master_index=bridge.index if bridge else None,
        up=port.admin_state_up,
        mtu=net.mtu,
    )
    _plan_vm_end(actions, port, net, tap, actual.links.get(port.vm_device_name))


def _plan_vm_end(actions: list[Action], port: DesiredPort, net: DesiredNetwork, tap: Link, vm: Link | None) -> None:
    """MAC, MTU and state of the ``vm…`` peer of an existing tap, while it is still in this namespace."""
    if vm is None or tap.peer_elsewhere or vm.index != tap.peer_index:
        return  # the VM end lives in another namespace now: not ours to touch
    change_mac = port.mac_address if port.mac_address and vm.mac.lower() != port.mac_address else None
    if change_mac or vm.up != port.admin_state_up or vm.mtu != net.mtu:
        actions.append(
            SetLink(
                vm.name,
                up=port.admin_state_up if vm.up != port.admin_state_up else None,
                mtu=net.mtu if vm.mtu != net.mtu else None,
                mac=change_mac,
            )
        )


def _keep_unrealisable(net: DesiredNetwork, wanted: set[str]) -> None:
    """A network that cannot be realised here keeps whatever exists of it; nothing is created."""
    wanted.add(net.bridge_name)
    if net.network_type == "vxlan" and net.segmentation_id is not None:
        wanted.add(names.vxlan_name(net.segmentation_id))


def _plan_networks(plan: Plan, desired: DesiredState, host: HostConfig, actual: ActualState, wanted: set[str]) -> None:
    for net in desired.networks:
        error = network_error(net, host, actual)
        if error:
            plan.errors[net.id] = error
            _keep_unrealisable(net, wanted)
            continue
        _plan_network(plan.actions, net, host, actual, wanted)


def _plan_ports(plan: Plan, desired: DesiredState, actual: ActualState, wanted: set[str]) -> None:
    """Ports of an unrealisable network keep their devices; a port whose network
    is missing from the desired state marks that network id in error."""
    nets = {n.id: n for n in desired.networks}
    for port in desired.ports:
        net = nets.get(port.network_id)
        if net is None:
            plan.errors.setdefault(port.network_id, "network of the port missing from the desired state")
            continue
        if net.id in plan.errors:
            wanted.update((port.device_name, port.vm_device_name))
            continue
        _plan_port(plan.actions, port, net, actual, wanted)


# Deletion order of stale devices by name prefix: taps first (their vm peers go
# with them), then VM ends, uplinks, bridges; anything else last.
_STALE_ORDER = {"tap": 0, "vm": 1, "vxlan-": 2, "brq": 3}


def _stale_deletions(actual: ActualState, wanted: set[str]) -> list[DelLink]:
    """DelLink for every owned device that nothing desired accounts for."""
    stale = [link for link in actual.links.values() if owned(link) and link.name not in wanted]
    stale.sort(key=lambda link: next((v for k, v in _STALE_ORDER.items() if link.name.startswith(k)), 9))
    return [DelLink(link.name, "stale") for link in stale]


def converge(desired: DesiredState, actual: ActualState, host: HostConfig, *, cleanup: bool = True) -> Plan:
    """The actions that make ``actual`` look like ``desired`` on this host."""
    plan = Plan()
    wanted: set[str] = set()
    _plan_networks(plan, desired, host, actual, wanted)
    _plan_ports(plan, desired, actual, wanted)
    if cleanup:
        plan.actions.extend(_stale_deletions(actual, wanted))
    return plan


def port_statuses(desired: DesiredState, actual: ActualState, errors: dict[str, str]) -> dict[str, str]:
    """The real state of every desired port: ACTIVE when its tap exists, is up
    and is enslaved to its network's bridge; ERROR when the network cannot be
    realised here; DOWN otherwise (and always for admin-down ports)."""
    result: dict[str, str] = {}
    nets = {n.id: n for n in desired.networks}
    for port in desired.ports:
        if port.network_id in errors:
            result[port.id] = ERROR
            continue
        if not port.admin_state_up:
            result[port.id] = DOWN
            continue
        net = nets.get(port.network_id)
        tap = actual.links.get(port.device_name)
        bridge = actual.links.get(net.bridge_name if net else port.bridge_name)
        plugged = (
            tap is not None and tap.up and bridge is not None and bridge.kind == "bridge" and tap.master == bridge.index
        )
        result[port.id] = ACTIVE if plugged else DOWN
    return result
