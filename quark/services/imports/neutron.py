"""``quark import neutron``: a Neutron deployment's resources written into
Quark through its services, under their own ids and addresses.

Kinds go in dependency order (``records.KINDS``). Each page of records is
compared with what Quark already has under those ids: equal content is
skipped, other content is a conflict (reported, never overwritten), the rest
is created by the same service calls as the API's creates (so the IP
allocations, the explicit MACs recorded in MAC management, the segments, the
events and the backend jobs are all as if a caller had made them). That is
what makes a rerun after an interruption finish the rest and create nothing
twice. A dry run creates nothing: it reports what would be created and the
conflicts Quark's database shows (``probes``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from quark.context import Context
from quark.error_bases import QuarkError
from quark.services.imports import probes, records
from quark.services.imports.records import KINDS, MADE_BY_OTHERS, create_attrs, differences
from quark.services.imports.source import NeutronSource
from quark.services.registry import Services

# Progress: the kind, how many records of it were just handled.
Progress = Callable[[str, int], None]


@dataclass
class Conflict:
    kind: str
    id: str
    reason: str


@dataclass
class Report:
    dry_run: bool
    # kind -> outcome ("created" / "would create", "skipped", "conflict") -> count
    counts: dict[str, Counter] = field(default_factory=lambda: {k: Counter() for k in KINDS})
    conflicts: list[Conflict] = field(default_factory=list)
    interrupted: bool = False

    @property
    def created(self) -> int:
        return sum(c["created"] for c in self.counts.values())

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "interrupted": self.interrupted,
            "counts": {k: dict(c) for k, c in self.counts.items()},
            "conflicts": [c.__dict__ for c in self.conflicts],
        }


class Interrupted(Exception):
    """The import stopped at its ``limit`` of creates (tests: an interrupted run)."""


class NeutronImport:
    def __init__(
        self,
        services: Services,
        *,
        dry_run: bool = False,
        limit: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.services = services
        self.dry_run = dry_run
        self.limit = limit
        self.progress = progress or (lambda kind, n: None)
        self.report = Report(dry_run)
        self.ctx = Context.admin()

    async def run(self, source: NeutronSource) -> Report:
        try:
            for kind in KINDS:
                async for page in source.pages(kind):
                    mine = [r for r in page if r.get("device_owner") not in MADE_BY_OTHERS]
                    await self._page(kind, mine)
                    self.progress(kind, len(page))
        except Interrupted:
            self.report.interrupted = True
        return self.report

    async def _page(self, kind: str, page: list[dict]) -> None:
        if not page:
            return
        present = await self._present(kind, [r["id"] for r in page])
        missing = []
        for record in page:
            theirs = present.get(record["id"])
            if kind == "router_interfaces":
                if self._interface_missing(record, theirs):
                    missing.append(record)
            elif theirs is None:
                missing.append(record)
            elif differ := differences(kind, record, theirs):
                self._conflict(kind, record["id"], "exists with other " + ", ".join(differ))
            else:
                self.report.counts[kind]["skipped"] += 1
        if self.dry_run:
            await self._probe(kind, missing)
        elif missing:
            await self._create(kind, missing)

    def _conflict(self, kind: str, resource_id: str, reason: str) -> None:
        self.report.counts[kind]["conflict"] += 1
        self.report.conflicts.append(Conflict(kind, resource_id, reason))

    def _interface_missing(self, record: dict, port: dict | None) -> bool:
        """Whether the interface is to be made: its port is in Quark, free (the
        port step makes it so); one attached to the router already is skipped."""
        kind = "router_interfaces"
        if port is None:
            if not self.dry_run:  # in a dry run the port step made nothing yet
                self._conflict(kind, record["id"], "its port was not imported")
                return False
            return True
        if port["device_id"] == record["router_id"] and records.is_router_interface(port):
            self.report.counts[kind]["skipped"] += 1
            return False
        if port["device_id"] or not records.is_router_interface(port):
            self._conflict(kind, record["id"], f"port is {port['device_owner']} of {port['device_id']}")
            return False
        return True

    async def _present(self, kind: str, ids: list[str]) -> dict[str, dict]:
        """Quark's views of those ids (a router interface's: its port's)."""
        views = await self._service(kind).views_of(self.ctx, ids)
        return {v["id"]: v for v in views}

    def _service(self, kind: str):
        s = self.services
        return {
            "networks": s.networks,
            "subnets": s.subnets,
            "security_groups": s.security_groups,
            "security_group_rules": s.security_group_rules,
            "routers": s.routers,
            "ports": s.ports,
            "router_interfaces": s.ports,
            "floatingips": s.floating_ips,
        }[kind]

    async def _probe(self, kind: str, missing: list[dict]) -> None:
        async with self.services.db.read() as conn:
            for record in missing:
                found = await probes.conflicts(conn, kind, record)
                if found:
                    self._conflict(kind, record["id"], "; ".join(found))
                else:
                    self.report.counts[kind]["would create"] += 1

    async def _create(self, kind: str, missing: list[dict]) -> None:
        if kind == "ports":  # many: one transaction per page, one by one only if it fails
            try:
                await self._write(
                    kind, missing, partial(self.services.ports.create_bulk, self.ctx, self._attrs(kind, missing))
                )
                return
            except QuarkError:
                pass
        for record in missing:
            await self._write(kind, [record], partial(self._create_one, kind, record))

    async def _write(self, kind: str, batch: list[dict], call: Callable[[], Awaitable[object]]) -> None:
        if self.limit is not None and self.report.created + len(batch) > self.limit:
            raise Interrupted()
        try:
            await call()
        except QuarkError as exc:
            if len(batch) > 1:
                raise
            self._conflict(kind, batch[0]["id"], f"{type(exc).__name__}: {exc}")
            return
        self.report.counts[kind]["created"] += len(batch)

    def _attrs(self, kind: str, batch: list[dict]) -> list[dict]:
        return [create_attrs(kind, r) for r in batch]

    async def _create_one(self, kind: str, record: dict) -> object:
        s, ctx = self.services, self.ctx
        if kind == "security_groups":
            return await s.security_groups.import_group(ctx, create_attrs(kind, record), default=record["default"])
        if kind == "router_interfaces":
            return await s.routers.add_interface(ctx, record["router_id"], {"port_id": record["port_id"]})
        return await self._service(kind).create_bulk(ctx, [create_attrs(kind, record)])
