"""``quark purge --project``: every resource of one project, deleted through
the services in dependency order (each delete with its events, jobs and
quota bookkeeping, as an API delete).

``plan`` reads what the project owns (nothing is written: a dry run lists it);
``execute`` deletes it step by step. The plan is a snapshot: a row a cascade
took first (a network's RBAC policies, a router's gateway port) is ``gone``,
not an error; a step the services refuse (a network another project still
uses) is ``failed`` with the service's message, and the purge goes on.

Order: floating IPs (their port forwardings go with them), router
interfaces, routers (and their gateways), ports (not those that go with
their network: DHCP), standalone IP addresses, subnets, RBAC policies,
networks, security groups, address groups, subnet pools, address scopes,
quotas.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from quark import errors, owners
from quark.context import Context
from quark.services.common.base import ResourceService
from quark.services.common.listing import ListQuery

GONE, DELETED, FAILED = "gone", "deleted", "failed"
# Ports that go with something else the purge deletes: their router, floating IP or network.
NOT_DIRECT = (*owners.ROUTER, owners.FLOATING_IP, *owners.AUTO_DELETE)
# Ports go this many to a transaction (a project may have thousands; one each is slow).
BATCH = 100

Batch = Callable[[list[str]], Awaitable[list[str]]]  # ids -> the ids it deleted


@dataclass
class Step:
    kind: str
    id: str
    name: str
    run: Callable[[], Awaitable[Any]]
    # Steps sharing one ``batch`` next to each other are deleted together, all or nothing.
    batch: Batch | None = None
    outcome: str = ""
    error: str = ""

    def view(self) -> dict[str, Any]:
        out = {"kind": self.kind, "id": self.id, "name": self.name}
        if self.outcome:
            out.update(outcome=self.outcome, error=self.error)
        return out


async def _owned(service: Any, ctx: Context, project: str, **filters: list[Any]) -> list[dict]:
    # ResourceService.list itself: a security-group list would make the project's default group.
    return await ResourceService.list(service, ctx, ListQuery(filters={"project_id": [project], **filters}))


def _deleting(kind: str, service: Any, ctx: Context, views: list[dict]) -> list[Step]:
    def step(view: dict) -> Step:
        return Step(kind, view["id"], view.get("name") or "", lambda: service.delete(ctx, view["id"]))

    return [step(v) for v in views]


async def _interfaces(s: Any, ctx: Context, project: str, router_ids: list[str]) -> list[Step]:
    """The interfaces of the project's routers and the project's interface ports on others' routers."""
    ports = await _owned(s.ports, ctx, project, device_owner=list(owners.ROUTER_INTERFACE))
    if router_ids:
        query = ListQuery(filters={"device_id": router_ids, "device_owner": list(owners.ROUTER_INTERFACE)})
        ports += await s.ports.list(ctx, query)
    unique = {p["id"]: p for p in ports}

    def step(port: dict) -> Step:
        body = {"port_id": port["id"]}
        return Step(
            "router_interface",
            port["id"],
            port["device_id"],
            lambda: s.routers.remove_interface(ctx, port["device_id"], body),
        )

    return [step(p) for p in sorted(unique.values(), key=lambda p: p["id"])]


async def plan(s: Any, ctx: Context, project: str) -> list[Step]:
    """What purging ``project`` deletes, in order; reads only."""
    routers = await _owned(s.routers, ctx, project)
    ports = [p for p in await _owned(s.ports, ctx, project) if p["device_owner"] not in NOT_DIRECT]
    port_steps = _deleting("port", s.ports, ctx, ports)

    async def ports_batch(ids: list[str]) -> list[str]:
        return await s.ports.delete_matching(ctx, ListQuery(filters={"id": ids}))

    for step in port_steps:
        step.batch = ports_batch
    steps = [
        *_deleting("floatingip", s.floating_ips, ctx, await _owned(s.floating_ips, ctx, project)),
        *await _interfaces(s, ctx, project, [r["id"] for r in routers]),
        *_deleting("router", s.routers, ctx, routers),
        *port_steps,
        *_deleting("ip_address", s.ip_addresses, ctx, await _owned(s.ip_addresses, ctx, project)),
        *_deleting("subnet", s.subnets, ctx, await _owned(s.subnets, ctx, project)),
        *_deleting("rbac_policy", s.rbac_policies, ctx, await _owned(s.rbac_policies, ctx, project)),
        *_deleting("network", s.networks, ctx, await _owned(s.networks, ctx, project)),
        *_deleting("security_group", s.security_groups, ctx, await _owned(s.security_groups, ctx, project)),
        *_deleting("address_group", s.address_groups, ctx, await _owned(s.address_groups, ctx, project)),
        *_deleting("subnetpool", s.subnet_pools, ctx, await _owned(s.subnet_pools, ctx, project)),
        *_deleting("address_scope", s.address_scopes, ctx, await _owned(s.address_scopes, ctx, project)),
    ]
    if any(q["project_id"] == project for q in await s.quotas.list_all(ctx)):
        steps.append(Step("quota", project, "", lambda: s.quotas.reset(ctx, project)))
    return steps


async def execute(steps: list[Step], advance: Callable[[int], None] = lambda n: None) -> list[Step]:
    """Run every step in order; each gets its outcome. ``advance(n)`` after each n done (a progress bar)."""
    start = 0
    while start < len(steps):
        chunk = _chunk(steps, start)
        if len(chunk) > 1 and await _run_batch(chunk):
            advance(len(chunk))
        else:
            for step in chunk:
                await _run_one(step)
                advance(1)
        start += len(chunk)
    return steps


def _chunk(steps: list[Step], start: int) -> list[Step]:
    """The steps from ``start`` that share its batch (at most BATCH), or that step alone."""
    first, end = steps[start], start + 1
    while first.batch is not None and end < len(steps) and end - start < BATCH and steps[end].batch is first.batch:
        end += 1
    return steps[start:end]


async def _run_batch(chunk: list[Step]) -> bool:
    """The chunk in one transaction; False if refused (each then runs alone, to say which)."""
    batch = chunk[0].batch
    assert batch is not None
    try:
        done = set(await batch([step.id for step in chunk]))
    except errors.QuarkError:
        return False
    for step in chunk:
        step.outcome = DELETED if step.id in done else GONE
    return True


async def _run_one(step: Step) -> None:
    try:
        await step.run()
        step.outcome = DELETED
    except errors.NotFound:
        step.outcome = GONE
    except errors.QuarkError as exc:
        step.outcome, step.error = FAILED, f"{exc.type_name}: {exc.msg}"
