"""The driver interface: one class per backend, called by the outbox worker.

A driver is given each change of a resource *at a revision*: the resource's
view as the API shows it (``Change.body``) and its ``revision_number``. A
driver that writes a backend (an SDN controller) stores the revision with
what it writes and writes only over an older one (compare-and-swap), so a
retried or late call never puts an older state over a newer one; a repeated
call of one revision is a no-op. The worker runs the changes of one resource
in order, one at a time, and never calls a driver inside an API request.

Errors: ``RetryableError`` (the backend is down, busy, timed out) makes the
worker try again later with back-off; any other exception fails the job for
good and puts the resource in ``ERROR`` (where it has a status).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

RESOURCE_TYPES = ("network", "subnet", "port", "security_group", "router", "floatingip", "port_forwarding")
OPERATIONS = ("create", "update", "delete")


class DriverError(Exception):
    """A backend refused the change for good: the job fails, the resource is in ERROR."""


class RetryableError(DriverError):
    """The backend could not take the change now (down, busy, timed out): try again later."""


class UnknownDriver(LookupError):
    """No driver of that name is installed (entry point group ``quark.drivers``)."""


@dataclass(frozen=True)
class Change:
    """One change of one resource, as a driver is given it.

    ``body`` is the resource's view at ``revision`` (for a delete: its id and
    what the job recorded of it); ``job_id`` names the job (the request id a
    backend may log)."""

    kind: str
    operation: str
    resource_id: str
    revision: int
    body: Mapping[str, Any]
    job_id: str = ""


@dataclass
class SyncReport:
    """What ``sync`` found: ids of resources the backend lacks, has beyond the
    database, or holds at an older revision; and how many it repaired."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    repaired: int = 0

    @property
    def drift(self) -> bool:
        return bool(self.missing or self.extra or self.stale)


class SyncBatch(list[Change]):
    """One page of the database's resources that ``sync`` is given: every
    resource of ``kind`` whose id is after ``after`` and at most ``until``
    (None: no bound), in id order. A driver compares with the backend's rows
    of that kind *in that range* only (``covers``): a row beyond it is another
    page's, not extra. ``quark backend sync`` pages this way so that a million
    ports never sit in memory at once.

    ``run`` is one dict shared by every page of one sync run of one driver:
    what the driver keeps between pages (a copy of the backend's rows read
    once per run rather than once per page)."""

    def __init__(
        self,
        kind: str,
        changes: Sequence[Change] = (),
        after: str | None = None,
        until: str | None = None,
        run: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(changes)
        self.kind = kind
        self.after = after
        self.until = until
        self.run: dict[str, Any] = {} if run is None else run

    def covers(self, kind: str, resource_id: str) -> bool:
        if kind != self.kind:
            return False
        return (self.after is None or resource_id > self.after) and (self.until is None or resource_id <= self.until)


def covers(resources: Sequence[Change], kind: str, resource_id: str) -> bool:
    """Whether a backend row of ``kind`` and ``resource_id`` is within what
    ``sync`` was given (so, if absent from it, extra): a ``SyncBatch``'s kind
    and id range; a plain sequence covers everything."""
    if isinstance(resources, SyncBatch):
        return resources.covers(kind, resource_id)
    return True


class Driver:
    """Base of every driver. A driver overrides the methods of what it realises
    (``create_port``, ``delete_network``...); each defaults to ``apply``, so a
    driver that treats every change alike overrides only that one."""

    # False: the driver has nothing to do after a change (no outbox job is
    # written for its networks; see docs/drivers.md).
    needs_backend: ClassVar[bool] = True
    # The network types (``provider:network_type``) the driver can realise;
    # None: any. Checked when a network service names the driver and when a
    # network names both (400 otherwise; docs/network_services.md).
    network_types: ClassVar[frozenset[str] | None] = None
    # True: ``port_statuses`` tells whether ports are really up (the worker writes
    # it into their status every ``worker_status_interval``).
    reports_port_status: ClassVar[bool] = False
    # True: a floating IP's job succeeding means its backend NAT is in place (or gone):
    # the worker sets the floating IP ACTIVE when the job's view was associated, else
    # DOWN, as Neutron's OVN driver does. False: someone else reports it (the L3 agents'
    # l3_status) or nothing does.
    reports_floatingip_status: ClassVar[bool] = False

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.options = dict(options or {})

    async def call(self, change: Change) -> None:
        """Run ``change`` through the method of its kind and operation."""
        if change.kind not in RESOURCE_TYPES or change.operation not in OPERATIONS:
            raise DriverError(f"no such change: {change.operation} {change.kind}")
        await getattr(self, f"{change.operation}_{change.kind}")(change)

    async def apply(self, change: Change) -> None:
        raise NotImplementedError(f"driver {self.name!r} does not handle {change.operation} {change.kind}")

    async def sync(self, resources: Sequence[Change], repair: bool = False) -> SyncReport:
        """Compare the backend with ``resources`` (the database's, each as a
        create at its current revision); repair the difference if asked.
        ``resources`` is a ``SyncBatch`` when Quark calls it: a backend row
        is extra only if ``covers(resources, kind, id)``."""
        return SyncReport()

    async def port_statuses(self, port_ids: Sequence[str]) -> Mapping[str, str]:
        """``ACTIVE`` or ``DOWN`` per port the backend knows of (drivers that
        ``reports_port_status``); ports it does not know are left out."""
        return {}

    async def close(self) -> None:
        """Release connections; called once when the worker stops."""

    # --- the lifecycle, per resource ------------------------------------------------

    async def create_network(self, change: Change) -> None:
        await self.apply(change)

    async def update_network(self, change: Change) -> None:
        await self.apply(change)

    async def delete_network(self, change: Change) -> None:
        await self.apply(change)

    async def create_subnet(self, change: Change) -> None:
        await self.apply(change)

    async def update_subnet(self, change: Change) -> None:
        await self.apply(change)

    async def delete_subnet(self, change: Change) -> None:
        await self.apply(change)

    async def create_port(self, change: Change) -> None:
        await self.apply(change)

    async def update_port(self, change: Change) -> None:
        await self.apply(change)

    async def delete_port(self, change: Change) -> None:
        await self.apply(change)

    async def create_security_group(self, change: Change) -> None:
        await self.apply(change)

    async def update_security_group(self, change: Change) -> None:
        await self.apply(change)

    async def delete_security_group(self, change: Change) -> None:
        await self.apply(change)

    async def create_router(self, change: Change) -> None:
        await self.apply(change)

    async def update_router(self, change: Change) -> None:
        await self.apply(change)

    async def delete_router(self, change: Change) -> None:
        await self.apply(change)

    async def create_floatingip(self, change: Change) -> None:
        await self.apply(change)

    async def update_floatingip(self, change: Change) -> None:
        await self.apply(change)

    async def delete_floatingip(self, change: Change) -> None:
        await self.apply(change)

    async def create_port_forwarding(self, change: Change) -> None:
        await self.apply(change)

    async def update_port_forwarding(self, change: Change) -> None:
        await self.apply(change)

    async def delete_port_forwarding(self, change: Change) -> None:
        await self.apply(change)
