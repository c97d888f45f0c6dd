"""Security groups with Neutron's semantics (contract §3.4, §4.8).

Every project gets a ``default`` group (``defaults``) the first time it
lists groups or creates a port. Every new group starts with the two open
egress rules (``rules``). The groups of new ports are decided here, as a
subscriber of ``PortsCreating``: those asked for (checked), or the
project's default group for ports with port security on that are not
network-service ports. Rules are stored and returned; enforcement on hosts
is the agent's job.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, owners
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.services.common import base, rbac
from quark.services.common.base import Found, ResourceService, Views, check_revision, standard_columns, write_tags
from quark.services.common.idempotency import answered
from quark.services.common.listing import ListQuery
from quark.services.events import (
    Events,
    PortGroupsChanging,
    PortsCreating,
    ResourcesCreated,
    ResourcesWritten,
    SecurityGroupRulesChanged,
    Written,
)
from quark.services.security import group_rbac
from quark.services.security.defaults import DefaultGroups
from quark.services.security.rules import GROUP_RULES, rule_view
from quark.services.security.templates import rules_from_templates

sg = models.security_groups
rules = models.security_group_rules
dsg = models.default_security_groups
psg = models.port_security_groups


class SecurityGroupService(ResourceService):
    table = sg
    not_found = errors.SecurityGroupNotFound
    not_found_key = "id"
    columns = {**standard_columns(sg), "stateful": sg.c.stateful}
    related = (("security_group_rules", GROUP_RULES), ("tags", base.TAGS))

    def __init__(self, db, settings, defaults: DefaultGroups, events: Events | None = None) -> None:
        super().__init__(db, settings, events)
        self.defaults = defaults

    def visible(self, ctx: Context):
        return None if ctx.is_admin else group_rbac.visible(ctx.project_id)

    def matching(self, ctx: Context, query: ListQuery):
        """``shared``: shared with the caller's project by a policy (Neutron)."""
        stmt = super().matching(ctx, query)
        if "shared" in query.filters:
            stmt = stmt.where(rbac.flag_filter(group_rbac.shared_to(ctx.project_id), query.filters["shared"]))
        return stmt

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> Views:
        views = await super().render(conn, ctx, rows, query)
        if query.wants("shared"):
            shared = await rbac.granted_ids(conn, [r.id for r in rows], ctx.project_id, rbac.SHARED)
            for view in views:
                view["shared"] = view["id"] in shared
        return views

    async def list(self, ctx: Context, query: ListQuery) -> list[dict]:
        # Neutron makes the caller's default group on its first look (an
        # admin's: that of the project it filters by); the write transaction
        # is only paid the first time.
        project_id = _looked_at_project(ctx, query)
        async with self.db.read() as conn:
            present = await conn.scalar(select(dsg.c.security_group_id).where(dsg.c.project_id == project_id))
        if present is None:
            await self.db.run_write(lambda conn: self.defaults.ensure(conn, project_id))
        return await super().list(ctx, query)

    def assemble(self, rows: Sequence[Any], found: Found, query: ListQuery) -> Views:
        rule_rows = found.get("group.rules", ())
        defaults = {row.security_group_id for row in rule_rows if row.default_of is not None}
        by_group: dict[str, list[dict]] = defaultdict(list)
        for row in rule_rows:
            by_group[row.security_group_id].append(rule_view(row, defaults))
        tags = base.tags_by_resource(found)
        out = []
        for row in rows:
            view = base.standard_view(row)
            view.update(
                {
                    "name": row.name,
                    "stateful": row.stateful,
                    "shared": False,
                    "security_group_rules": by_group.get(row.id, []),
                    "tags": tags.get(row.id, []),
                }
            )
            out.append(view)
        return out

    async def create_bulk(self, ctx: Context, items: Views) -> Views:
        async def work(conn: AsyncConnection) -> Views:
            ids = []
            for attrs in items:
                if attrs.get("name") == "default":
                    raise errors.SecurityGroupDefaultAlreadyExists()
                ids.append(await self._create_one(conn, ctx, attrs, imported=False))
            return await self.render_ids(conn, ctx, ids)

        return await self.db.run_write(answered(ctx, work))

    async def import_group(self, ctx: Context, attrs: dict, *, default: bool) -> dict:
        """A group read from another deployment (``quark import neutron``): its
        own id, none of the templates' rules (its rules are imported after it
        with their ids), and, for ``default``, the project's default group
        (SecurityGroupDefaultAlreadyExists when the project has another one)."""

        async def work(conn: AsyncConnection) -> dict:
            project_id = base.resolve_project(ctx, dict(attrs))
            group_id = await self._create_one(conn, ctx, dict(attrs), imported=True)
            if default and not await self.defaults.adopt(conn, project_id, group_id):
                raise errors.SecurityGroupDefaultAlreadyExists()  # the whole create rolls back
            return await self.render_one(conn, ctx, group_id)

        return await self.db.run_write(work)

    async def _create_one(self, conn: AsyncConnection, ctx: Context, attrs: dict, *, imported: bool) -> str:
        project_id = base.resolve_project(ctx, attrs)
        group_id, now = attrs.get("id") or base.new_id(), utcnow()
        await conn.execute(
            insert(sg).values(
                id=group_id,
                project_id=project_id,
                name=attrs.get("name", ""),
                stateful=attrs.get("stateful", True),
                description=attrs.get("description", ""),
                created_at=now,
                updated_at=now,
                revision_number=0,
            )
        )
        made = await rules_from_templates(conn, group_id, project_id, default=False) if not imported else []
        if made:
            await conn.execute(insert(rules), made)
        # Checked before the project's default group is made, as Neutron's
        # quota reservation: the group and the rules of its templates (Neutron
        # refuses a group whose rules the rule quota has no room for); the
        # default group and its rules are counted, never refused.
        written = (Written(group_id, 0, project_id),)
        await self.events.publish(conn, ResourcesWritten("security_group", "create", written, ctx))
        await self.events.publish(conn, ResourcesCreated("security_group", {project_id: 1}))
        if made:
            await self.events.publish(conn, ResourcesCreated("security_group_rule", {project_id: len(made)}))
        if not imported:  # an import brings the project's default group with its own id
            await self.defaults.ensure(conn, project_id)
        return group_id

    async def update(self, ctx: Context, group_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.get_row(conn, ctx, group_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            if row.name == "default" and attrs.get("name", "default") != "default":
                raise errors.SecurityGroupCannotUpdateDefault()
            if attrs.get("name") == "default" and row.name != "default":
                raise errors.SecurityGroupDefaultAlreadyExists()
            if "stateful" in attrs and attrs["stateful"] != row.stateful:
                # Neutron: the ports of a group in use were set up for its statefulness.
                if await conn.scalar(select(exists().where(psg.c.security_group_id == group_id))):
                    raise errors.SecurityGroupInUse(id=group_id)
            changes = {k: attrs[k] for k in ("name", "description", "stateful") if k in attrs}
            await self.bump_revision(conn, group_id, **changes)
            written = (Written(group_id, row.revision_number + 1, row.project_id),)
            await self.events.publish(conn, ResourcesWritten("security_group", "update", written, ctx))
            return await self.render_one(conn, ctx, group_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, group_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, group_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            is_default = await conn.scalar(select(exists().where(dsg.c.security_group_id == group_id)))
            if is_default and not ctx.is_admin:
                raise errors.SecurityGroupCannotRemoveDefault()
            if await conn.scalar(select(exists().where(psg.c.security_group_id == group_id))):
                raise errors.SecurityGroupInUse(id=group_id)
            # Groups whose rules name this one as their remote group lose those rules.
            referring = tuple(
                (
                    await conn.execute(
                        select(rules.c.security_group_id)
                        .distinct()
                        .where(rules.c.remote_group_id == group_id, rules.c.security_group_id != group_id)
                        .order_by(rules.c.security_group_id)
                    )
                ).scalars()
            )
            await conn.execute(
                delete(rules).where(or_(rules.c.security_group_id == group_id, rules.c.remote_group_id == group_id))
            )
            if referring:
                await self.events.publish(conn, SecurityGroupRulesChanged(referring))
            await conn.execute(delete(dsg).where(dsg.c.security_group_id == group_id))
            await write_tags(conn, group_id, [])
            await rbac.remove_object(conn, group_id)
            await conn.execute(delete(sg).where(sg.c.id == group_id))
            written = (Written(group_id, row.revision_number, row.project_id),)
            await self.events.publish(conn, ResourcesWritten("security_group", "delete", written, ctx))

        await self.db.run_write(work)

    # --- subscribers: the groups of ports -------------------------------------------------

    async def on_ports_creating(self, conn: AsyncConnection, event: PortsCreating) -> None:
        """The groups asked for (checked), or the project's default group as in
        Neutron: only for ports with port security on that are not network
        service ports."""
        for choice in event.choices:
            if choice.requested is not None:
                if choice.requested and not choice.port_security:
                    raise errors.PortSecurityAndIPRequiredForSecurityGroups()
                await self.check_usable(conn, event.ctx, choice.project_id, choice.requested)
                await self.check_one_statefulness(conn, choice.requested)
                choice.groups = list(choice.requested)
            elif not choice.port_security or owners.is_network_service(choice.device_owner):
                choice.groups = []
            elif choice.known_default is not None:
                choice.groups = [choice.known_default]
            else:
                choice.groups = [await self.defaults.ensure(conn, choice.project_id)]

    async def on_port_groups_changing(self, conn: AsyncConnection, event: PortGroupsChanging) -> None:
        await self.check_usable(conn, event.ctx, event.project_id, event.added)
        await self.check_one_statefulness(conn, event.wanted)

    async def check_one_statefulness(self, conn: AsyncConnection, ids: Sequence[str]) -> None:
        """A port's groups are all stateful or all stateless (Neutron's _validate_sgs_for_port: 409)."""
        if len(ids) < 2:
            return
        kinds = set((await conn.execute(select(sg.c.stateful).where(sg.c.id.in_(list(ids))).distinct())).scalars())
        if len(kinds) > 1:
            raise errors.SecurityGroupConflict(
                reason="Cannot apply both stateful and stateless security groups on the same port at the same time"
            )

    async def check_usable(self, conn: AsyncConnection, ctx: Context, project_id: str, ids: Sequence[str]) -> None:
        """Groups a port may use: the port's project's own or shared with it by a
        policy (any, for admins). 404 otherwise."""
        if not ids:
            return
        stmt = select(sg.c.id).where(sg.c.id.in_(list(ids)))
        if not ctx.is_admin:
            stmt = stmt.where(group_rbac.visible(project_id))
        found = set((await conn.execute(stmt)).scalars())
        for group_id in ids:
            if group_id not in found:
                raise errors.SecurityGroupNotFound(id=group_id)


def _looked_at_project(ctx: Context, query: ListQuery) -> str:
    """The project whose default group a list makes: the first ``project_id``
    (or ``tenant_id``) an admin filters by, as Neutron's, else the caller's."""
    if ctx.is_admin:
        for key in ("project_id", "tenant_id"):
            values = query.filters.get(key)
            if values and isinstance(values[0], str) and values[0]:
                return values[0]
    return ctx.project_id
