"""Quotas: how many networks, subnets, ports, security groups, rules and
floating IPs a project may have (Neutron's quota API and its defaults), and
their enforcement.

Enforcement is a subscriber of ``ResourcesCreated``, published by every
create path that Neutron checks, inside the create's transaction, once its
rows are written (its last write: the lock below is held from there to the
commit, not through the create's work). For each project with a finite limit it

1. locks the project's row of ``quota_locks`` for the resource
   (``SELECT ... FOR UPDATE``; the row is made once with an INSERT that
   ignores a concurrent twin), so concurrent creates of one project and
   resource, in any process, take turns until their commits;
2. counts the project's rows (``COUNT(*)`` on the indexed ``project_id``;
   for ports, plus its reserved and shared addresses: ``usage``) — after the lock, so under READ COMMITTED (PostgreSQL, MariaDB as Quark
   runs it) it sees every create that held the lock before; SQLite has one
   writer at a time anyway;
3. refuses with ``OverQuota`` when the count (the new rows included: the
   transaction sees its own) exceeds the limit: the whole transaction (a
   whole bulk create) rolls back.

Counting, not a usage counter, so nothing else has to keep a number exact:
every delete and cascade (a network taking its DHCP ports, a group taking
its rules) is counted by what is left. A limit of -1 costs one primary-key
read (the project's override, if any) and nothing else.

What is counted is every row of the project, whoever made it; what is
checked are the creates Neutron checks at its API. Rows Neutron's plugins
make internally are counted but never refused: DHCP ports, a project's
default security group and its rules, the egress rules of a new group.
The internal port of a floating IP belongs to no project (``""``). An
address reserved or shared through ``/v2.0/ip_addresses`` is checked and
counted as a port: a Neutron user would hold it with a port of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, metrics
from quark.config import Settings
from quark.context import Context
from quark.db import address_group_models, l3_models, models, pool_models, rbac_models
from quark.db.dialect import insert_ignore
from quark.db.engine import Database
from quark.services.events import ResourcesCreated

q = models.quotas
ql = models.quota_locks

UNLIMITED = -1
MAX_LIMIT = 2**31 - 1  # Neutron's DB_INTEGER_MAX_VALUE

# quota resource -> the table whose rows of a project are counted. Order is
# the order of every quota view. Routers (quota_router, 10), and the others
# Neutron has, are added here (and in Settings) when Quark serves them.
COUNTED: dict[str, Table] = {
    "network": models.networks,
    "subnet": models.subnets,
    "port": models.ports,
    "security_group": models.security_groups,
    "security_group_rule": models.security_group_rules,
    "floatingip": models.floatingips,
    "router": l3_models.routers,
    "subnetpool": pool_models.subnetpools,
    "rbac_policy": rbac_models.rbac_policies,
    "address_group": address_group_models.address_groups,
}
RESOURCES: tuple[str, ...] = tuple(COUNTED)

_a = models.ip_allocations


def usage(resource: str, project_id: str) -> Any:
    """The statement counting what ``project_id`` has of ``resource``: its rows,
    and for ``port`` also the addresses it reserved or shared through
    ``/v2.0/ip_addresses`` (live, held by no single port: what a Neutron user
    would hold with a port of its own). One statement, on indexed columns."""
    table = COUNTED[resource]
    rows = select(func.count()).select_from(table).where(table.c.project_id == project_id)
    if resource != "port":
        return rows
    standalone = (
        select(func.count())
        .select_from(_a)
        .where(_a.c.project_id == project_id, _a.c.port_id.is_(None), _a.c.deallocated.is_(False))
        .scalar_subquery()
    )
    return select(rows.scalar_subquery() + standalone)


async def count_usage(conn: AsyncConnection, resource: str, project_id: str) -> int:
    return int(await conn.scalar(usage(resource, project_id)) or 0)


def default_limits(settings: Settings) -> dict[str, int]:
    """The limits of a project without overrides (``quota_<resource>`` settings)."""
    return {name: int(getattr(settings, f"quota_{name}")) for name in RESOURCES}


class QuotaService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # --- enforcement -------------------------------------------------------------

    async def on_resources_created(self, conn: AsyncConnection, event: ResourcesCreated) -> None:
        await self.check(conn, event.resource, event.counts)

    async def check(self, conn: AsyncConnection, resource: str, counts: Mapping[str, int]) -> None:
        """Refuse (``OverQuota``) if the ``counts[project]`` rows of ``resource``
        just written take any project over its limit; the projects' lock rows stay locked
        until the transaction ends. The projects of one event are locked in
        sorted order (a deadlock between events is re-run by ``run_write``)."""
        for project_id, count in sorted(counts.items()):
            if not project_id or count <= 0:
                continue
            limit = await self._limit(conn, project_id, resource)
            if limit <= UNLIMITED:
                continue
            if count > limit:
                metrics.QUOTA_REFUSALS.labels(resource).inc()
                raise errors.OverQuota(overs=[resource])
            await _lock(conn, project_id, resource)
            if await count_usage(conn, resource, project_id) > limit:  # the new rows included
                metrics.QUOTA_REFUSALS.labels(resource).inc()
                raise errors.OverQuota(overs=[resource])

    async def _limit(self, conn: AsyncConnection, project_id: str, resource: str) -> int:
        found = await conn.scalar(select(q.c.limit).where(q.c.project_id == project_id, q.c.resource == resource))
        return int(getattr(self.settings, f"quota_{resource}")) if found is None else int(found)

    # --- the quota API -----------------------------------------------------------

    def defaults(self) -> dict[str, int]:
        return default_limits(self.settings)

    async def list_all(self, ctx: Context) -> list[dict]:
        """Every project with a limit of its own: its limits (defaults filled in).
        Who may ask is the policy's (``get_quota``, quark.policy.defaults.quotas)."""
        async with self.db.read() as conn:
            rows = (await conn.execute(select(q).order_by(q.c.project_id, q.c.resource))).all()
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row.resource not in COUNTED:
                continue
            view = out.get(row.project_id)
            if view is None:
                view = out[row.project_id] = {
                    **self.defaults(),
                    "project_id": row.project_id,
                    "tenant_id": row.project_id,
                }
            view[row.resource] = row.limit
        return list(out.values())

    async def show(self, ctx: Context, project_id: str) -> dict[str, int]:
        async with self.db.read() as conn:
            return await self._limits(conn, project_id)

    def show_default(self, ctx: Context, project_id: str) -> dict[str, int]:
        return self.defaults()

    async def details(self, ctx: Context, project_id: str) -> dict[str, dict[str, int]]:
        """limit, used (rows the project has now) and reserved (always 0: a
        check and its rows are one transaction) of each resource."""
        if project_id != ctx.project_id and not ctx.is_admin:
            raise errors.AdminRequired(reason="Only admin is authorized to access quotas for another project")
        async with self.db.read() as conn:
            limits = await self._limits(conn, project_id)
            used = {name: await count_usage(conn, name, project_id) for name in RESOURCES}
        return {name: {"limit": limits[name], "used": used[name], "reserved": 0} for name in RESOURCES}

    @staticmethod
    def project_info(ctx: Context, key: str) -> dict[str, str]:
        """``GET /v2.0/quotas/project`` (``key`` "project") or ``/quotas/tenant``: the caller's project."""
        if not ctx.project_id:
            raise errors.QuotaMissingTenant()
        return {f"{key}_id": ctx.project_id}

    async def update(self, ctx: Context, project_id: str, limits: Mapping[str, int], *, force: bool = False) -> dict:
        """Set some limits of a project. Without ``force``, a finite limit below
        what the project already has is refused (Neutron since 2025.1)."""
        unknown = sorted(set(limits) - set(COUNTED))
        if unknown:
            raise errors.QuotaResourceUnknown(unknown=unknown)

        async def work(conn: AsyncConnection) -> dict[str, int]:
            for name, limit in limits.items():
                if force or limit <= UNLIMITED:
                    continue
                used = await count_usage(conn, name, project_id)
                if used > limit:
                    raise errors.HTTPBadRequest(
                        msg=f"Quota limit {limit} for {name} must be greater than or equal to already used {used}"
                    )
            for name, limit in limits.items():
                where = (q.c.project_id == project_id, q.c.resource == name)
                changed = await conn.execute(update(q).where(*where).values(limit=limit))
                if changed.rowcount == 0:
                    await conn.execute(insert(q).values(project_id=project_id, resource=name, limit=limit))
            return await self._limits(conn, project_id)

        return await self.db.run_write(work)

    async def reset(self, ctx: Context, project_id: str) -> None:
        """Back to the defaults; 404 for a project without limits of its own."""

        async def work(conn: AsyncConnection) -> None:
            gone = await conn.execute(delete(q).where(q.c.project_id == project_id))
            if gone.rowcount < 1:
                raise errors.TenantQuotaNotFound(tenant_id=project_id)

        await self.db.run_write(work)

    async def _limits(self, conn: AsyncConnection, project_id: str) -> dict[str, int]:
        limits = self.defaults()
        for row in (await conn.execute(select(q.c.resource, q.c.limit).where(q.c.project_id == project_id))).all():
            if row.resource in limits:
                limits[row.resource] = row.limit
        return limits


async def _lock(conn: AsyncConnection, project_id: str, resource: str) -> None:
    """Lock the (project, resource) row until the transaction ends, making it the first time."""
    stmt = select(ql.c.project_id).where(ql.c.project_id == project_id, ql.c.resource == resource).with_for_update()
    if await conn.scalar(stmt) is not None:
        return
    await conn.execute(insert_ignore(conn, ql, project_id=project_id, resource=resource))
    await conn.scalar(stmt)
