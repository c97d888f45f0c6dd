"""Backend sync: compare each backend with the database, report and repair drift.

For each driver in use (the deployment's ``backend_driver`` and the
``network_plugin`` of its networks) that needs backend work, the database's
resources of that driver are read page by page, in id order: each page a
``SyncBatch`` of ``Change`` objects (the view a create job is given, at the
resource's current revision) covering an id range, handed to
``Driver.sync``. A page is read in its own short read transaction and no
connection is held while the driver works, so a sync of a million ports
keeps one page in memory and locks nothing the API writes.

Networks, subnets and ports belong to their network's driver; security
groups, routers, floating IPs and port forwardings to the deployment's default only (a sync of another
driver leaves the backend's groups and routers alone: nothing in the
database says they are its).

A resource with an unfinished job is *pending*, not drift: its job will
bring the backend to it. A row the driver reported extra that exists in the
database by the time the page is done was created meanwhile (after the page
was read); it is pending too, and, if the sync repaired (removed) it, it is
written again at its current revision.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, or_, select

from quark import errors
from quark.context import Context
from quark.db import l3_models, models
from quark.db.jobs_model import QUEUED, RUNNING, jobs
from quark.drivers import loading
from quark.drivers.base import RESOURCE_TYPES, Change, Driver, SyncBatch, SyncReport

n = models.networks
UNFINISHED = (QUEUED, RUNNING)
ADMIN = Context(project_id="", is_admin=True, roles=frozenset({"admin"}))
TABLES: dict[str, Table] = {
    "network": n,
    "subnet": models.subnets,
    "port": models.ports,
    "security_group": models.security_groups,
    "router": l3_models.routers,
    "floatingip": models.floatingips,
    "port_forwarding": l3_models.port_forwardings,
}
COLLECTIONS = {
    "network": "networks",
    "subnet": "subnets",
    "port": "ports",
    "security_group": "security-groups",
    "router": "routers",
    "floatingip": "floatingips",
    # the backend's view of a forwarding (its floating IP's address and router with it)
    "port_forwarding": "port_forwardings",
}


@dataclass
class KindReport:
    """One resource type's drift over every page: ids, and how many were repaired."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    repaired: int = 0
    checked: int = 0

    @property
    def drift(self) -> bool:
        return bool(self.missing or self.extra or self.stale)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "missing": sorted(self.missing),
            "extra": sorted(self.extra),
            "stale": sorted(self.stale),
            "pending": sorted(self.pending),
            "repaired": self.repaired,
        }


@dataclass
class DriverReport:
    driver: str
    kinds: dict[str, KindReport] = field(default_factory=dict)

    @property
    def drift(self) -> bool:
        return any(k.drift for k in self.kinds.values())

    @property
    def repaired(self) -> int:
        return sum(k.repaired for k in self.kinds.values())

    def as_dict(self) -> dict[str, Any]:
        return {"drift": self.drift, "kinds": {kind: r.as_dict() for kind, r in self.kinds.items()}}

    def summary(self) -> str:
        """One line: the drift found per type (what a sync job's ``last_error`` shows)."""
        parts = []
        for kind, r in self.kinds.items():
            found = [
                f"{len(ids)} {name}"
                for name, ids in (("missing", r.missing), ("extra", r.extra), ("stale", r.stale))
                if ids
            ]
            if found:
                parts.append(f"{kind}: {', '.join(found)}")
        if not parts:
            return ""
        return "drift " + "; ".join(parts) + f"; repaired {self.repaired}"


async def drivers_in_use(db: Any, default: str) -> list[str]:
    """The drivers to sync among the default and the networks' own: those that need
    backend work and have a ``sync`` of their own (not ``agent``, ``unmanaged``, ``fault``)."""
    async with db.read() as conn:
        plugins = set((await conn.scalars(select(n.c.network_plugin).distinct())).all())
    names = {p or default for p in plugins} | {default}
    return sorted(name for name in names if loading.needs_backend(name) and loading.can_sync(name))


def _of_driver(driver: str, default: str) -> Any:
    if driver == default:
        return or_(n.c.network_plugin == driver, n.c.network_plugin.is_(None), n.c.network_plugin == "")
    return n.c.network_plugin == driver


