"""Port binding: what ``binding:host_id`` turns into.

``PortService`` calls the binder inside the transaction of the PUT (or POST)
that sets or clears a host, and stores what it answers, so Nova sees the
result in the response of that same request (contract §4.6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class BindingResult:
    vif_type: str
    vif_details: dict[str, Any] = field(default_factory=dict)
    # New port status, or None to leave it as it is.
    status: str | None = None


UNBOUND = BindingResult("unbound", {}, "DOWN")


class Binder(Protocol):
    async def bind(self, conn: AsyncConnection, port: Any, network: Any, host: str) -> BindingResult:
        """Bind ``port`` (a ports row) on ``network`` to ``host``."""


class UnboundBinder:
    """Stores the host and leaves the port unbound: no host agents yet."""

    async def bind(self, conn: AsyncConnection, port: Any, network: Any, host: str) -> BindingResult:
        return UNBOUND
