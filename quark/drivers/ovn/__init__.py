"""The OVN driver (docs/ovn.md): Quark's networks, subnets, ports, security
groups and routers as OVN northbound rows, written compare-and-swap on the
Quark revision each row carries."""

from quark.drivers.ovn.driver import OvnDriver

__all__ = ["OvnDriver"]