def _page_ids(kind: str, driver: str, default: str, after: str | None, size: int) -> Any:
    table = TABLES[kind]
    stmt = select(table.c.id)
    if kind == "network":
        stmt = stmt.where(_of_driver(driver, default))
    elif kind in ("subnet", "port"):
        stmt = stmt.join(n, n.c.id == table.c.network_id).where(_of_driver(driver, default))
    if after is not None:
        stmt = stmt.where(table.c.id > after)
    return stmt.order_by(table.c.id).limit(size)


class Syncer:
    """Syncs drivers with the database through ``services`` (their views are the API's)."""

    def __init__(self, services: Any, page_size: int | None = None) -> None:
        self.services = services
        self.db = services.db
        self.default = services.settings.backend_driver
        self.page_size = page_size or services.settings.backend_sync_page

    def kinds(self, driver: str) -> tuple[str, ...]:
        if driver == self.default:
            return RESOURCE_TYPES
        return ("network", "subnet", "port")

    async def pages(self, driver: str, kind: str, run: dict[str, Any] | None = None) -> AsyncIterator[SyncBatch]:
        """The database's resources of ``driver`` and ``kind``, a page at a time, each
        read in its own transaction; the pages' ranges cover every id once. Every
        page carries ``run`` (the driver's keep between the pages of one sync run)."""
        run = {} if run is None else run
        after: str | None = None
        service = self.services.by_collection(COLLECTIONS[kind])
        while True:
            async with self.db.read() as conn:
                ids = list((await conn.scalars(_page_ids(kind, driver, self.default, after, self.page_size))).all())
                views = await service.render_ids(conn, ADMIN, ids) if ids else []
            last = len(ids) < self.page_size
            until = None if last else ids[-1]
            changes = [change_of(kind, view) for view in views]
            yield SyncBatch(kind, changes, after=after, until=until, run=run)
            if last:
                return
            after = until

    async def sync(
        self, driver: Driver, repair: bool, on_page: Callable[[], Awaitable[None]] | None = None
    ) -> DriverReport:
        """Run ``driver.sync`` over every page of its resources; ``on_page`` is awaited after each."""
        report = DriverReport(driver.name)
        run: dict[str, Any] = {}
        for kind in self.kinds(driver.name):
            kind_report = report.kinds.setdefault(kind, KindReport())
            async for batch in self.pages(driver.name, kind, run):
                found = await driver.sync(batch, repair=repair)
                await self.settle(driver, kind, batch, found, kind_report, repair)
                if on_page is not None:
                    await on_page()
        return report

    async def settle(
        self, driver: Driver, kind: str, batch: SyncBatch, found: SyncReport, into: KindReport, repair: bool
    ) -> None:
        """Add a page's findings to ``into``, apart from what is in flight (pending)."""
        into.checked += len(batch)
        into.repaired += found.repaired
        drifted = [*found.missing, *found.extra, *found.stale]
        if not drifted:
            return
        table = TABLES[kind]
        busy: set[str] = set()
        born: set[str] = set()
        async with self.db.read() as conn:
            for chunk in _chunks(drifted):
                unfinished = select(jobs.c.resource_id).where(
                    jobs.c.resource_id.in_(chunk), jobs.c.status.in_(UNFINISHED)
                )
                busy.update((await conn.scalars(unfinished)).all())
            for chunk in _chunks(found.extra):
                born.update((await conn.scalars(select(table.c.id).where(table.c.id.in_(chunk)))).all())
        into.pending.extend(sorted(set(drifted) & (busy | born)))
        into.missing.extend(i for i in found.missing if i not in busy)
        into.stale.extend(i for i in found.stale if i not in busy)
        into.extra.extend(i for i in found.extra if i not in busy and i not in born)
        if repair:
            for resource_id in sorted(born - busy):
                await self.rewrite(driver, kind, resource_id)

    async def rewrite(self, driver: Driver, kind: str, resource_id: str) -> None:
        """Write again a resource the repair removed as extra while it was being created."""
        try:
            view = await self.services.by_collection(COLLECTIONS[kind]).get(ADMIN, resource_id)
        except errors.NotFound:
            return
        await driver.call(change_of(kind, view))


def change_of(kind: str, view: dict[str, Any]) -> Change:
    """A resource's view as a create at its current revision (what the outbox's create job gives)."""
    return Change(kind, "create", view["id"], int(view.get("revision_number", 0)), view)


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
