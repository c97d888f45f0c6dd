"""What the Neutron import reads from: a source of Neutron's resources, each as
Neutron's API shows it, in pages. The readers (Neutron's API, Neutron's
database) live with the command (``quark/cli/neutron_sources/``): no HTTP here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class NeutronSource(Protocol):
    """Resources of one kind of ``records.KINDS``: ``router_interfaces`` are
    ``{"router_id", "port_id", "subnet_id", "id"}`` (the id: the port's)."""

    async def count(self, kind: str) -> int:
        """How many records ``pages(kind)`` yields (for the progress bar)."""
        ...

    def pages(self, kind: str) -> AsyncIterator[list[dict]]:
        """The records of ``kind``, a page at a time, in a stable order."""
        ...

    async def close(self) -> None: ...
