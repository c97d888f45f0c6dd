"""Port binding as the port service sees it: what ``binding:host_id`` turns into.

The port service asks a ``Binder`` inside the transaction of the request
that sets a host and stores the answer, so Nova sees the result in the
response of that same request (contract §4.6). In a server the binder is
the dataplane's (``quark.services.dataplane.binding``: the host's agent
must be alive and able to serve the network); ``UnboundBinder`` stores the
host and binds nothing.

Statuses: a port bound to a device is ``BUILD`` until whoever realises it
reports ``ACTIVE`` (``DOWN`` while admin_state_up is false); unbound and
failed ports are ``DOWN``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

UNBOUND_TYPE = "unbound"
FAILED_TYPE = "binding_failed"


def is_bound(vif_type: str | None) -> bool:
    """Whether a ``binding:vif_type`` means a device realises the port."""
    return vif_type is not None and vif_type not in (UNBOUND_TYPE, FAILED_TYPE)


def bound_host(host: str | None, vif_type: str | None) -> str:
    """The host realising a port, or "" when the port is not bound to a device there."""
    return (host or "") if is_bound(vif_type) else ""


def bound_status(admin_state_up: bool) -> str:
    """Status of a port just bound (before whoever realises it reports)."""
    return "BUILD" if admin_state_up else "DOWN"


@dataclass(frozen=True)
class BindingResult:
    vif_type: str
    vif_details: dict[str, Any] = field(default_factory=dict)
    # New port status, or None to leave it as it is.
    status: str | None = None

    @property
    def bound(self) -> bool:
        return is_bound(self.vif_type)


UNBOUND = BindingResult(UNBOUND_TYPE, {}, "DOWN")
BINDING_FAILED = BindingResult(FAILED_TYPE, {}, "DOWN")


class Binder(Protocol):
    async def bind(self, conn: AsyncConnection, port: Any, network: Any, host: str) -> BindingResult:
        """Bind ``port`` (a ports row) on ``network`` (a networks row) to ``host``."""
        ...


class UnboundBinder:
    """Stores the host and leaves the port unbound (no host agents)."""

    async def bind(self, conn: AsyncConnection, port: Any, network: Any, host: str) -> BindingResult:
        return UNBOUND
