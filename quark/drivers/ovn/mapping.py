"""Quark's resources as OVN northbound rows: names, columns, ACL matches.

Pure functions of a resource's API view (``Change.body``); the commands
(``commands.py``) write what they return. Every row carries the Quark id of
its resource and the revision it was written from in ``external_ids``
(``quark:<kind>_id``, ``quark:revision_number``).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

PREFIX = "quark:"
REVISION = "quark:revision_number"
DROP_GROUP = "quark_pg_drop"
ACL_PRIORITY_ALLOW = 1002
ACL_PRIORITY_DROP = 1001
LEASE_TIME = "43200"
OVERLAY_TYPES = ("vxlan", "geneve")
PHYSICAL_TYPES = ("vlan", "flat")

# kind -> (table, how its row is found: "name" (an index) or the external_ids key)
TABLES = {
    "network": "Logical_Switch",
    "subnet": "DHCP_Options",
    "port": "Logical_Switch_Port",
    "security_group": "Port_Group",
    "router": "Logical_Router",
    "floatingip": "NAT",  # a floating IP's dnat_and_snat row, while it is associated
    "port_forwarding": "Load_Balancer",  # one per forwarding of a protocol OVN balances (forwarding.py)
}
# What an OVN Load_Balancer balances: forwardings of other protocols have no row.
LB_PROTOCOLS = ("tcp", "udp", "sctp")


def id_key(kind: str) -> str:
    return f"{PREFIX}{kind}_id"


def switch_name(network_id: str) -> str:
    return f"quark-{network_id}"


def router_name(router_id: str) -> str:
    return f"quark-{router_id}"


def router_port_name(port_id: str) -> str:
    return f"lrp-{port_id}"


def provnet_name(network_id: str) -> str:
    return f"provnet-{network_id}"


def group_name(group_id: str) -> str:
    """A port group's name is also the name of its address sets (``<name>_ip4``): no dashes."""
    return "pg_" + group_id.replace("-", "_")


def external_ids(kind: str, body: Mapping[str, Any], revision: int, **more: Any) -> dict[str, str]:
    ids = {
        id_key(kind): str(body["id"]),
        REVISION: str(revision),
        f"{PREFIX}project_id": str(body.get("project_id") or ""),
        f"{PREFIX}name": str(body.get("name") or ""),
    }
    ids.update({f"{PREFIX}{k}": "" if v is None else str(v) for k, v in more.items()})
    return ids


def revision_of(row_external_ids: Mapping[str, str]) -> int:
    try:
        return int(row_external_ids.get(REVISION, "-1"))
    except ValueError:
        return -1


# --- networks -------------------------------------------------------------------------


def network_columns(body: Mapping[str, Any], revision: int) -> dict[str, Any]:
    mtu = body.get("mtu")
    other: dict[str, str] = {}
    if mtu:
        other["mtu"] = str(mtu)
    seg = body.get("provider:segmentation_id")
    if body.get("provider:network_type") in OVERLAY_TYPES and seg:
        other["requested-tnl-key"] = str(seg)  # the switch's tunnel key is the segment's VNI
    return {
        "name": switch_name(body["id"]),
        "external_ids": external_ids(
            "network",
            body,
            revision,
            mtu=mtu,
            network_type=body.get("provider:network_type"),
            segmentation_id=seg,
        ),
        "other_config": other,
    }


