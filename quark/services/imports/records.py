"""What the Neutron import reads and writes, kind by kind (pure).

A source (``source.py``) yields each resource as Neutron's API shows it. For
each kind this module says which attributes make "equal content" (a record
already in Quark with the same values is skipped, one with other values is
a conflict), and which attributes the create through Quark's service gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quark import owners
from quark.ipam import addressing

# The dependency order of the import: each kind refers only to kinds before it.
KINDS = (
    "networks",
    "subnets",
    "security_groups",
    "security_group_rules",
    "routers",
    "ports",
    "router_interfaces",
    "floatingips",
)

# Ports a router or a floating IP makes itself in Quark (their own ids): not imported as ports.
MADE_BY_OTHERS = (owners.ROUTER_GATEWAY, owners.FLOATING_IP)
ROUTER_INTERFACE_OWNERS = (
    "network:router_interface",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
)


def _pools(value: Any) -> list[tuple[str, str]]:
    return sorted((p["start"], p["end"]) for p in value or [])


def _routes(value: Any) -> list[tuple[str, str]]:
    return sorted((r["destination"], r["nexthop"]) for r in value or [])


def _fixed_ips(value: Any) -> list[tuple[str, str]]:
    return sorted((ip["subnet_id"], addressing.canonical_ip(ip["ip_address"])) for ip in value or [])


def _pairs(value: Any) -> list[tuple[str, str]]:
    return sorted((p["ip_address"], (p.get("mac_address") or "").lower()) for p in value or [])


def _sorted(value: Any) -> list:
    return sorted(value or [])


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _profile(value: Any) -> dict:
    return dict(value or {})


def _gateway(value: Any) -> Any:
    if not value:
        return None
    return (value.get("network_id"), _fixed_ips(value.get("external_fixed_ips")))


def _text(value: Any) -> str:
    return value or ""


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Kind:
    name: str
    # attribute -> the normal form both sides are compared in; a create is
    # given these attributes (and the id) as read, then ``_ADJUST``ed
    compared: dict[str, Callable[[Any], Any]]


_STANDARD = {"name": _text, "project_id": _text, "description": _text}

SPECS: dict[str, Kind] = {
    "networks": Kind(
        "networks",
        {
            **_STANDARD,
            "admin_state_up": _same,
            "shared": _same,
            "router:external": _same,
            "mtu": _same,
            "provider:network_type": _same,
            "provider:physical_network": _same,
            "provider:segmentation_id": _same,
        },
    ),
    "subnets": Kind(
        "subnets",
        {
            **_STANDARD,
            "network_id": _same,
            "ip_version": _same,
            "cidr": _same,
            "gateway_ip": _same,
            "enable_dhcp": _same,
            "allocation_pools": _pools,
            "host_routes": _routes,
            "dns_nameservers": _same,  # ordered: the order is the resolvers' priority
            "ipv6_ra_mode": _same,
            "ipv6_address_mode": _same,
        },
    ),
    "security_groups": Kind(
        "security_groups",
        {**_STANDARD, "stateful": _same},
    ),
    "security_group_rules": Kind(
        "security_group_rules",
        {
            "project_id": _text,
            "description": _text,
            "security_group_id": _same,
            "direction": _same,
            "ethertype": _same,
            "protocol": _same,
            "port_range_min": _same,
            "port_range_max": _same,
            "remote_ip_prefix": _same,
            "remote_group_id": _same,
        },
    ),
    "routers": Kind(
        "routers",
        {**_STANDARD, "admin_state_up": _same, "external_gateway_info": _gateway},
    ),
    "ports": Kind(
        "ports",
        {
            **_STANDARD,
            "network_id": _same,
            "mac_address": _lower,
            "fixed_ips": _fixed_ips,
            "admin_state_up": _same,
            "device_id": _text,
            "device_owner": _text,
            "binding:host_id": _text,
            "binding:vnic_type": _same,
            "binding:profile": _profile,
            "security_groups": _sorted,
            "allowed_address_pairs": _pairs,
            "port_security_enabled": _same,
        },
    ),
    "router_interfaces": Kind("router_interfaces", {"router_id": _same, "port_id": _same}),
    "floatingips": Kind(
        "floatingips",
        {
            "project_id": _text,
            "description": _text,
            "floating_network_id": _same,
            "floating_ip_address": _same,
            "port_id": _same,
            "fixed_ip_address": _same,
        },
    ),
}


def is_router_interface(port: dict) -> bool:
    return port.get("device_owner") in ROUTER_INTERFACE_OWNERS


def differences(kind: str, source: dict, present: dict) -> list[str]:
    """The attributes of ``kind`` whose values differ between the source's record and Quark's view."""
    spec = SPECS[kind]
    skip = _skipped(kind, source)
    return [
        name
        for name, normal in spec.compared.items()
        if name not in skip and name in source and normal(source.get(name)) != normal(present.get(name))
    ]


def _skipped(kind: str, source: dict) -> frozenset[str]:
    """Attributes another step writes: a router interface port's device (the interface step)."""
    if kind == "ports" and is_router_interface(source):
        return frozenset({"device_id"})
    return frozenset()


def create_attrs(kind: str, record: dict) -> dict:
    """What the create of ``record`` through Quark's service is given: its id and the written attributes."""
    attrs = {"id": record["id"]}
    attrs.update({k: record[k] for k in SPECS[kind].compared if k in record})
    adjust = _ADJUST.get(kind)
    if adjust is not None:
        adjust(record, attrs)
    return {k: v for k, v in attrs.items() if v is not None or k in ("gateway_ip", "remote_ip_prefix")}


def _port_attrs(record: dict, attrs: dict) -> None:
    attrs["fixed_ips"] = [{"subnet_id": s, "ip_address": a} for s, a in _fixed_ips(record.get("fixed_ips"))]
    if is_router_interface(record):  # attached to its router by the interface step
        attrs["device_id"] = ""
    if not record.get("port_security_enabled", True):
        attrs.pop("security_groups", None)


def _subnet_attrs(record: dict, attrs: dict) -> None:
    if record.get("ip_version") == 4:
        attrs.pop("ipv6_ra_mode", None)
        attrs.pop("ipv6_address_mode", None)


def _network_attrs(record: dict, attrs: dict) -> None:
    if not record.get("provider:network_type"):
        for key in ("provider:network_type", "provider:physical_network", "provider:segmentation_id"):
            attrs.pop(key, None)


def _router_attrs(record: dict, attrs: dict) -> None:
    gw = record.get("external_gateway_info")
    if gw:  # the gateway's addresses asked for, as a caller would
        attrs["external_gateway_info"] = {
            "network_id": gw["network_id"],
            "external_fixed_ips": [
                {"subnet_id": s, "ip_address": a} for s, a in _fixed_ips(gw.get("external_fixed_ips"))
            ],
        }


_ADJUST: dict[str, Callable[[dict, dict], None]] = {
    "ports": _port_attrs,
    "subnets": _subnet_attrs,
    "networks": _network_attrs,
    "routers": _router_attrs,
}
