"""The Neutron port a release is for.

Neutron's ``Subnet.deallocate(address)`` carries only the address. Every
Neutron caller of it (``IpamPluggableBackend._ipam_deallocate_ips``, used by
port delete, port update and the rollbacks of failed creates and updates;
``add_auto_addrs_on_network_ports``) has the port in a local named ``port``:
a dict with an ``id`` or a Port object. The nearest such frame of a
``neutron.*`` module names the holder.
"""

from __future__ import annotations

import sys
from typing import Any


def holder_of_caller(depth: int = 12) -> str | None:
    """The id of the port a Neutron frame up the stack is working on (its
    ``port`` local: a dict with an ``id`` or a Port object), nearest first."""
    frame: Any = sys._getframe(1)
    for _ in range(depth):
        if frame is None:
            return None
        if frame.f_globals.get("__name__", "").startswith("neutron."):
            port = frame.f_locals.get("port")
            port_id = port.get("id") if isinstance(port, dict) else getattr(port, "id", None)
            if isinstance(port_id, str) and port_id:
                return port_id
        frame = frame.f_back
    return None
