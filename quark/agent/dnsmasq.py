"""dnsmasq for one network: its files and command line (pure), and control of
the process (start, SIGHUP, stop) through its pid file.

Files, in ``<state_dir>/<network_id>/``:

- ``host``   one ``--dhcp-hostsfile`` line per port: MAC, IPv4, [IPv6], hostname
- ``opts``   ``--dhcp-optsfile``: router, DNS servers, classless static routes
             (option 121 and the Microsoft 249, the default route included as
             RFC 3442 requires; 169.254.169.254/32 via the DHCP port with
             isolated metadata), MTU (option 26) — per subnet, through the
             ``subnet-<id>`` tag that each ``--dhcp-range`` sets
- ``leases``, ``pid``, ``dnsmasq.log``

A port change rewrites ``host``/``opts`` and sends SIGHUP: dnsmasq re-reads
both files and keeps its leases. Only a change of the command line (the
subnets, the interface) restarts it.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LEASE_TIME = "86400s"
STATEFUL, STATELESS, SLAAC = "dhcpv6-stateful", "dhcpv6-stateless", "slaac"
#: Where instances find their metadata (Neutron's METADATA_CIDR).
METADATA_CIDR = "169.254.169.254/32"


@dataclass(frozen=True)
class Subnet:
    id: str
    cidr: str
    ip_version: int
    gateway_ip: str | None = None
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[tuple[str, str], ...] = ()  # (destination, nexthop)
    enable_dhcp: bool = True
    ipv6_address_mode: str | None = None
    ipv6_ra_mode: str | None = None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Subnet:
        return cls(
            id=body["id"],
            cidr=body["cidr"],
            ip_version=int(body.get("ip_version") or 4),
            gateway_ip=body.get("gateway_ip") or None,
            dns_nameservers=tuple(body.get("dns_nameservers") or ()),
            host_routes=tuple((r["destination"], r["nexthop"]) for r in body.get("host_routes") or ()),
            enable_dhcp=bool(body.get("enable_dhcp", True)),
            ipv6_address_mode=body.get("ipv6_address_mode") or None,
            ipv6_ra_mode=body.get("ipv6_ra_mode") or None,
        )

    @property
    def tag(self) -> str:
        return f"subnet-{self.id}"

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr, strict=False)

    @property
    def v6_mode(self) -> str | None:
        """dnsmasq's range mode for an IPv6 subnet, None when dnsmasq has nothing to do."""
        if self.ip_version != 6:
            return None
        mode = self.ipv6_address_mode
        if mode == SLAAC:
            return "slaac" if self.ipv6_ra_mode else None  # addresses from RA, sent by someone else
        if mode == STATELESS:
            return "ra-stateless" if self.ipv6_ra_mode else "static"  # static: no addresses in the hosts file
        return "static"  # dhcpv6-stateful, or no mode at all

    @property
    def assigns_addresses(self) -> bool:
        return self.ip_version == 4 or self.ipv6_address_mode in (None, STATEFUL)


@dataclass(frozen=True)
class HostEntry:
    port_id: str
    mac_address: str
    ip_address: str
    subnet_id: str
    hostname: str


@dataclass(frozen=True)
class DhcpPort:
    id: str
    mac_address: str
    device_name: str
    vm_device_name: str
    fixed_ips: tuple[tuple[str, str], ...]  # (subnet_id, ip_address)


@dataclass(frozen=True)
class DhcpNetwork:
    id: str
    mtu: int
    dhcp_port: DhcpPort | None
    subnets: tuple[Subnet, ...] = ()
    hosts: tuple[HostEntry, ...] = ()
    network_type: str = ""

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> DhcpNetwork:
        port = body.get("dhcp_port")
        dhcp_port = None
        if port:
            from quark import names

            dhcp_port = DhcpPort(
                id=port["id"],
                mac_address=str(port.get("mac_address", "")).lower(),
                device_name=port.get("device_name") or names.tap_name(port["id"]),
                vm_device_name=port.get("vm_device_name") or names.vm_name(port["id"]),
                fixed_ips=tuple((ip["subnet_id"], ip["ip_address"]) for ip in port.get("fixed_ips") or ()),
            )
        return cls(
            id=body["id"],
            mtu=int(body.get("mtu") or 1500),
            dhcp_port=dhcp_port,
            subnets=tuple(Subnet.from_api(s) for s in body.get("subnets") or ()),
            hosts=tuple(
                HostEntry(
                    h["port_id"],
                    str(h["mac_address"]).lower(),
                    h["ip_address"],
                    h["subnet_id"],
                    h.get("hostname") or _default_hostname(h["ip_address"]),
                )
                for h in body.get("hosts") or ()
            ),
            network_type=body.get("network_type") or "",
        )

    @property
    def dhcp_subnets(self) -> list[Subnet]:
        return [s for s in self.subnets if s.enable_dhcp]

    def port_addresses(self) -> list[str]:
        """The DHCP port's addresses as ``ip/prefixlen`` (only on known subnets)."""
        by_id = {s.id: s for s in self.subnets}
        result = []
        for subnet_id, ip in self.dhcp_port.fixed_ips if self.dhcp_port else ():
            subnet = by_id.get(subnet_id)
            if subnet is not None:
                result.append(f"{ip}/{subnet.network.prefixlen}")
        return result


