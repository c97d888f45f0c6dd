"""The drivers that call nothing: ``agent`` and ``unmanaged``.

``agent`` is Quark's own dataplane: the hosts' agents read the desired state
from the API (docs/dataplane.md), so a change needs no call after its commit.
``unmanaged``: someone else realises the network; Quark only keeps its data.
Both succeed at every call and write no outbox job (``needs_backend``);
``agent`` realises flat, VLAN and VXLAN networks only, ``unmanaged`` any."""

from __future__ import annotations

from quark.drivers.base import Change, Driver


class AgentDriver(Driver):
    needs_backend = False
    # What quark agent's L2 plan realises (quark/agent/plan.py).
    network_types = frozenset({"flat", "vlan", "vxlan"})

    async def apply(self, change: Change) -> None:
        return None


class UnmanagedDriver(Driver):
    needs_backend = False

    async def apply(self, change: Change) -> None:
        return None
