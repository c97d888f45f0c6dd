"""Floating IP port forwardings in NB: OVN ``Load_Balancer`` rows of the router.

As Neutron's OVN port-forwarding driver, a forwarding is a load balancer
whose VIPs map ``floating address:external port`` to ``internal address:
internal port`` (one VIP per port of a range: N-N pairs them in order, N-1
sends them all to the one internal port), of the forwarding's protocol
(``tcp``, ``udp``, ``sctp``: what OVN balances), in the ``load_balancer``
of the router that realises the floating IP; northd DNATs the VIPs on the
router's gateway. Neutron keeps one row per floating IP and protocol
(``pf-floatingip-<fip id>-<protocol>``) with every VIP in it; Quark writes
one row per forwarding (``pf-floatingip-<fip id>-<protocol>-<forwarding
id>``) so that each carries the revision it was written from and is
compared and swapped on it like every other row (nb.Write).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quark.drivers.ovn import mapping as m
from quark.drivers.ovn.nb import Missing, Write, find, rows

PREFIX = "pf-floatingip"  # Neutron's PORT_FORWARDING_PREFIX
OWNER = "port_forwarding_plugin"  # Neutron's device_owner of its forwardings' load balancers


def lb_name(fip_id: str, protocol: str, pf_id: str) -> str:
    return f"{PREFIX}-{fip_id}-{protocol}-{pf_id}"


def vips(body: Mapping[str, Any]) -> dict[str, str]:
    """``floating:external`` -> ``internal:port`` for each external port of the range."""
    ext_start, ext_end = int(body["external_port_start"]), int(body["external_port_end"])
    int_start, int_end = int(body["internal_port_start"]), int(body["internal_port_end"])
    found = {}
    for offset, external in enumerate(range(ext_start, ext_end + 1)):
        internal = int_start if int_start == int_end else int_start + offset
        found[f"{body['floating_ip_address']}:{external}"] = f"{body['internal_ip_address']}:{internal}"
    return found


def lb_columns(body: Mapping[str, Any], revision: int) -> dict[str, Any]:
    protocol = str(body["protocol"]).lower()
    return {
        "name": lb_name(str(body["floatingip_id"]), protocol, str(body["id"])),
        "protocol": protocol,
        "vips": vips(body),
        "external_ids": m.external_ids(
            "port_forwarding",
            {**body, "name": body.get("description") or ""},
            revision,
            device_owner=OWNER,
            floatingip_id=body["floatingip_id"],
            router_name=m.router_name(str(body["router_id"])),
            internal_port_id=body.get("internal_port_id"),
        ),
    }


class WriteForwarding(Write):
    """A forwarding's load balancer, in its router's ``load_balancer``; moved with the
    floating IP's router, removed when it is no longer realised."""

    kind = "port_forwarding"

    def write(self, txn: Any, row: Any) -> None:
        holders = [] if row is None else [r for r in rows(self.api, "Logical_Router") if _holds(r, row)]
        if not m.realised(self.kind, self.body):
            if row is not None:
                for router in holders:
                    router.delvalue("load_balancer", row)
                row.delete()  # a root row: it would outlive the reference
            return
        router = find(self.api, "router", str(self.body["router_id"]))
        if router is None:
            raise Missing(f"logical router {self.body['router_id']}")
        lb = self.upsert(txn, row, lb_columns(self.body, self.revision))
        for old in holders:
            if old.uuid != router.uuid:
                old.delvalue("load_balancer", lb)
        if all(old.uuid != router.uuid for old in holders):
            router.addvalue("load_balancer", lb)


def _holds(router: Any, lb: Any) -> bool:
    return any(b.uuid == lb.uuid for b in router.load_balancer)
