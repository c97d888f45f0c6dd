"""Change events: how a change to one resource reaches what depends on it.

A service that changes a resource publishes an event that says what changed,
inside the change's own transaction. Every subscriber runs there too, in the
order the wiring declares (``quark.services.wiring``, the one place where
subscriptions are made), and writes what the change means for its own
resources in that same transaction: host-state generations, DHCP ports,
route rows, floating-IP associations, security-group memberships. A
subscriber that fails rolls the whole change back; nothing it writes can be
seen without the change, or lost after it.

Publishers do not know their subscribers: a port delete publishes
``PortDeleting`` and does not know that floating IPs and hosts care. Events
are typed, frozen dataclasses; handlers are ``async (conn, event) -> None``.
Every event here is of the in-transaction phase (``InTransaction``): the
request is answered only after its handlers ran and the transaction
committed. Work that must not hold the request (a call to a remote system)
is written by a handler as an outbox row in the same transaction and done
by a worker after commit (``dataplane.nova_events`` is the model).

The names say the phase of the change the event is published in:
``...ing`` before the rows go (they can still be read), ``...ed`` after the
rows are written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from quark.context import Context


class InTransaction:
    """An event published inside the transaction of the change it describes."""


E = TypeVar("E", bound=InTransaction)
Handler = Callable[[AsyncConnection, E], Awaitable[None]]


class Events:
    """The subscriptions of one process: event type -> handlers, in order.

    Filled once by the wiring and then frozen: a subscription made later
    would silently miss the events published before it.
    """

    def __init__(self) -> None:
        self._handlers: dict[type[InTransaction], list[Handler[Any]]] = {}
        self._frozen = False

    def subscribe(self, kind: type[E], handler: Handler[E]) -> None:
        if self._frozen:
            raise RuntimeError(f"subscriptions are closed; {handler!r} for {kind.__name__} comes too late")
        self._handlers.setdefault(kind, []).append(handler)

    def freeze(self) -> None:
        self._frozen = True

    def handlers(self, kind: type[InTransaction]) -> tuple[Handler[Any], ...]:
        """The handlers of ``kind``, in the order they run (for the wiring's tests)."""
        return tuple(self._handlers.get(kind, ()))

    async def publish(self, conn: AsyncConnection, event: InTransaction) -> None:
        """Run every handler of the event's exact type, in order, in ``conn``'s transaction."""
        for handler in self._handlers.get(type(event), ()):
            await handler(conn, event)


# --- every countable resource -------------------------------------------------------


@dataclass(frozen=True)
class ResourcesCreated(InTransaction):
    """Rows of a countable resource (``resource``: its quota name, e.g. "port")
    were written: ``counts`` maps each owning project to how many are new.
    Published by the creates a caller asks for, as the last write of each
    (quotas may refuse them; their lock is then held the shortest time)."""

    resource: str
    counts: Mapping[str, int]


# --- every resource a backend driver realises --------------------------------------


@dataclass(frozen=True)
class Written:
    """One resource row written: its revision after the change (before it, for
    a delete) and the driver that realises it (None: the subscriber reads the
    driver of ``network_id``; no network either: the deployment's default)."""

    resource_id: str
    revision: int
    project_id: str
    network_id: str | None = None
    driver: str | None = None


@dataclass(frozen=True)
class ResourcesWritten(InTransaction):
    """Networks, subnets, ports, security groups or routers (``resource``) were
    created, updated or deleted (``operation``): what a backend driver must
    follow (docs/drivers.md). ``ctx`` is the request's, when a caller asked:
    the jobs made for it are told to it (``ctx.jobs``)."""

    resource: str
    operation: str
    items: tuple[Written, ...]
    ctx: Context | None = None


# --- networks ------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkUpdated(InTransaction):
    """A network's row was updated: ``changes`` maps the columns that changed to their new values."""

    network_id: str
    changes: Mapping[str, Any]


@dataclass(frozen=True)
class NetworkClearing(InTransaction):
    """A network is asked to go, before it is checked for use: what goes with it
    unasked goes now (Neutron's _process_l3_delete: unassociated floating IPs).
    ``network`` is its row."""

    network: Any


@dataclass(frozen=True)
class NetworkDeleting(InTransaction):
    """A network is about to go (it is not in use): what hangs on it must let go.

    ``network`` is its row, ``subnet_ids`` its subnets (deleted with it)."""

    network: Any
    subnet_ids: tuple[str, ...]


# --- subnets -------------------------------------------------------------------------


@dataclass(frozen=True)
class SubnetCreated(InTransaction):
    """A subnet row (and its usage counters) was written; ``subnet`` has the row's values."""

    subnet: Any


@dataclass(frozen=True)
class SubnetUpdated(InTransaction):
    """A subnet was updated: ``subnet`` is its row before, ``changes`` maps the
    columns asked to change to their new values (``host_routes`` is there
    whenever the route rows must follow)."""

    subnet: Any
    changes: Mapping[str, Any]


@dataclass(frozen=True)
class SubnetDeleted(InTransaction):
    """A subnet row and its allocations are gone; ``subnet`` is the row before."""

    subnet: Any


# --- ports ---------------------------------------------------------------------------


@dataclass
class GroupChoice:
    """The security groups of one new port, to be decided by the security domain.

    ``requested`` is what the caller asked for (None: nothing asked); a handler
    checks it and fills ``groups``. ``known_default`` is the port's project's
    default group when the port service read it already (None: unknown).
    """

    project_id: str
    device_owner: str
    port_security: bool
    requested: list[str] | None
    known_default: str | None = None
    groups: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PortsCreating(InTransaction):
    """Ports are about to be written; handlers decide their security groups."""

    ctx: Context
    choices: Sequence[GroupChoice]


@dataclass(frozen=True)
class PortGroupsChanging(InTransaction):
    """A port's security groups are about to change to ``wanted`` (``added`` are new)."""

    ctx: Context
    port_id: str
    project_id: str
    added: tuple[str, ...]
    wanted: tuple[str, ...] = ()


@dataclass(frozen=True)
class PortChange:
    """One port of a network that changed: the host realising it before and after
    ("" when it is not bound to a host agent's device)."""

    port_id: str
    host_before: str
    host_after: str


@dataclass(frozen=True)
class PortsChanged(InTransaction):
    """Ports of ``network`` (its row) were created or changed in what hosts show.

    ``dhcp`` false: the DHCP documents cannot have changed (a rebind).
    ``groups``: the security groups of the ports after the change, when the
    publisher has them at hand (None: a subscriber that needs them reads them)."""

    network: Any
    changes: tuple[PortChange, ...]
    dhcp: bool = True
    groups: frozenset[str] | None = None


@dataclass(frozen=True)
class PortAddressesChanged(InTransaction):
    """The ports stopped holding some addresses or started holding others."""

    port_ids: tuple[str, ...]


@dataclass(frozen=True)
class PortDeleting(InTransaction):
    """A port is about to be deleted; ``port`` is its row, ``network`` its network's."""

    port: Any
    network: Any
    host: str


# --- floating IPs --------------------------------------------------------------------


@dataclass(frozen=True)
class FloatingIpAssociating(InTransaction):
    """A floating IP (``floatingip``: its row, locked) is about to be associated with
    ``port_id``: what the floating IP is already used for may refuse it."""

    floatingip: Any
    port_id: str


@dataclass(frozen=True)
class FloatingIpDeleting(InTransaction):
    """A floating IP is about to be deleted (``floatingip``: its row, locked)."""

    floatingip: Any


@dataclass(frozen=True)
class PortForwardingsChanged(InTransaction):
    """Port forwardings of the floating IPs ``floatingip_ids`` were created, changed
    or deleted (``internal_port_ids``: the ports they forward to, before and after).
    ``router_ids``: the routers that realise them, before and after (an L3 host's concern)."""

    floatingip_ids: tuple[str, ...]
    internal_port_ids: tuple[str, ...]
    router_ids: tuple[str, ...]


# --- security groups -----------------------------------------------------------------


@dataclass(frozen=True)
class SecurityGroupRulesChanged(InTransaction):
    """Rules of the groups ``group_ids`` were created or deleted (the ports of
    those groups are filtered differently now)."""

    group_ids: tuple[str, ...]


@dataclass(frozen=True)
class AddressGroupsChanged(InTransaction):
    """Addresses of the address groups ``address_group_ids`` were added or
    removed (the ports whose rules name them are filtered differently now)."""

    address_group_ids: tuple[str, ...]


# --- routers -------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutersChanged(InTransaction):
    """What the L3 host of these routers realises changed (the router, its
    interfaces, gateway, extra routes or floating IPs); ``hosts``: hosts that
    must hear of it besides the routers' own (a deleted router's)."""

    router_ids: tuple[str, ...]
    hosts: tuple[str, ...] = ()


# --- agents --------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentReported(InTransaction):
    """An agent reported: its row before (None if it is new) and after, and
    whether it was alive before this report."""

    before: Any
    after: Any
    was_alive: bool


@dataclass(frozen=True)
class AgentChanged(InTransaction):
    """An admin changed an agent (``after`` its row) or deleted it (``after`` None)."""

    before: Any
    after: Any


EVENT_TYPES: tuple[type[InTransaction], ...] = (
    ResourcesCreated,
    ResourcesWritten,
    NetworkUpdated,
    NetworkClearing,
    NetworkDeleting,
    SubnetCreated,
    SubnetUpdated,
    SubnetDeleted,
    PortsCreating,
    PortGroupsChanging,
    PortsChanged,
    PortAddressesChanged,
    PortDeleting,
    FloatingIpAssociating,
    FloatingIpDeleting,
    PortForwardingsChanged,
    SecurityGroupRulesChanged,
    AddressGroupsChanged,
    RoutersChanged,
    AgentReported,
    AgentChanged,
)