def _default_hostname(ip: str) -> str:
    return "host-" + ip.replace(".", "-").replace(":", "-")


# --- files -------------------------------------------------------------------


def hosts_file(net: DhcpNetwork) -> str:
    """One line per port (two addresses of one family on one port: extra lines)."""
    per_port = _entries_per_port(net)
    lines = [line for port_id in sorted(per_port) for line in _port_lines(per_port[port_id])]
    return "".join(line + "\n" for line in lines)


def _entries_per_port(net: DhcpNetwork) -> dict[str, list[HostEntry]]:
    """The host entries dnsmasq hands out, by port: only on DHCP subnets that assign addresses."""
    subnets = {s.id: s for s in net.dhcp_subnets}
    per_port: dict[str, list[HostEntry]] = {}
    for entry in net.hosts:
        subnet = subnets.get(entry.subnet_id)
        if subnet is None or not subnet.assigns_addresses:
            continue
        per_port.setdefault(entry.port_id, []).append(entry)
    return per_port


def _port_lines(entries: list[HostEntry]) -> list[str]:
    """``MAC,IPv4,[IPv6],hostname``: the n-th IPv4 address paired with the n-th IPv6 one,
    the longer family's extra addresses on lines of their own."""
    v4 = [e for e in entries if ":" not in e.ip_address]
    v6 = [e for e in entries if ":" in e.ip_address]
    return [_host_line(first, second) for first, second in itertools.zip_longest(v4, v6)]


def _host_line(v4: HostEntry | None, v6: HostEntry | None) -> str:
    """One line; MAC and hostname are the IPv4 entry's, or the IPv6 one's on a line without IPv4."""
    lead = v4 or v6
    assert lead is not None  # zip_longest pairs never hold two Nones
    parts = [lead.mac_address]
    if v4:
        parts.append(v4.ip_address)
    if v6:
        parts.append(f"[{v6.ip_address}]")
    parts.append(lead.hostname)
    return ",".join(parts)


def metadata_nexthops(net: DhcpNetwork, *, force: bool = False) -> dict[str, str]:
    """Subnet id -> the DHCP port's address on it, for the IPv4 DHCP subnets whose VMs
    reach 169.254.169.254 through the DHCP namespace (Neutron's isolated metadata): the
    isolated ones — no port of the network holds the subnet's gateway address, i.e. no
    router serves it — or all of them with ``force`` (Neutron's ``force_metadata``)."""
    held = {h.ip_address for h in net.hosts}
    mine = dict(net.dhcp_port.fixed_ips) if net.dhcp_port else {}
    return {
        s.id: mine[s.id]
        for s in net.dhcp_subnets
        if s.ip_version == 4 and s.id in mine and (force or not s.gateway_ip or s.gateway_ip not in held)
    }


def _routes_option(subnet: Subnet, metadata_nexthop: str | None = None) -> list[str]:
    routes = [(dst, nh) for dst, nh in subnet.host_routes if ":" not in dst]
    if metadata_nexthop and not any(dst == METADATA_CIDR for dst, _ in routes):
        routes.insert(0, (METADATA_CIDR, metadata_nexthop))
    if not routes:
        return []
    if subnet.gateway_ip and not any(ipaddress.ip_network(d, strict=False).prefixlen == 0 for d, _ in routes):
        routes.append(("0.0.0.0/0", subnet.gateway_ip))  # RFC 3442: clients ignore option 3 when 121 is sent
    value = ",".join(f"{dst},{nh}" for dst, nh in routes)
    return [f"tag:{subnet.tag},option:classless-static-route,{value}", f"tag:{subnet.tag},249,{value}"]