def localnet_columns(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The localnet port of a VLAN or flat network (its physical network and tag), or None."""
    if body.get("provider:network_type") not in PHYSICAL_TYPES or not body.get("provider:physical_network"):
        return None
    columns: dict[str, Any] = {
        "name": provnet_name(body["id"]),
        "type": "localnet",
        "addresses": ["unknown"],
        "options": {"network_name": str(body["provider:physical_network"])},
        "external_ids": {id_key("network"): str(body["id"])},
        "tag": [],
    }
    if body.get("provider:network_type") == "vlan" and body.get("provider:segmentation_id"):
        columns["tag"] = int(body["provider:segmentation_id"])
    return columns


# --- subnets --------------------------------------------------------------------------


def server_mac(subnet_id: str) -> str:
    """The MAC the DHCP server answers from: stable per subnet, locally administered."""
    digest = hashlib.sha256(subnet_id.encode()).digest()
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in digest[:3])


def _address_list(values: Sequence[str]) -> str:
    return "{" + ", ".join(values) + "}"


def subnet_options(body: Mapping[str, Any], mtu: int | None) -> dict[str, str]:
    net = ipaddress.ip_network(body["cidr"], strict=False)
    dns = [str(d) for d in body.get("dns_nameservers") or []]
    if net.version == 6:
        options = {"server_id": server_mac(body["id"])}
        if dns:
            options["dns_server"] = _address_list(dns)
        if body.get("ipv6_address_mode") == "dhcpv6-stateless":
            options["dhcpv6_stateless"] = "true"
        return options
    gateway = body.get("gateway_ip")
    options = {
        "server_id": gateway or str(next(net.hosts(), net.network_address)),
        "server_mac": server_mac(body["id"]),
        "lease_time": LEASE_TIME,
    }
    if gateway:
        options["router"] = gateway
    if dns:
        options["dns_server"] = _address_list(dns)
    if mtu:
        options["mtu"] = str(mtu)
    return options


def subnet_columns(body: Mapping[str, Any], revision: int, mtu: int | None) -> dict[str, Any]:
    return {
        "cidr": str(ipaddress.ip_network(body["cidr"], strict=False)),
        "options": subnet_options(body, mtu),
        "external_ids": external_ids(
            "subnet",
            body,
            revision,
            network_id=body.get("network_id"),
            enable_dhcp=str(bool(body.get("enable_dhcp", True))).lower(),
            ip_version=body.get("ip_version", 4),
            # what the router ports on it announce (ra_configs)
            ipv6_address_mode=body.get("ipv6_address_mode"),
            ipv6_ra_mode=body.get("ipv6_ra_mode"),
        ),
    }


# --- ports ----------------------------------------------------------------------------

ROUTER_GATEWAY = "network:router_gateway"
ROUTER_OWNERS = (
    "network:router_interface",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
    ROUTER_GATEWAY,
)


def is_router_interface(body: Mapping[str, Any]) -> bool:
    """A router's port (an interface or its gateway): the switch side of a router port."""
    return body.get("device_owner") in ROUTER_OWNERS and bool(body.get("device_id"))


def port_ips(body: Mapping[str, Any]) -> list[str]:
    return [str(ip["ip_address"]) for ip in body.get("fixed_ips") or [] if ip.get("ip_address")]


def port_security(body: Mapping[str, Any]) -> list[str]:
    """What the port may send from: its own MAC and IPs and its allowed address pairs."""
    if not body.get("port_security_enabled", True) or is_router_interface(body):
        return []
    mac = str(body["mac_address"])
    entries = [" ".join([mac, *port_ips(body)])]
    for pair in body.get("allowed_address_pairs") or []:
        entries.append(f"{pair.get('mac_address') or mac} {pair['ip_address']}")
    return entries


def port_groups(body: Mapping[str, Any]) -> list[str]:
    """The port groups a port belongs to: its security groups' and the default-drop one."""
    if not body.get("port_security_enabled", True) or is_router_interface(body):
        return []
    return [group_name(g) for g in body.get("security_groups") or []] + [DROP_GROUP]


def port_columns(body: Mapping[str, Any], revision: int) -> dict[str, Any]:
    columns: dict[str, Any] = {
        "name": str(body["id"]),
        "enabled": bool(body.get("admin_state_up", True)),
        "port_security": port_security(body),
        "external_ids": external_ids(
            "port",
            body,
            revision,
            network_id=body.get("network_id"),
            device_owner=body.get("device_owner"),
            device_id=body.get("device_id"),
            security_group_ids=" ".join(body.get("security_groups") or []),
            subnet_ids=" ".join(str(ip.get("subnet_id")) for ip in body.get("fixed_ips") or []),
        ),
    }
    if is_router_interface(body):
        options = {"router-port": router_port_name(body["id"])}
        if body.get("device_owner") == ROUTER_GATEWAY:
            options["nat-addresses"] = "router"  # the gateway chassis announces the router's NAT addresses
        columns.update(type="router", addresses=["router"], options=options)
    else:
        columns.update(type="", addresses=[" ".join([str(body["mac_address"]), *port_ips(body)])], options={})
    return columns


# Neutron's IPv6 modes as OVN's ``ipv6_ra_configs:address_mode`` names them.
RA_ADDRESS_MODES = {"slaac": "slaac", "dhcpv6-stateful": "dhcpv6_stateful", "dhcpv6-stateless": "dhcpv6_stateless"}


def ra_configs(mode: str | None, mtu: int | None, gateway: bool) -> dict[str, str]:
    """A router port's ``ipv6_ra_configs`` for an IPv6 subnet whose mode is ``mode`` (its
    ``ipv6_address_mode``, else its ``ipv6_ra_mode``; none: no RAs), as Neutron's OVN driver:
    periodic RAs, except on a gateway port (the RAs of project networks must not leak into
    the external one), with the network's MTU."""
    address_mode = RA_ADDRESS_MODES.get(mode or "")
    if address_mode is None:
        return {}
    configs = {"address_mode": address_mode, "send_periodic": str(not gateway).lower()}
    if mtu:
        configs["mtu"] = str(mtu)
    return configs


def router_port_columns(body: Mapping[str, Any], prefixes: Mapping[str, int]) -> dict[str, Any]:
    """The router's side of a router interface port: its MAC and ``ip/prefix`` networks
    (``prefixes``: subnet id -> prefix length)."""
    networks = [
        f"{ip['ip_address']}/{prefixes[ip['subnet_id']]}"
        for ip in body.get("fixed_ips") or []
        if ip.get("subnet_id") in prefixes
    ]
    return {
        "name": router_port_name(body["id"]),
        "mac": str(body["mac_address"]),
        "networks": networks,
        "external_ids": {
            id_key("port"): str(body["id"]),
            REVISION: str(body.get("revision_number", 0)),
            f"{PREFIX}gateway": str(body.get("device_owner") == ROUTER_GATEWAY).lower(),
        },
    }


# --- security groups ------------------------------------------------------------------

PORT_PROTOCOLS = ("tcp", "udp", "sctp")
ICMP = {4: ("icmp", "1"), 6: ("icmp", "ipv6-icmp", "58", "icmpv6")}


def _protocol_match(rule: Mapping[str, Any], version: int) -> list[str]:
    proto = rule.get("protocol")
    low, high = rule.get("port_range_min"), rule.get("port_range_max")
    if proto is None or proto in ("any", ""):
        return []
    proto = str(proto).lower()
    if proto in PORT_PROTOCOLS or proto in ("6", "17", "132"):
        name = {"6": "tcp", "17": "udp", "132": "sctp"}.get(proto, proto)
        if low is None:
            return [name]
        if high is None or high == low:
            return [name, f"{name}.dst == {low}"]
        return [name, f"{name}.dst >= {low}", f"{name}.dst <= {high}"]
    if proto in ICMP[version] or proto in ICMP[6]:
        icmp = "icmp4" if version == 4 else "icmp6"
        parts = [icmp]
        if low is not None:
            parts.append(f"{icmp}.type == {low}")
            if high is not None:
                parts.append(f"{icmp}.code == {high}")
        return parts
    return [f"ip.proto == {int(proto)}"]


def acl_match(group_id: str, rule: Mapping[str, Any]) -> str:
    """The OVN match of one security group rule."""
    version = 6 if rule.get("ethertype") == "IPv6" else 4
    ip = f"ip{version}"
    ingress = rule.get("direction", "ingress") == "ingress"
    parts = [f"{'outport' if ingress else 'inport'} == @{group_name(group_id)}", ip]
    remote_side = "src" if ingress else "dst"
    if rule.get("remote_ip_prefix"):
        parts.append(f"{ip}.{remote_side} == {rule['remote_ip_prefix']}")
    elif rule.get("remote_group_id"):
        parts.append(f"{ip}.{remote_side} == ${group_name(rule['remote_group_id'])}_ip{version}")
    parts += _protocol_match(rule, version)
    return " && ".join(parts)


def acl_rows(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ACLs of a security group: one allow per rule, stateful or not as the group is."""
    action = "allow-related" if body.get("stateful", True) else "allow-stateless"
    return [
        {
            "direction": "to-lport" if rule.get("direction", "ingress") == "ingress" else "from-lport",
            "priority": ACL_PRIORITY_ALLOW,
            "match": acl_match(str(body["id"]), rule),
            "action": action,
            "external_ids": {id_key("security_group_rule"): str(rule.get("id", ""))},
        }
        for rule in body.get("security_group_rules") or []
    ]


def group_columns(body: Mapping[str, Any], revision: int) -> dict[str, Any]:
    return {
        "name": group_name(str(body["id"])),
        "external_ids": external_ids(
            "security_group", body, revision, stateful=str(body.get("stateful", True)).lower()
        ),
    }


def drop_acls() -> list[dict[str, Any]]:
    """What the default-drop group holds: any IP to or from its ports is dropped below the allows."""
    return [
        {
            "direction": direction,
            "priority": ACL_PRIORITY_DROP,
            "match": f"{side} == @{DROP_GROUP} && ip",
            "action": "drop",
            "external_ids": {},
        }
        for direction, side in (("from-lport", "inport"), ("to-lport", "outport"))
    ]


# --- routers --------------------------------------------------------------------------


def router_columns(body: Mapping[str, Any], revision: int) -> dict[str, Any]:
    gateway = body.get("external_gateway_info") or {}
    snat = bool(gateway) and bool(gateway.get("enable_snat", True))
    return {
        "name": router_name(str(body["id"])),
        "enabled": bool(body.get("admin_state_up", True)),
        "external_ids": external_ids("router", body, revision, enable_snat=str(snat).lower()),
    }


def nat_rows(enable_snat: bool, gateway_networks: Sequence[str], inside_networks: Sequence[str]) -> list[dict]:
    """A router's SNAT: each inside IPv4 subnet leaves through the gateway's first IPv4 address
    (``networks`` as a router port holds them: ``ip/prefix``)."""
    outside = [ipaddress.ip_interface(n) for n in gateway_networks if ipaddress.ip_interface(n).version == 4]
    if not (enable_snat and outside):
        return []
    return [
        {"type": "snat", "external_ip": str(outside[0].ip), "logical_ip": str(ipaddress.ip_interface(n).network)}
        for n in inside_networks
        if ipaddress.ip_interface(n).version == 4
    ]


def default_route(next_hop: str | None) -> list[dict]:
    """The router's default route through its external subnet's gateway, if it has one."""
    if not next_hop:
        return []
    return [{"ip_prefix": "0.0.0.0/0", "nexthop": next_hop, "external_ids": {f"{PREFIX}gateway": "true"}}]


EXTRA_ROUTE = f"{PREFIX}extra_route"


def extra_routes(routes: Sequence[Mapping[str, Any]]) -> list[dict]:
    """A router's ``routes`` (extra routes) as static routes."""
    return [
        {
            "ip_prefix": str(ipaddress.ip_network(route["destination"], strict=False)),
            "nexthop": str(route["nexthop"]),
            "external_ids": {EXTRA_ROUTE: "true"},
        }
        for route in routes
    ]


def gateway_chassis(router_port: str, chassis: Sequence[str]) -> list[dict]:
    """``Gateway_Chassis`` rows of a gateway router port: the first chassis has the highest priority."""
    return [
        {"name": f"{router_port}_{name}", "chassis_name": name, "priority": len(chassis) - i}
        for i, name in enumerate(chassis)
    ]


# --- floating IPs ---------------------------------------------------------------------


def realised(kind: str, body: Mapping[str, Any]) -> bool:
    """Whether the resource has rows in NB: a floating IP only while it is associated, a
    port forwarding while its floating IP has a router, if OVN balances its protocol."""
    if kind == "port_forwarding":
        return bool(body.get("router_id")) and str(body.get("protocol")).lower() in LB_PROTOCOLS
    if kind != "floatingip":
        return True
    return bool(body.get("port_id") and body.get("fixed_ip_address") and body.get("router_id"))


FLOATING_IP_OWNER = "network:floatingip"


def fip_columns(body: Mapping[str, Any], revision: int, floating_mac: str | None) -> dict[str, Any]:
    """An associated floating IP's ``dnat_and_snat``. Distributed (``floating_mac``: the MAC of
    the floating IP's own port): ``logical_port`` and ``external_mac`` set, the port's chassis
    answers for it; else the router's gateway chassis does."""
    return {
        "type": "dnat_and_snat",
        "external_ip": str(body["floating_ip_address"]),
        "logical_ip": str(body["fixed_ip_address"]),
        "logical_port": [str(body["port_id"])] if floating_mac else [],
        "external_mac": [floating_mac] if floating_mac else [],
        "external_ids": external_ids(
            "floatingip",
            {**body, "name": body.get("description") or ""},
            revision,
            fip_port_id=body.get("port_id"),
            router_name=router_name(str(body["router_id"])),
            fip_network_id=body.get("floating_network_id"),
            fip_external_mac=floating_mac or "",
        ),
    }
