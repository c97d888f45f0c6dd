"""The comparison behind every driver's ``sync``: the database's resources
against what the backend holds, by revision.

A driver supplies only what its backend holds for the page it was given
(``Held``: kind -> {resource id: revision}) and how to write and delete one
resource; ``compare`` finds the missing, stale and extra rows (a backend row
is extra only within what the page ``covers``) and ``Comparison.repair``
removes the extra ones, leaves first, then writes the missing and stale
ones, roots first (a port needs its network).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from quark.drivers.base import Change, SyncReport, covers

# kind -> {resource id: revision}: what a backend holds of Quark's
Held = Mapping[str, Mapping[str, int]]
# Roots before leaves: the order of writes (deletes go the other way).
ORDER = ("network", "security_group", "subnet", "router", "port", "floatingip", "port_forwarding")


@dataclass
class Comparison:
    """What one page's comparison found, and what repairing it takes."""

    report: SyncReport = field(default_factory=SyncReport)
    writes: list[Change] = field(default_factory=list)  # missing and stale, roots first
    deletes: list[tuple[str, str]] = field(default_factory=list)  # extra (kind, id), leaves first

    async def repair(
        self, write: Callable[[Change], Awaitable[bool]], delete: Callable[[str, str], Awaitable[bool]]
    ) -> SyncReport:
        """Delete the extra rows, write the missing and stale ones; ``report.repaired``
        counts those the backend took (a write or delete may find it done already)."""
        for kind, resource_id in self.deletes:
            self.report.repaired += bool(await delete(kind, resource_id))
        for change in self.writes:
            self.report.repaired += bool(await write(change))
        return self.report


def compare(resources: Sequence[Change], held: Held, realised: Callable[[Change], bool] | None = None) -> Comparison:
    """``resources`` (the database's, at their current revisions) against ``held``;
    ``realised`` says which of them the backend holds anything of at all (an OVN
    floating IP without a port has no NAT row): the others are neither missing nor,
    when the backend holds a row of them, anything but extra."""
    wanted: dict[str, dict[str, Change]] = {}
    for change in resources:
        if realised is not None and not realised(change):
            continue
        wanted.setdefault(change.kind, {})[change.resource_id] = change
    found = Comparison()
    extra_by_kind: list[list[tuple[str, str]]] = []
    for kind in (*ORDER, *sorted((wanted.keys() | held.keys()) - set(ORDER))):
        have, want = held.get(kind, {}), wanted.get(kind, {})
        for resource_id, change in want.items():
            if resource_id not in have:
                found.report.missing.append(resource_id)
            elif have[resource_id] < change.revision:
                found.report.stale.append(resource_id)
            else:
                continue
            found.writes.append(change)
        # a row beyond the page's kind and id range is another page's, not extra
        extra = [rid for rid in have if rid not in want and covers(resources, kind, rid)]
        found.report.extra += extra
        extra_by_kind.append([(kind, rid) for rid in extra])
    found.deletes = [key for group in reversed(extra_by_kind) for key in group]
    return found
