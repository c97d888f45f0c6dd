"""The L3 part's model and pure planning (no I/O): the routers of a host's
desired state as values, the nftables ruleset of a router's namespace, the
addresses and routes each device must carry, and the statuses a router, its
ports and its floating IPs have given what the kernel shows.

The ruleset is one table, ``ip quark``, replaced atomically as a whole:

- ``prerouting`` (nat, dstnat): ``ip daddr <floating> dnat to <fixed>`` per
  floating IP, and per port forwarding ``ip daddr <floating> <proto> dport
  <external range> dnat to <internal address>[:<internal port(s)>]``;
- ``postrouting`` (nat, srcnat), on the gateway device only: ``ip saddr
  <fixed> snat to <floating>`` per floating IP, then, with ``enable_snat``,
  ``snat to <gateway address>`` for everything else leaving there; and the
  hairpin: a connection DNAT'd from inside (not through the gateway) back
  inside is masqueraded to the router's interface address, so the target's
  replies come back through the router and are translated back (without it
  the target would answer the sender directly, from its own address).

When a mapping goes (``conntrack_deletions``), the conntrack entries it made
are deleted after the new table is loaded, so established flows follow too.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any

from quark import names

TABLE = "quark"
ACTIVE, DOWN = "ACTIVE", "DOWN"


@dataclass(frozen=True)
class RouterPort:
    id: str
    kind: str  # "gateway" or "interface"
    mac_address: str
    network_id: str
    mtu: int
    device: str  # the vm… end, moved into the namespace
    addresses: tuple[str, ...]  # "ip/prefixlen"

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> RouterPort:
        return cls(
            id=body["id"],
            kind=body.get("kind") or "interface",
            mac_address=str(body.get("mac_address", "")).lower(),
            network_id=body.get("network_id") or "",
            mtu=int(body.get("mtu") or 1500),
            device=body.get("vm_device_name") or names.vm_name(body["id"]),
            addresses=tuple(f"{ip['ip_address']}/{ip['prefixlen']}" for ip in body.get("fixed_ips") or ()),
        )


@dataclass(frozen=True)
class FloatingIp:
    id: str
    floating: str
    fixed: str
    status: str = DOWN


@dataclass(frozen=True)
class PortForwarding:
    """A floating IP port forwarding: ``protocol`` traffic to the floating address's
    external port range goes to the internal address's port range."""

    id: str
    floatingip_id: str
    floating: str
    protocol: str
    external: tuple[int, int]
    internal_address: str
    internal: tuple[int, int]
    floatingip_status: str = DOWN

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> PortForwarding:
        return cls(
            id=body["id"],
            floatingip_id=body["floatingip_id"],
            floating=body["floating_ip_address"],
            protocol=str(body["protocol"]).lower(),
            external=(int(body["external_port_start"]), int(body["external_port_end"])),
            internal_address=body["internal_ip_address"],
            internal=(int(body["internal_port_start"]), int(body["internal_port_end"])),
            floatingip_status=body.get("floatingip_status") or DOWN,
        )

    def rule(self) -> str:
        """Its DNAT rule (nft syntax). ``icmp`` has no ports: the address alone."""
        if self.protocol not in PORT_PROTOCOLS:
            return f"ip daddr {self.floating} ip protocol {self.protocol} dnat to {self.internal_address}"
        (ext_lo, ext_hi), (int_lo, int_hi) = self.external, self.internal
        match = f"ip daddr {self.floating} {self.protocol} dport {_range(ext_lo, ext_hi)}"
        if int_lo == int_hi:  # one internal port takes every external port of the range
            return f"{match} dnat to {self.internal_address}:{int_lo}"
        if int_lo == ext_lo:  # the same ports
            return f"{match} dnat to {self.internal_address}"
        pairs = ", ".join(f"{ext_lo + i} : {int_lo + i}" for i in range(ext_hi - ext_lo + 1))
        return f"{match} dnat to {self.internal_address} : {self.protocol} dport map {{ {pairs} }}"


PORT_PROTOCOLS = ("tcp", "udp", "sctp", "dccp")


