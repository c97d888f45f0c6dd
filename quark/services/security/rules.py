"""Security-group rules (contract §3.4): their rows, views and service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.db.lookups import IDS, Lookup
from quark.services.common import base
from quark.services.common.base import ResourceService, check_revision, standard_columns
from quark.services.common.idempotency import answered
from quark.services.common.listing import ListQuery
from quark.services.events import ResourcesCreated, ResourcesWritten, SecurityGroupRulesChanged, Written
from quark.services.security import address_group_rbac
from quark.services.security.rule_checks import normalise_rule, normalized_cidr

sg = models.security_groups
rules = models.security_group_rules
dsg = models.default_security_groups


def rules_of_groups(group_ids: Any) -> Lookup:
    """The rules of the groups ``group_ids`` (a bind parameter or a subquery),
    each marked with whether its group is a project's default group."""
    return Lookup(
        "group.rules",
        select(rules, dsg.c.project_id.label("default_of"))
        .outerjoin(dsg, dsg.c.security_group_id == rules.c.security_group_id)
        .where(rules.c.security_group_id.in_(group_ids)),
        order=("created_at", "id"),
    )


GROUP_RULES = rules_of_groups(IDS)


def rule_view(row: Any, default_ids: set[str]) -> dict:
    view = base.standard_view(row)
    view.update(
        {
            "security_group_id": row.security_group_id,
            "direction": row.direction,
            "ethertype": row.ethertype,
            "protocol": row.protocol,
            "port_range_min": row.port_range_min,
            "port_range_max": row.port_range_max,
            "remote_ip_prefix": row.remote_ip_prefix,
            "remote_group_id": row.remote_group_id,
            "remote_address_group_id": row.remote_address_group_id,
            "normalized_cidr": normalized_cidr(row.remote_ip_prefix),
            "belongs_to_default_sg": row.security_group_id in default_ids,
        }
    )
    return view


def rule_row(group_id: str, project_id: str, direction: str, ethertype: str, **extra) -> dict:
    now = utcnow()
    return {
        "id": extra.get("id") or base.new_id(),  # an id given: an import (quark import neutron)
        "security_group_id": group_id,
        "project_id": project_id,
        "direction": direction,
        "ethertype": ethertype,
        "protocol": extra.get("protocol"),
        "port_range_min": extra.get("port_range_min"),
        "port_range_max": extra.get("port_range_max"),
        "remote_ip_prefix": extra.get("remote_ip_prefix"),
        "remote_group_id": extra.get("remote_group_id"),
        "remote_address_group_id": extra.get("remote_address_group_id"),
        "description": extra.get("description", ""),
        "created_at": now,
        "updated_at": now,
        "revision_number": 0,
    }


def visible_group(ctx: Context, group_id: str) -> Select:
    """A security group a rule of the caller may name: its own project's (any, for admins)."""
    stmt = select(sg).where(sg.c.id == group_id)
    return stmt if ctx.is_admin else stmt.where(sg.c.project_id == ctx.project_id)


class SecurityGroupRuleService(ResourceService):
    table = rules
    not_found = errors.SecurityGroupRuleNotFound
    not_found_key = "id"
    columns = {
        **standard_columns(rules),
        "security_group_id": rules.c.security_group_id,
        "direction": rules.c.direction,
        "ethertype": rules.c.ethertype,
        "protocol": rules.c.protocol,
        "port_range_min": rules.c.port_range_min,
        "port_range_max": rules.c.port_range_max,
        "remote_ip_prefix": rules.c.remote_ip_prefix,
        "remote_group_id": rules.c.remote_group_id,
        "remote_address_group_id": rules.c.remote_address_group_id,
    }

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> list[dict]:
        group_ids = {r.security_group_id for r in rows}
        defaults = (
            set(
                (
                    await conn.execute(select(dsg.c.security_group_id).where(dsg.c.security_group_id.in_(group_ids)))
                ).scalars()
            )
            if group_ids
            else set()
        )
        return [rule_view(r, defaults) for r in rows]

    async def create_bulk(self, ctx: Context, items: list[dict]) -> list[dict]:
        async def work(conn: AsyncConnection) -> list[dict]:
            created = []
            for attrs in items:
                project_id = base.resolve_project(ctx, attrs)
                group_id = attrs["security_group_id"]
                group = (await conn.execute(visible_group(ctx, group_id))).first()
                if group is None:
                    raise errors.SecurityGroupNotFound(id=group_id)
                values = normalise_rule(attrs)
                # The remote group is looked up as the rule's own group is: another
                # project's group is as missing as one that does not exist (Neutron's
                # _check_security_group with the rule's project).
                remote = values["remote_group_id"]
                if remote and (await conn.execute(visible_group(ctx, remote))).first() is None:
                    raise errors.SecurityGroupNotFound(id=remote)
                # An address group the caller can see: its own, or shared with it by a policy.
                if values["remote_address_group_id"]:
                    await address_group_rbac.lookup(conn, ctx, values["remote_address_group_id"])
                same = [rules.c.security_group_id == group_id] + [
                    (rules.c[k].is_(None) if v is None else rules.c[k] == v)
                    for k, v in values.items()
                    if k != "description"
                ]
                existing = await conn.scalar(select(rules.c.id).where(*same).limit(1))
                if existing is not None:
                    raise errors.SecurityGroupRuleExists(rule_id=existing)
                owner = group.project_id if ctx.is_admin else project_id
                row = rule_row(group_id, owner, id=attrs.get("id"), **values)
                await conn.execute(insert(rules).values(**row))
                await conn.execute(
                    sg.update()
                    .where(sg.c.id == group_id)
                    .values(revision_number=sg.c.revision_number + 1, updated_at=utcnow())
                )
                await self.events.publish(conn, SecurityGroupRulesChanged((group_id,)))
                await self._group_written(conn, ctx, group_id)
                await self.events.publish(conn, ResourcesCreated("security_group_rule", {row["project_id"]: 1}))
                created.append(row["id"])
            return await self.render_ids(conn, ctx, created)

        return await self.db.run_write(answered(ctx, work))

    async def update(self, ctx: Context, rule_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.get_row(conn, ctx, rule_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            await self.bump_revision(conn, rule_id, **{k: attrs[k] for k in ("description",) if k in attrs})
            return await self.render_one(conn, ctx, rule_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, rule_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, rule_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            await conn.execute(delete(rules).where(rules.c.id == rule_id))
            await conn.execute(
                sg.update()
                .where(sg.c.id == row.security_group_id)
                .values(revision_number=sg.c.revision_number + 1, updated_at=utcnow())
            )
            await self.events.publish(conn, SecurityGroupRulesChanged((row.security_group_id,)))
            await self._group_written(conn, ctx, row.security_group_id)

        await self.db.run_write(work)

    async def _group_written(self, conn: AsyncConnection, ctx: Context, group_id: str) -> None:
        """A rule added or removed changes its group (the backend's ACLs): an update of the group."""
        group = (await conn.execute(select(sg.c.project_id, sg.c.revision_number).where(sg.c.id == group_id))).one()
        written = (Written(group_id, group.revision_number, group.project_id),)
        await self.events.publish(conn, ResourcesWritten("security_group", "update", written, ctx))
