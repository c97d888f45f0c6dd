"""Each project's default security group (Neutron's semantics, contract §4.8):
made the first time the project lists groups or creates a port, with the
rules of the default security-group rule templates meant for default groups
(Neutron's: ingress from its own members, IPv4 and IPv6, and open egress;
quark.services.security.templates)."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.clock import utcnow
from quark.db import models
from quark.db.dialect import insert_ignore
from quark.services.common import base
from quark.services.events import Events, ResourcesWritten, Written
from quark.services.security.templates import rules_from_templates

sg = models.security_groups
rules = models.security_group_rules
dsg = models.default_security_groups


class DefaultGroups:
    """Finds (and lazily makes) each project's default group; safe across processes.

    The ``default_security_groups`` primary key on the project decides which
    of two concurrent first requests makes the group; no cache, because an
    admin may delete a default group from any process.
    """

    def __init__(self, events: Events | None = None) -> None:
        # Where a new default group is told (a backend driver's job); none: no one.
        self.events = events if events is not None else Events()

    async def adopt(self, conn: AsyncConnection, project_id: str, group_id: str) -> bool:
        """Make ``group_id`` (just written by the caller) the
        project's default group, as an import does; False if it has one."""
        claimed = await conn.execute(insert_ignore(conn, dsg, project_id=project_id, security_group_id=group_id))
        return claimed.rowcount == 1

    async def ensure(self, conn: AsyncConnection, project_id: str) -> str:
        found = await conn.scalar(select(dsg.c.security_group_id).where(dsg.c.project_id == project_id))
        if found is not None:
            return found
        group_id = base.new_id()
        claimed = await conn.execute(insert_ignore(conn, dsg, project_id=project_id, security_group_id=group_id))
        if claimed.rowcount != 1:  # another request made it first
            return str(await conn.scalar(select(dsg.c.security_group_id).where(dsg.c.project_id == project_id)))
        now = utcnow()
        await conn.execute(
            insert(sg).values(
                id=group_id,
                project_id=project_id,
                name="default",
                stateful=True,
                description="Default security group",
                created_at=now,
                updated_at=now,
                revision_number=0,
            )
        )
        made = await rules_from_templates(conn, group_id, project_id, default=True)
        if made:
            await conn.execute(insert(rules), made)
        await self.events.publish(
            conn, ResourcesWritten("security_group", "create", (Written(group_id, 0, project_id),))
        )
        return group_id
