"""Subnet pools and address scopes as RBAC objects (Neutron's ``rbac-subnetpool``
and ``rbac-address-scope``).

A policy ``access_as_shared`` lets its target project (or every project) see
the pool and allocate subnets from it, or see the scope and put its pools in
it. ``shared: true`` on either is the wildcard policy; the ``shared`` column
is "a wildcard policy exists" and ``sync`` keeps it so in the policy's
transaction. Losing access is refused while the losing projects have subnets
from the pool, or pools in the scope (Neutron's ``get_bound_project_ids``).
Visibility is one clause, as for networks (``rbac.own_or_granted``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.clock import utcnow
from quark.context import Context
from quark.db import models, pool_models
from quark.ipam.pool_errors import AddressScopeNotFound, RbacPolicyInitError, SubnetPoolNotFound
from quark.services.common import rbac
from quark.services.common.rbac import SHARED, ObjectType

sp = pool_models.subnetpools
a = pool_models.address_scopes
s = models.subnets
POOL = "subnetpool"
SCOPE = "address_scope"

_own = {POOL: sp.alias("own_pools"), SCOPE: a.alias("own_scopes")}
_tables: dict[str, Table] = {POOL: sp, SCOPE: a}


def visible(object_type: str, project_id: Any) -> ColumnElement[bool]:
    """The pools (scopes) a project may list: its own, and those shared with it."""
    own = _own[object_type]
    mine = select(own.c.id).where(own.c.project_id == project_id)
    return rbac.own_or_granted(_tables[object_type].c.id, mine, object_type, project_id, (SHARED,))


def visible_one(object_type: str, project_id: Any) -> ColumnElement[bool]:
    """The same for a statement about one pool (scope) by id: an EXISTS on it."""
    table = _tables[object_type]
    return or_(table.c.project_id == project_id, shared_to(object_type, project_id))


def shared_to(object_type: str, project_id: Any, column: Any = None) -> ColumnElement[bool]:
    """Neutron's ``shared`` of a pool (scope) for one project (also its ``shared`` filter)."""
    id_column = _tables[object_type].c.id if column is None else column
    return rbac.grants(object_type, id_column, project_id, (SHARED,))


async def shared_with(conn: AsyncConnection, object_type: str, object_id: str, project_id: str) -> bool:
    return bool(await conn.scalar(select(shared_to(object_type, project_id, object_id))))


async def _lookup(conn: AsyncConnection, ctx: Context, object_type: str, object_id: str) -> Any:
    table = _tables[object_type]
    stmt = select(table).where(table.c.id == object_id)
    if not ctx.is_admin:
        stmt = stmt.where(visible_one(object_type, ctx.project_id))
    return (await conn.execute(stmt)).first()


async def lookup_pool(conn: AsyncConnection, ctx: Context, pool_id: str) -> Any:
    row = await _lookup(conn, ctx, POOL, pool_id)
    if row is None:
        raise SubnetPoolNotFound(subnetpool_id=pool_id)
    return row


async def lookup_scope(conn: AsyncConnection, ctx: Context, scope_id: str) -> Any:
    row = await _lookup(conn, ctx, SCOPE, scope_id)
    if row is None:
        raise AddressScopeNotFound(address_scope_id=scope_id)
    return row


async def subnets_depending(conn: AsyncConnection, pool: Any, losing: Any) -> str | None:
    if await conn.scalar(select(exists().where(s.c.subnetpool_id == pool.id, losing(s.c.project_id)))):
        return f"Subnets of projects losing access were allocated from subnet pool {pool.id}"
    return None


async def pools_depending(conn: AsyncConnection, scope: Any, losing: Any) -> str | None:
    if await conn.scalar(select(exists().where(sp.c.address_scope_id == scope.id, losing(sp.c.project_id)))):
        return f"Subnet pools of projects losing access are in address scope {scope.id}"
    return None


async def scope_reaches(conn: AsyncConnection, pool: Any, target: str) -> None:
    """A pool in an address scope is shared only with projects the scope is
    shared with (by a policy for them or ``*``), as Neutron's
    ``SubnetPool.validate_rbac_policy_create``: else 400 ``RbacPolicyInitError``."""
    if not pool.address_scope_id:
        return
    if not await conn.scalar(select(rbac.grants(SCOPE, pool.address_scope_id, target))):
        raise RbacPolicyInitError(
            object_id=pool.id, reason="target project doesn't have access to associated address scope"
        )


def _sync(object_type: str):
    table = _tables[object_type]

    async def sync(conn: AsyncConnection, object_id: str) -> None:
        """``shared`` of the pool (scope) from its policies; a policy change is a change of it."""
        await conn.execute(
            update(table)
            .where(table.c.id == object_id)
            .values(
                shared=rbac.wildcard_exists(object_id, SHARED),
                revision_number=table.c.revision_number + 1,
                updated_at=utcnow(),
            )
        )

    return sync


SUBNETPOOL = ObjectType(
    name=POOL,
    actions=(SHARED,),
    lookup=lookup_pool,
    dependents={SHARED: subnets_depending},
    sync=_sync(POOL),
    check_target=scope_reaches,
)
ADDRESS_SCOPE = ObjectType(
    name=SCOPE, actions=(SHARED,), lookup=lookup_scope, dependents={SHARED: pools_depending}, sync=_sync(SCOPE)
)


async def show_shared(conn: AsyncConnection, object_type: str, views: list[dict], ctx: Context) -> None:
    """``shared`` as the caller sees it: the wildcard column, or a policy for its
    project (one batched lookup of the rows not shared with everyone)."""
    pending = [v["id"] for v in views if not v.get("shared", True)]
    targeted = await rbac.granted_ids(conn, pending, ctx.project_id, SHARED)
    for view in views:
        if view["id"] in targeted:
            view["shared"] = True


async def share(conn: AsyncConnection, object_type: str, row_id: str, project_id: str) -> None:
    """``shared: true``: the wildcard policy (if missing)."""
    await rbac.add_wildcard(conn, object_type, row_id, project_id, SHARED)
