"""Network MTU as Neutron computes and checks it (pure).

A network's MTU is at most what its segment carries: the physical network's
MTU (``global_physnet_mtu``) less the overlay's encapsulation (Neutron's type
drivers, IPv4 underlay). Any ``mtu`` from 0 up is accepted as an attribute (0
means the maximum); subnets then need what their IP version needs.
"""

from __future__ import annotations

from collections.abc import Iterable

from quark import errors

# Bytes each network type's encapsulation takes from the physical MTU
# (Neutron's type drivers with an IPv4 underlay: VXLAN 30 + 20, Geneve's
# default max_header_size 38 + 20, GRE 22 + 20).
OVERHEAD = {"vxlan": 50, "geneve": 58, "gre": 42, "flat": 0, "vlan": 0}
IPV4_MIN_MTU = 68
IPV6_MIN_MTU = 1280


def max_mtu(network_type: str, physnet_mtu: int) -> int:
    """The largest MTU a network of this type may have (``local``: the physical one)."""
    return physnet_mtu - OVERHEAD.get(network_type, 0)


def network_mtu(requested: int | None, network_type: str, physnet_mtu: int) -> int:
    """The MTU to store: the requested one (0 or none: the maximum); 400 above the maximum."""
    largest = max_mtu(network_type, physnet_mtu)
    if requested and requested > largest:
        raise errors.InvalidInput(error_message=f"Requested MTU is too big, maximum is {largest}")
    return requested or largest


def check_subnet_fits(network_id: str, mtu: int, ip_versions: Iterable[int]) -> None:
    """409 when a network of ``mtu`` cannot carry subnets of these IP versions
    (Neutron's _validate_subnet_network_mtu / _validate_change_network_mtu)."""
    versions = set(ip_versions)
    if not versions or mtu >= IPV6_MIN_MTU:
        return
    if mtu < IPV4_MIN_MTU:
        raise errors.NetworkMTUSubnetConflict(net_id=network_id, mtu=IPV4_MIN_MTU)
    if 6 in versions:
        raise errors.NetworkMTUSubnetConflict(net_id=network_id, mtu=IPV6_MIN_MTU)
