"""The pure rules of a port forwarding's ports, as Neutron's plugin has them:
a single port is a range of one; the internal range is one port or as wide as
the external one (N-N or N-1); two forwardings of a floating IP and protocol
may not share an external port, nor two of an internal socket an internal port.
Also the view of a stored row and of the floating IP's ``port_forwardings``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from quark.db import l3_models
from quark.db.lookups import IDS, Lookup
from quark.services.l3.port_forwarding_errors import bad

pf = l3_models.port_forwardings

# Neutron's IPTABLES_PROTOCOL_MAP keys: what a forwarding may carry.
PROTOCOLS = ("dccp", "icmp", "ipv6-icmp", "sctp", "tcp", "udp")
PORT_MIN, PORT_MAX = 1, 65535
# The floating IP's view lists these of each forwarding (Neutron's _extend_floatingip_dict).
IN_FLOATINGIP = ("id", "internal_ip_address", "protocol", "internal_port", "external_port", "internal_port_id")

# The port forwardings of the floating IPs shown.
FIP_FORWARDINGS = Lookup(
    "fip.port_forwardings",
    select(pf).where(pf.c.floatingip_id.in_(IDS)),
    order=("id",),
)


@dataclass(frozen=True)
class Ports:
    """A forwarding's port ranges (inclusive; a single port has start == end)."""

    external_start: int
    external_end: int
    internal_start: int
    internal_end: int

    @staticmethod
    def of(row: Any) -> Ports:
        return Ports(row.external_port_start, row.external_port_end, row.internal_port_start, row.internal_port_end)

    def columns(self) -> dict[str, int]:
        return {
            "external_port_start": self.external_start,
            "external_port_end": self.external_end,
            "internal_port_start": self.internal_start,
            "internal_port_end": self.internal_end,
        }


def parse_range(value: str) -> tuple[int, int]:
    """``"N"`` or ``"N:M"`` (the attribute converter checked the syntax and bounds)."""
    first, _, last = value.partition(":")
    return int(first), int(last or first)


def range_text(start: int, end: int) -> str:
    return f"{start}:{end}"


_MIXED = (
    "You cannot use the attributes internal_port_range and external_port_range "
    "with the attributes internal_port and external_port in the same request"
)
_MISSING = "A port forwarding needs external_port and internal_port, or external_port_range and internal_port_range"
_RELATION = "Invalid ranges of internal and/or external ports. The relation between internal and external ports must be N-N or 1-N"


def requested_ports(attrs: dict[str, Any], current: Ports | None = None) -> Ports:
    """The ranges a create (``current`` None) or an update asks for. A side given
    as a single port or a range replaces that side; one left out keeps its value."""
    singles = {k for k in ("external_port", "internal_port") if attrs.get(k) is not None}
    ranges = {k for k in ("external_port_range", "internal_port_range") if attrs.get(k) is not None}
    if singles and ranges:
        raise bad(_MIXED)
    ext = _side(attrs, "external", None if current is None else (current.external_start, current.external_end))
    internal = _side(attrs, "internal", None if current is None else (current.internal_start, current.internal_end))
    if ext is None or internal is None:
        raise bad(_MISSING)
    ports = Ports(ext[0], ext[1], internal[0], internal[1])
    internal_width = ports.internal_end - ports.internal_start
    if internal_width > 0 and internal_width != ports.external_end - ports.external_start:
        raise bad(_RELATION)
    return ports


def _side(attrs: dict[str, Any], side: str, current: tuple[int, int] | None) -> tuple[int, int] | None:
    single, ranged = attrs.get(f"{side}_port"), attrs.get(f"{side}_port_range")
    if single is not None:
        return single, single
    if ranged is not None:
        start, end = parse_range(ranged)
        if start > end:
            raise bad(f"Invalid port range {ranged}: its first port is beyond its last")
        return start, end
    return current or None


def collides(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return max(a_start, b_start) <= min(a_end, b_end)


def check_collisions(ports: Ports, same_fip: list[Any], same_socket: list[Any]) -> None:
    """400 when the external range meets another forwarding's of the same floating
    IP and protocol, or the internal range another's of the same internal socket."""
    for row in same_fip:
        if collides(ports.external_start, ports.external_end, row.external_port_start, row.external_port_end):
            raise _collision("external_port_range", row.external_port_start, row.external_port_end, ports, True)
    for row in same_socket:
        if collides(ports.internal_start, ports.internal_end, row.internal_port_start, row.internal_port_end):
            raise _collision("internal_port_range", row.internal_port_start, row.internal_port_end, ports, False)


def _collision(key: str, start: int, end: int, ports: Ports, external: bool):
    mine = (
        range_text(ports.external_start, ports.external_end)
        if external
        else range_text(ports.internal_start, ports.internal_end)
    )
    return bad(f"There is a port collision with the {key}. The following ranges collide: {start}:{end} and {mine}")


def view(row: Any) -> dict[str, Any]:
    """A forwarding as Neutron shows it: single ports only when the range is one port wide."""
    single_ext = row.external_port_start == row.external_port_end
    single_int = row.internal_port_start == row.internal_port_end
    return {
        "id": row.id,
        "external_port": row.external_port_start if single_ext else None,
        "internal_port": row.internal_port_start if single_int else None,
        "internal_ip_address": row.internal_ip_address,
        "protocol": row.protocol,
        "internal_port_id": row.internal_port_id,
        "description": row.description,
        "external_port_range": range_text(row.external_port_start, row.external_port_end),
        "internal_port_range": range_text(row.internal_port_start, row.internal_port_end),
    }


def in_floatingip(rows: list[Any]) -> list[dict[str, Any]]:
    """The ``port_forwardings`` of a floating IP's view (expose-port-forwarding-in-fip)."""
    return [{k: v for k, v in view(row).items() if k in IN_FLOATINGIP} for row in rows]
