"""Security groups as RBAC objects (Neutron's ``rbac-security-groups``).

A policy ``access_as_shared`` lets its target project (or every project)
see the group and put it on its ports. Losing it is refused while ports of
the losing projects use the group.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.context import Context
from quark.db import models
from quark.services.common import rbac
from quark.services.common.rbac import SHARED, ObjectType

sg = models.security_groups
psg = models.port_security_groups
p = models.ports
TYPE = "security_group"


_own = sg.alias("own_groups")


def visible(project_id: Any) -> ColumnElement[bool]:
    """Groups a project may list or use: its own, and those shared with it."""
    own = select(_own.c.id).where(_own.c.project_id == project_id)
    return rbac.own_or_granted(sg.c.id, own, TYPE, project_id, (SHARED,))


def shared_to(project_id: Any) -> ColumnElement[bool]:
    return rbac.grants(TYPE, sg.c.id, project_id, (SHARED,))


async def lookup(conn: AsyncConnection, ctx: Context, group_id: str) -> Any:
    stmt = select(sg).where(sg.c.id == group_id)
    if not ctx.is_admin:
        stmt = stmt.where(visible(ctx.project_id))
    row = (await conn.execute(stmt)).first()
    if row is None:
        raise errors.SecurityGroupNotFound(id=group_id)
    return row


async def ports_depending(conn: AsyncConnection, group: Any, losing: Any) -> str | None:
    used = exists().where(psg.c.security_group_id == group.id, p.c.id == psg.c.port_id, losing(p.c.project_id))
    if await conn.scalar(select(used)):
        return "Ports of projects losing access use the security group"
    return None


SECURITY_GROUP = ObjectType(name=TYPE, actions=(SHARED,), lookup=lookup, dependents={SHARED: ports_depending})
