"""ovsdbapp commands: compare-and-swap writes of one resource's rows, deletes, reads.

A write (``Write`` subclasses) finds its resource's row, *verifies* the
row's ``external_ids`` (an OVSDB ``wait`` on the column's current value is
added to the transaction) and writes only if the row's revision is older
than the change's. If another writer changed the row in between, the server
refuses the transaction, ovsdbapp gets ``TRY_AGAIN``, refreshes its copy and
runs the command again, which then sees the newer revision: an older
revision never overwrites a newer one, and a revision already held is a
no-op. A row the write depends on that is not there yet (the switch of a
port's network, a subnet's DHCP options, a security group's port group)
raises ``Missing``: the change is retried later.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from ovsdbapp.backend.ovs_idl.command import BaseCommand

from quark.drivers.ovn import forwarding, gateways, routing
from quark.drivers.ovn import mapping as m
from quark.drivers.ovn.nb import Missing, Write, current, find, find_named, rows
from quark.drivers.ovn.nb import insert as _insert
from quark.drivers.ovn.nb import set_columns as _set


class WriteNetwork(Write):
    kind = "network"

    def write(self, txn: Any, row: Any) -> None:
        switch = self.upsert(txn, row, m.network_columns(self.body, self.revision))
        self._localnet(txn, switch)
        mtu = self.body.get("mtu")
        if not mtu:
            return
        for options in rows(self.api, "DHCP_Options"):  # the subnets' DHCP options follow the MTU
            ids = options.external_ids
            if ids.get("quark:network_id") == self.body["id"] and ids.get("quark:ip_version") == "4":
                options.setkey("options", "mtu", str(mtu))
        for port in current(switch, "ports"):  # and the router advertisements of its router ports
            lrp = find_named(self.api, "Logical_Router_Port", port.options.get("router-port", ""))
            if lrp is not None and "mtu" in lrp.ipv6_ra_configs:
                lrp.setkey("ipv6_ra_configs", "mtu", str(mtu))

    def _localnet(self, txn: Any, switch: Any) -> None:
        wanted = m.localnet_columns(self.body)
        port = find_named(self.api, "Logical_Switch_Port", m.provnet_name(self.body["id"]))
        if wanted is None:
            if port is not None:
                switch.delvalue("ports", port)
                port.delete()
            return
        if port is None:
            switch.addvalue("ports", _insert(txn, self.api, "Logical_Switch_Port", wanted))
        else:
            _set(port, wanted)


def network_mtu(api: Any, network_id: str) -> int | None:
    switch = find(api, "network", network_id)
    if switch is None:
        raise Missing(f"logical switch of network {network_id}")
    mtu = switch.external_ids.get("quark:mtu")
    return int(mtu) if mtu else None


class WriteSubnet(Write):
    kind = "subnet"

    def write(self, txn: Any, row: Any) -> None:
        mtu = network_mtu(self.api, str(self.body["network_id"]))
        self.upsert(txn, row, m.subnet_columns(self.body, self.revision, mtu))


class WritePort(Write):
    kind = "port"

    def write(self, txn: Any, row: Any) -> None:
        switch = find(self.api, "network", str(self.body["network_id"]))
        if switch is None:
            raise Missing(f"logical switch of network {self.body['network_id']}")
        columns = m.port_columns(self.body, self.revision)
        columns.update(self._dhcp())
        groups = self._groups(txn)  # before any write: a missing group writes nothing
        lsp = self.upsert(txn, row, columns)
        if row is None:
            switch.addvalue("ports", lsp)
        for group, member in groups:
            if member:
                group.addvalue("ports", lsp)
            elif row is not None:
                group.delvalue("ports", lsp)
        if m.is_router_interface(self.body):
            self._router_port(txn)
        elif self.body.get("device_owner") == m.FLOATING_IP_OWNER and self.options.get("distributed_floating_ips"):
            routing.follow_floating_mac(self.api, str(self.body.get("device_id")), str(self.body["mac_address"]))

    def _dhcp(self) -> dict[str, Any]:
        found: dict[str, Any] = {"dhcpv4_options": [], "dhcpv6_options": []}
        for ip in self.body.get("fixed_ips") or []:
            options = find(self.api, "subnet", str(ip.get("subnet_id")))
            if options is None:
                raise Missing(f"DHCP options of subnet {ip.get('subnet_id')}")
            ids = options.external_ids
            column = "dhcpv6_options" if ids.get("quark:ip_version") == "6" else "dhcpv4_options"
            if ids.get("quark:enable_dhcp") == "true" and not found[column]:
                found[column] = options
        return found

    def _groups(self, txn: Any) -> list[tuple[Any, bool]]:
        """Every port group of Quark's with whether this port belongs to it."""
        wanted = set(m.port_groups(self.body))
        groups = [g for g in rows(self.api, "Port_Group") if "quark:security_group_id" in g.external_ids]
        drop = find_named(self.api, "Port_Group", m.DROP_GROUP)
        if drop is None and m.DROP_GROUP in wanted:
            drop = _insert(txn, self.api, "Port_Group", {"name": m.DROP_GROUP, "external_ids": {}})
            drop.acls = [_insert(txn, self.api, "ACL", acl) for acl in m.drop_acls()]
        if drop is not None:
            groups.append(drop)
        missing = wanted - {g.name for g in groups}
        if missing:
            raise Missing(f"port groups {sorted(missing)}")
        return [(g, g.name in wanted) for g in groups]

    def _router_port(self, txn: Any) -> None:
        router = find(self.api, "router", str(self.body["device_id"]))
        if router is None:
            raise Missing(f"logical router {self.body['device_id']}")
        prefixes: dict[str, int] = {}
        ra: dict[str, str] = {}
        for ip in self.body.get("fixed_ips") or []:
            options = find(self.api, "subnet", str(ip.get("subnet_id")))
            if options is None:
                continue
            prefixes[str(ip["subnet_id"])] = ipaddress.ip_network(options.cidr).prefixlen
            ra = ra or self._ra_configs(options)  # the first IPv6 subnet with a mode decides
        columns = {
            **m.router_port_columns({**self.body, "revision_number": self.revision}, prefixes),
            "ipv6_ra_configs": ra,
        }
        lrp = find_named(self.api, "Logical_Router_Port", columns["name"])
        if lrp is None:
            lrp = _insert(txn, self.api, "Logical_Router_Port", columns)
            router.addvalue("ports", lrp)
        else:
            _set(lrp, columns)
        routing.refresh_router(txn, self.api, router, self.options, added=lrp)

    def _ra_configs(self, options: Any) -> dict[str, str]:
        """The router advertisements of the port on the subnet of ``options`` (none for IPv4)."""
        ids = options.external_ids
        if ids.get("quark:ip_version") != "6":
            return {}
        return m.ra_configs(
            ids.get("quark:ipv6_address_mode") or ids.get("quark:ipv6_ra_mode"),
            network_mtu(self.api, str(self.body["network_id"])),
            gateway=self.body.get("device_owner") == m.ROUTER_GATEWAY,
        )