def _range(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


@dataclass(frozen=True)
class Router:
    id: str
    admin_state_up: bool
    status: str
    enable_snat: bool
    ports: tuple[RouterPort, ...]
    gateway_addresses: tuple[str, ...] = ()
    next_hop: str | None = None
    routes: tuple[tuple[str, str], ...] = ()
    floating_ips: tuple[FloatingIp, ...] = ()
    port_forwardings: tuple[PortForwarding, ...] = ()
    # An HA router (docs/l3.md): the server decides which host is active; a
    # standby host keeps the namespace only. reported_ha_state: what this
    # host last reported (the document shows it, so a report is sent once).
    ha: bool = False
    ha_state: str = "active"
    reported_ha_state: str | None = None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Router:
        gateway = body.get("gateway") or {}
        return cls(
            id=body["id"],
            admin_state_up=bool(body.get("admin_state_up", True)),
            status=body.get("status") or DOWN,
            enable_snat=bool(body.get("enable_snat", True)),
            ports=tuple(RouterPort.from_api(p) for p in body.get("ports") or ()),
            gateway_addresses=tuple(gateway.get("addresses") or ()),
            next_hop=gateway.get("next_hop") or None,
            routes=tuple((r["destination"], r["nexthop"]) for r in body.get("routes") or ()),
            floating_ips=tuple(
                FloatingIp(f["id"], f["floating_ip_address"], f["fixed_ip_address"], f.get("status") or DOWN)
                for f in body.get("floating_ips") or ()
            ),
            port_forwardings=tuple(PortForwarding.from_api(pf) for pf in body.get("port_forwardings") or ()),
            ha=bool(body.get("ha", False)),
            ha_state=body.get("ha_state") or "active",
            reported_ha_state=body.get("reported_ha_state"),
        )

    @property
    def standby(self) -> bool:
        """A standby of an HA router: the namespace, nothing that answers or moves traffic."""
        return self.ha_state == "standby"

    @property
    def gateway(self) -> RouterPort | None:
        return next((p for p in self.ports if p.kind == "gateway"), None)

    @property
    def floating_addresses(self) -> set[str]:
        """The floating addresses it answers for: associated ones and those of port forwardings."""
        return {fip.floating for fip in self.floating_ips} | {pf.floating for pf in self.port_forwardings}

    @property
    def forwarding_fips(self) -> dict[str, str]:
        """The floating IPs of its port forwardings: id -> status the server shows."""
        return {pf.floatingip_id: pf.floatingip_status for pf in self.port_forwardings}


def routers_of(doc: dict[str, Any]) -> list[Router]:
    return [Router.from_api(r) for r in doc.get("routers") or ()]


@dataclass
class Device:
    """A device in a router's namespace, as the kernel shows it."""

    name: str
    mac: str = ""
    up: bool = False
    mtu: int = 0
    addresses: set[str] = field(default_factory=set)  # "ip/prefixlen", global scope only


def wanted_addresses(router: Router, port: RouterPort) -> set[str]:
    """The port's addresses; the gateway also carries each floating address (/32)
    so the external network's ARP for it is answered (port forwardings' too)."""
    wanted = set(port.addresses)
    if port.kind == "gateway":
        wanted |= {f"{address}/32" for address in router.floating_addresses}
    return wanted


def inert(router: Router) -> Router:
    """What an administratively down router keeps on its host: its ports, wired
    (in the namespace with their MACs and addresses, so they are ACTIVE, as
    Neutron's default backend OVN keeps a disabled router's ports up), and
    nothing that moves traffic: no routes, no NAT, no floating addresses (the
    namespace also stops forwarding)."""
    return replace(router, enable_snat=False, next_hop=None, routes=(), floating_ips=(), port_forwardings=())


def serves_metadata(router: Router) -> bool:
    """Whether the router's namespace runs a metadata proxy (when the host enables
    them): it has an interface with an IPv4 address, so a VM routes to it."""
    return any(p.kind == "interface" and any(":" not in a for a in p.addresses) for p in router.ports)


def route_destination(destination: str) -> str:
    """A route's destination as a network, the way the kernel's routes are
    compared: ``10.1.2.3/32`` (never ``10.1.2.3``), ``0.0.0.0/0`` and
    ``::/0`` (never ``default``, which names either), IPv6 compressed."""
    return str(ipaddress.ip_network(destination, strict=False))


def wanted_routes(router: Router, *, with_default: bool = True) -> dict[str, str]:
    """destination (``route_destination``) -> next hop: the default route via the
    external subnet's gateway (of its family; unless not ``with_default``), and
    the extra routes."""
    routes = {route_destination(dest): str(ipaddress.ip_address(hop)) for dest, hop in router.routes}
    if with_default and router.gateway is not None and router.next_hop:
        hop = ipaddress.ip_address(router.next_hop)
        routes["0.0.0.0/0" if hop.version == 4 else "::/0"] = str(hop)
    return routes


def ruleset(router: Router) -> str:
    """The ``ip quark`` table of the router's namespace (nft -f syntax)."""
    gw = router.gateway
    pre: list[str] = []
    post: list[str] = []
    if gw is not None:
        dev = gw.device
        for fip in router.floating_ips:
            pre.append(f"ip daddr {fip.floating} dnat to {fip.fixed}")
            post.append(f'oifname "{dev}" ip saddr {fip.fixed} snat to {fip.floating}')
        pre.extend(pf.rule() for pf in router.port_forwardings)
        v4 = [a for a in router.gateway_addresses if ":" not in a]
        if router.enable_snat and v4:
            post.append(f'oifname "{dev}" snat to {v4[0]}')
        if pre:  # hairpin: a VM reaching a floating address that leads back inside
            post.append(f'iifname != "{dev}" oifname != "{dev}" ct status dnat masquerade')
    lines = [
        f"table ip {TABLE} {{",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        *(f"    {rule}" for rule in pre),
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        *(f"    {rule}" for rule in post),
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def nat_mappings(router: Router) -> set[tuple[str, str]]:
    """(floating address, internal address) pairs the router's NAT translates
    between: each floating IP's and each port forwarding's (none without a gateway)."""
    if router.gateway is None:
        return set()
    return {(f.floating, f.fixed) for f in router.floating_ips} | {
        (pf.floating, pf.internal_address) for pf in router.port_forwardings
    }


def conntrack_deletions(before: set[tuple[str, str]], after: set[tuple[str, str]]) -> list[tuple[str, ...]]:
    """``conntrack -D`` arguments that drop the tracked flows of each mapping
    that is gone (a floating IP moved to another port or disassociated, a
    forwarding changed or deleted): conntrack keeps translating a flow as its
    first packet was, so without this an established flow (a UDP stream, a TCP
    connection) would keep reaching the old internal address. Each mapping's
    flows both ways: addressed to the floating address and translated to the
    old internal one (DNAT: its reply source), and started by the old internal
    address and translated to the floating one (SNAT: its reply destination)."""
    out: list[tuple[str, ...]] = []
    for floating, internal in sorted(before - after):
        out.append(("-d", floating, "--reply-src", internal))
        out.append(("-s", internal, "--reply-dst", floating))
    return out


def replace_script(text: str) -> str:
    """An nft script that replaces the table atomically (one transaction)."""
    return f"table ip {TABLE} {{}}\ndelete table ip {TABLE}\n{text}"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def port_realised(router: Router, port: RouterPort, devices: dict[str, Device]) -> bool:
    dev = devices.get(port.device)
    return (
        dev is not None
        and dev.up
        and dev.mac == port.mac_address
        and wanted_addresses(router, port) <= dev.addresses
        and set(port.addresses) <= dev.addresses
    )


def statuses(router: Router, devices: dict[str, Device], nat_ok: bool) -> tuple[str, dict[str, str], dict[str, str]]:
    """(router status, port statuses, floating IP statuses) of a router as found."""
    fip_ids = [f.id for f in router.floating_ips] + sorted(router.forwarding_fips)
    shown = router if router.admin_state_up else inert(router)
    ports = {p.id: ACTIVE if port_realised(shown, p, devices) else DOWN for p in router.ports}
    if not router.admin_state_up:
        return DOWN, ports, dict.fromkeys(fip_ids, DOWN)
    all_up = all(s == ACTIVE for s in ports.values())
    gw = router.gateway
    gw_up = gw is not None and ports[gw.id] == ACTIVE
    fips = dict.fromkeys(fip_ids, ACTIVE if nat_ok and gw_up else DOWN)
    return (ACTIVE if all_up and nat_ok else DOWN), ports, fips
