"""Routers in NB: a router's NAT, static routes and gateway chassis, and floating IPs.

A router's derived rows are recomputed by every transaction that writes the
router or one of its ports (``refresh_router``): SNAT per inside subnet, the
default route through the external subnet's gateway, the gateway port's
``Gateway_Chassis`` or ``HA_Chassis_Group`` (gateways.py). What other resources own is kept: the floating IPs'
``dnat_and_snat`` rows (``WriteFloatingIp``) and, unless the router itself
is written, its extra routes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from quark.drivers.ovn import device_index, gateways
from quark.drivers.ovn import mapping as m
from quark.drivers.ovn.nb import Missing, Write, current, find, insert, rows

GATEWAY = f"{m.PREFIX}gateway"
FIP_KEY = m.id_key("floatingip")


class WriteRouter(Write):
    kind = "router"

    def write(self, txn: Any, row: Any) -> None:
        router = self.upsert(txn, row, m.router_columns(self.body, self.revision))
        refresh_router(txn, self.api, router, self.options, routes=self.body.get("routes") or [], new=row is None)


def refresh_router(
    txn: Any,
    api: Any,
    router: Any,
    options: Mapping[str, Any],
    *,
    added: Any = None,
    removed: Any = None,
    routes: Sequence[Mapping[str, Any]] | None = None,
    new: bool = False,
) -> None:
    """Rewrite a router's SNAT, default route and gateway chassis from its ports as they
    are now; ``routes``: its extra routes (None: keep those it has). A verify of the
    router's ports, NAT and routes makes a concurrent writer's transaction rerun."""
    if not new:
        for column in ("ports", "nat", "static_routes"):
            router.verify(column)
    ports = [] if new else _router_ports(router, added, removed)
    gateway = [p for p in ports if p.external_ids.get(GATEWAY) == "true"]
    gateway_ids = {p.uuid for p in gateway}
    _nat(txn, api, router, gateway, [p for p in ports if p.uuid not in gateway_ids], new)
    _static_routes(txn, api, router, gateway, routes)
    if "gateway_chassis" in options:
        for port in gateway:
            gateways.write_gateway(txn, api, router, port, options)


def _nat(txn: Any, api: Any, router: Any, gateway: list[Any], inside: list[Any], new: bool) -> None:
    """SNAT of each inside subnet through the gateway; the floating IPs' rows are kept."""
    outside = [n for p in gateway for n in p.networks]
    snat = router.external_ids.get("quark:enable_snat") == "true"
    floating = [] if new else [nat for nat in router.nat if FIP_KEY in nat.external_ids]
    inside_networks = [n for p in inside for n in p.networks]
    router.nat = floating + [insert(txn, api, "NAT", nat) for nat in m.nat_rows(snat, outside, inside_networks)]


def _static_routes(
    txn: Any, api: Any, router: Any, gateway: list[Any], routes: Sequence[Mapping[str, Any]] | None
) -> None:
    """The default route through the external subnet's gateway, and the extra routes."""
    if routes is None:
        extra = [r for r in current(router, "static_routes") if r.external_ids.get(m.EXTRA_ROUTE) == "true"]
    else:
        extra = [insert(txn, api, "Logical_Router_Static_Route", r) for r in m.extra_routes(routes)]
    default = m.default_route(_next_hop(api, gateway))
    router.static_routes = [insert(txn, api, "Logical_Router_Static_Route", r) for r in default] + extra


def _router_ports(router: Any, added: Any, removed: Any) -> list[Any]:
    """The router's ports with this transaction's addition and removal (the copy may not show them yet)."""
    ports = [p for p in router.ports if removed is None or p.uuid != removed.uuid]
    if added is not None and all(p.uuid != added.uuid for p in ports):
        ports.append(added)
    return ports


def _next_hop(api: Any, gateway: list[Any]) -> str | None:
    """The gateway of the external subnet the router's gateway port is on (its DHCP options' router)."""
    for port in gateway:
        lsp = find(api, "port", port.external_ids.get("quark:port_id", ""))
        subnet_ids = lsp.external_ids.get("quark:subnet_ids", "").split() if lsp is not None else []
        for subnet_id in subnet_ids:
            options = find(api, "subnet", subnet_id)
            if options is not None and options.options.get("router"):
                return str(options.options["router"])
    return None


class WriteFloatingIp(Write):
    """An associated floating IP: a ``dnat_and_snat`` row in its router's NAT; moved with
    the association, removed (with its revision) when it is disassociated."""

    kind = "floatingip"

    def write(self, txn: Any, row: Any) -> None:
        holders = [] if row is None else [r for r in rows(self.api, "Logical_Router") if _holds(r, row)]
        if not m.realised("floatingip", self.body):
            for router in holders:
                router.delvalue("nat", row)
            return
        router = find(self.api, "router", str(self.body["router_id"]))
        if router is None:
            raise Missing(f"logical router {self.body['router_id']}")
        nat = self.upsert(txn, row, m.fip_columns(self.body, self.revision, self._floating_mac()))
        for old in holders:
            if old.uuid != router.uuid:
                old.delvalue("nat", nat)
        if all(old.uuid != router.uuid for old in holders):
            router.addvalue("nat", nat)

    def _floating_mac(self) -> str | None:
        """When floating IPs are distributed: the MAC of the floating IP's own port (on the
        external network; its job may not have run yet: retried until it has)."""
        if not self.options.get("distributed_floating_ips"):
            return None
        fip_id = str(self.body["id"])
        lsp = next(
            (
                r
                for r in device_index.ports_of(self.api, fip_id)
                if r.external_ids.get("quark:device_owner") == m.FLOATING_IP_OWNER
            ),
            None,
        )
        if lsp is None or not lsp.addresses:
            raise Missing(f"the port of floating IP {fip_id}")
        return str(lsp.addresses[0].split()[0])


def follow_floating_mac(api: Any, fip_id: str, mac: str) -> None:
    """A distributed floating IP's ``external_mac`` is its own port's MAC: a newer revision of
    that port with another MAC rewrites it (not the NAT row's revision: the floating IP's
    view did not change; its job, when one comes, writes the same MAC)."""
    for nat in rows(api, "NAT"):
        if nat.external_ids.get(FIP_KEY) == fip_id and nat.external_mac and nat.external_mac[0] != mac:
            nat.external_mac = [mac]
            nat.setkey("external_ids", f"{m.PREFIX}fip_external_mac", mac)


def _holds(router: Any, nat: Any) -> bool:
    return any(n.uuid == nat.uuid for n in router.nat)