class WriteGroup(Write):
    kind = "security_group"

    def write(self, txn: Any, row: Any) -> None:
        group = self.upsert(txn, row, m.group_columns(self.body, self.revision))
        # The ACLs are rewritten as a whole; the old ones, no longer referenced, are collected.
        group.acls = [_insert(txn, self.api, "ACL", acl) for acl in m.acl_rows(self.body)]


WRITES: dict[str, type[Write]] = {
    "network": WriteNetwork,
    "subnet": WriteSubnet,
    "port": WritePort,
    "security_group": WriteGroup,
    "router": routing.WriteRouter,
    "floatingip": routing.WriteFloatingIp,
    "port_forwarding": forwarding.WriteForwarding,
}


class Delete(BaseCommand):
    """Delete one resource's rows; a resource OVN does not hold is not an error."""

    def __init__(self, api: Any, kind: str, resource_id: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(api)
        self.kind = kind
        self.resource_id = resource_id
        self.options = options or {}

    def run_idl(self, txn: Any) -> None:
        row = find(self.api, self.kind, self.resource_id)
        self.result = row is not None
        if row is None:
            return
        if self.kind == "port":
            self._detach(row, "Logical_Switch")
            lrp = find_named(self.api, "Logical_Router_Port", m.router_port_name(self.resource_id))
            if lrp is not None:
                for router in self._detach(lrp, "Logical_Router"):
                    routing.refresh_router(txn, self.api, router, self.options, removed=lrp)
                groups = current(lrp, "ha_chassis_group")
                if groups:
                    # A root row, it would outlive the port: deleted, with the port's reference
                    # cleared (a non-root row's delete is left to the server's garbage collection,
                    # which runs after its reference check: the port must be updated instead).
                    lrp.ha_chassis_group = []
                    for group in groups:
                        group.delete()
                else:
                    lrp.delete()
        elif self.kind == "floatingip":
            self._detach(row, "Logical_Router", "nat")
        elif self.kind == "port_forwarding":
            self._detach(row, "Logical_Router", "load_balancer")
        elif self.kind == "router":
            gateways.drop_group(self.api, self.resource_id)
        row.delete()

    def _detach(self, row: Any, parent_table: str, column: str = "ports") -> list[Any]:
        parents = [
            parent
            for parent in rows(self.api, parent_table)
            if any(p.uuid == row.uuid for p in getattr(parent, column))
        ]
        for parent in parents:
            parent.delvalue(column, row)
        return parents


class ReadRevisions(BaseCommand):
    """What OVN holds of Quark's: kind -> {resource id: revision}, of ``kinds`` (None: all)."""

    READ_ONLY = True

    def __init__(self, api: Any, kinds: Iterable[str] | None = None) -> None:
        super().__init__(api)
        self.kinds = tuple(m.TABLES if kinds is None else kinds)

    def run_idl(self, txn: Any) -> None:
        held: dict[str, dict[str, int]] = {}
        for kind in self.kinds:
            table = m.TABLES[kind]
            key = m.id_key(kind)
            held[kind] = {
                r.external_ids[key]: m.revision_of(r.external_ids)
                for r in rows(self.api, table)
                if key in r.external_ids and (kind != "port" or r.name == r.external_ids[key])
            }
        self.result = held


class ReadPortUp(BaseCommand):
    """The ``up`` column of a port's logical switch port (None: no such port, or not set)."""

    READ_ONLY = True

    def __init__(self, api: Any, port_id: str) -> None:
        super().__init__(api)
        self.port_id = port_id

    def run_idl(self, txn: Any) -> None:
        row = find(self.api, "port", self.port_id)
        self.result = bool(row.up[0]) if row is not None and row.up else None


class ReadPortsUp(BaseCommand):
    """``up`` of the given ports' logical switch ports: port id -> bool (ports NB lacks left out)."""

    READ_ONLY = True

    def __init__(self, api: Any, port_ids: Any) -> None:
        super().__init__(api)
        self.port_ids = set(port_ids)

    def run_idl(self, txn: Any) -> None:
        key = m.id_key("port")
        self.result = {
            r.external_ids[key]: bool(r.up and r.up[0])
            for r in rows(self.api, "Logical_Switch_Port")
            if r.external_ids.get(key) in self.port_ids
        }