def opts_file(net: DhcpNetwork, metadata: dict[str, str] | None = None) -> str:
    """``metadata``: subnet id -> next hop of a 169.254.169.254/32 route (``metadata_nexthops``)."""
    metadata = metadata or {}
    lines = []
    for subnet in net.dhcp_subnets:
        tag = subnet.tag
        if subnet.ip_version == 4:
            # an empty router option stops dnsmasq from announcing itself as the router
            lines.append(f"tag:{tag},option:router" + (f",{subnet.gateway_ip}" if subnet.gateway_ip else ""))
            if subnet.dns_nameservers:
                lines.append(f"tag:{tag},option:dns-server," + ",".join(subnet.dns_nameservers))
            lines.extend(_routes_option(subnet, metadata.get(subnet.id)))
            lines.append(f"tag:{tag},option:mtu,{net.mtu}")
        else:
            if subnet.v6_mode is None:
                continue
            if subnet.dns_nameservers:
                lines.append(f"tag:{tag},option6:dns-server," + ",".join(f"[{a}]" for a in subnet.dns_nameservers))
    return "".join(line + "\n" for line in lines)


# --- command line ------------------------------------------------------------


@dataclass(frozen=True)
class Paths:
    directory: Path

    @property
    def hosts(self) -> Path:
        return self.directory / "host"

    @property
    def opts(self) -> Path:
        return self.directory / "opts"

    @property
    def leases(self) -> Path:
        return self.directory / "leases"

    @property
    def pid(self) -> Path:
        return self.directory / "pid"

    @property
    def log(self) -> Path:
        return self.directory / "dnsmasq.log"

    @property
    def cmdline(self) -> Path:
        return self.directory / "cmdline"


def dhcp_ranges(net: DhcpNetwork) -> list[str]:
    ranges = []
    for subnet in net.dhcp_subnets:
        network = subnet.network
        if subnet.ip_version == 4:
            ranges.append(f"set:{subnet.tag},{network.network_address},static,{network.netmask},{LEASE_TIME}")
            continue
        mode = subnet.v6_mode
        if mode is None:
            continue
        ranges.append(f"set:{subnet.tag},{network.network_address},{mode},{network.prefixlen},{LEASE_TIME}")
    return ranges


def command(net: DhcpNetwork, paths: Paths, interface: str, dnsmasq: str = "dnsmasq") -> list[str]:
    cmd = [
        dnsmasq,
        "--no-hosts",
        "--no-resolv",
        "--conf-file=/dev/null",
        "--port=0",  # DHCP only, no DNS
        "--bind-interfaces",
        f"--interface={interface}",
        "--except-interface=lo",
        f"--pid-file={paths.pid}",
        f"--dhcp-hostsfile={paths.hosts}",
        f"--dhcp-optsfile={paths.opts}",
        f"--dhcp-leasefile={paths.leases}",
        f"--log-facility={paths.log}",
        "--log-dhcp",
        "--dhcp-authoritative",
        f"--dhcp-lease-max={max(256, 2 * len(net.hosts))}",
    ]
    cmd.extend(f"--dhcp-range={r}" for r in dhcp_ranges(net))
    if any(s.ip_version == 6 and s.ipv6_ra_mode and s.v6_mode for s in net.dhcp_subnets):
        cmd.append("--enable-ra")
    return cmd


# --- the process -------------------------------------------------------------


def write_if_changed(path: Path, text: str) -> bool:
    """Write atomically (readable by dnsmasq after it drops privileges); True if it changed."""
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return True


def running_pid(paths: Paths) -> int | None:
    """The pid of the dnsmasq serving ``paths``, if it runs."""
    try:
        pid = int(paths.pid.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if any(arg == f"--pid-file={paths.pid}".encode() for arg in cmdline):
        return pid
    return None


def reload(paths: Paths) -> bool:
    pid = running_pid(paths)
    if pid is None:
        return False
    os.kill(pid, signal.SIGHUP)
    return True


def stop(paths: Paths) -> None:
    pid = running_pid(paths)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists() or running_pid(paths) is None:
            return
        import time

        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class Generated:
    """Everything generated for one network (what the service compares)."""

    hosts: str
    opts: str
    command: list[str] = field(default_factory=list)


def generate(
    net: DhcpNetwork, paths: Paths, interface: str, dnsmasq: str = "dnsmasq", metadata: dict[str, str] | None = None
) -> Generated:
    return Generated(hosts_file(net), opts_file(net, metadata), command(net, paths, interface, dnsmasq))
