"""Address groups as RBAC objects (Neutron's ``rbac-address-group``).

A policy ``access_as_shared`` lets its target project (or every project) see
the address group and name it as ``remote_address_group_id`` in its
security-group rules. Losing it is refused while rules of the losing projects
name the group (Neutron's ``get_bound_project_ids`` of address groups).
Visibility is one clause, as for security groups (``rbac.own_or_granted``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.context import Context
from quark.db import address_group_models, models
from quark.services.common import rbac
from quark.services.common.rbac import SHARED, ObjectType

ag = address_group_models.address_groups
rules = models.security_group_rules
TYPE = "address_group"

_own = ag.alias("own_address_groups")


def visible(project_id: Any) -> ColumnElement[bool]:
    """Address groups a project may list: its own, and those shared with it."""
    own = select(_own.c.id).where(_own.c.project_id == project_id)
    return rbac.own_or_granted(ag.c.id, own, TYPE, project_id, (SHARED,))


def visible_one(project_id: Any) -> ColumnElement[bool]:
    """The same for a statement about one group by id: an EXISTS on it."""
    return or_(ag.c.project_id == project_id, shared_to(project_id))


def shared_to(project_id: Any) -> ColumnElement[bool]:
    """Neutron's ``shared`` of an address group for one project (also the ``shared`` filter)."""
    return rbac.grants(TYPE, ag.c.id, project_id, (SHARED,))


async def lookup(conn: AsyncConnection, ctx: Context, group_id: str) -> Any:
    """The address group as the caller sees it (admins: any), or 404."""
    stmt = select(ag).where(ag.c.id == group_id)
    if not ctx.is_admin:
        stmt = stmt.where(visible_one(ctx.project_id))
    row = (await conn.execute(stmt)).first()
    if row is None:
        raise errors.AddressGroupNotFound(address_group_id=group_id)
    return row


async def rules_depending(conn: AsyncConnection, group: Any, losing: Any) -> str | None:
    used = exists().where(rules.c.remote_address_group_id == group.id, losing(rules.c.project_id))
    if await conn.scalar(select(used)):
        return f"Security group rules of projects losing access use address group {group.id}"
    return None


ADDRESS_GROUP = ObjectType(name=TYPE, actions=(SHARED,), lookup=lookup, dependents={SHARED: rules_depending})
