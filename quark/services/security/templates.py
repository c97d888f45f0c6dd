"""Neutron's default security-group rules (``security-groups-default-rules``):
the templates of the rules a new group gets, admin-managed.

A template's ``remote_group_id`` may be ``PARENT``: the group being made.
``used_in_default_sg``: each project's default group gets the rule (when it
is made; existing groups keep theirs); ``used_in_non_default_sg``: every
other new group does. Migration 0016 seeds Neutron's defaults: open egress
(IPv4 and IPv6) in every group, ingress from the group's own members in the
default group. See docs/default_security_group_rules.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import error_bases, errors
from quark.clock import utcnow
from quark.context import Context
from quark.db import security_models
from quark.services.common import base
from quark.services.common.base import ResourceService
from quark.services.common.listing import ListQuery
from quark.services.security.rule_checks import normalise_rule
from quark.services.security.rules import rule_row

t = security_models.default_security_group_rules

PARENT = "PARENT"


# Neutron's wire types (neutron.extensions.security_groups_default_rules).
class DefaultSecurityGroupRuleNotFound(error_bases.NotFound):
    message = "Default Security Group rule {id} does not exist"


class DefaultSecurityGroupRuleExists(error_bases.Conflict):
    message = "Default Security group rule already exists. Rule id is {rule_id}."


_RULE_FIELDS = (
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
    "remote_address_group_id",
)


# Neutron's default templates (the rows migration 0016 seeds, described as
# Neutron's "Legacy default SG rule for <direction> traffic"): (direction,
# ethertype, remote_group_id, used_in_default_sg, used_in_non_default_sg).
NEUTRON_DEFAULTS = (
    ("egress", "IPv4", None, True, True),
    ("egress", "IPv6", None, True, True),
    ("ingress", "IPv4", PARENT, True, False),
    ("ingress", "IPv6", PARENT, True, False),
)


async def restore_defaults(db) -> None:
    """Make Neutron's default templates the only ones (a database emptied for a test)."""

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(delete(t))
        now = utcnow()
        await conn.execute(
            insert(t),
            [
                {
                    "id": base.new_id(),
                    "direction": direction,
                    "ethertype": ethertype,
                    "protocol": None,
                    "port_range_min": None,
                    "port_range_max": None,
                    "remote_ip_prefix": None,
                    "remote_group_id": remote,
                    "remote_address_group_id": None,
                    "used_in_default_sg": in_default,
                    "used_in_non_default_sg": in_other,
                    "description": f"Legacy default SG rule for {direction} traffic",
                    "created_at": now,
                    "updated_at": now,
                    "revision_number": 0,
                }
                for direction, ethertype, remote, in_default, in_other in NEUTRON_DEFAULTS
            ],
        )

    await db.run_write(work)


async def rules_from_templates(conn: AsyncConnection, group_id: str, project_id: str, *, default: bool) -> list[dict]:
    """The rule rows a new group gets: those of the templates for a default
    group (``default``) or for any other, ``PARENT`` standing for the group."""
    used = t.c.used_in_default_sg if default else t.c.used_in_non_default_sg
    stmt = select(t).where(used.is_(True)).order_by(t.c.created_at, t.c.id)
    out = []
    for row in await conn.execute(stmt):
        values = {name: getattr(row, name) for name in _RULE_FIELDS if name != "remote_address_group_id"}
        if values["remote_group_id"] == PARENT:
            values["remote_group_id"] = group_id
        # The rule's description stays empty: the template's describes the template.
        out.append(rule_row(group_id, project_id, **values))
    return out


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class DefaultRuleService(ResourceService):
    table = t
    not_found = DefaultSecurityGroupRuleNotFound
    not_found_key = "id"
    columns = {
        "id": t.c.id,
        "description": t.c.description,
        **{name: t.c[name] for name in _RULE_FIELDS},
        "used_in_default_sg": t.c.used_in_default_sg,
        "used_in_non_default_sg": t.c.used_in_non_default_sg,
    }

    def visible(self, ctx: Context):
        return None  # no owner: who may read them is the policy's decision

    def assemble(self, rows: Sequence[Any], found: base.Found, query: ListQuery) -> base.Views:
        return [
            {
                "id": row.id,
                "description": row.description,
                **{name: getattr(row, name) for name in _RULE_FIELDS},
                "used_in_default_sg": row.used_in_default_sg,
                "used_in_non_default_sg": row.used_in_non_default_sg,
            }
            for row in rows
        ]

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        """Raises the rules' 400s, 404 AddressGroupNotFound (Quark has no address
        groups), 409 DefaultSecurityGroupRuleExists for the same rule as a template
        sharing one of its ``used_in_*`` values."""
        values = normalise_rule(attrs)
        remote = values["remote_group_id"]
        if remote is not None and remote != PARENT and not _is_uuid(remote):
            raise errors.InvalidInput(error_message=f"remote_group_id {remote!r} is neither PARENT nor a group id")
        if attrs.get("remote_address_group_id"):
            raise errors.AddressGroupNotFound(address_group_id=attrs["remote_address_group_id"])
        values.update(
            remote_address_group_id=None,
            used_in_default_sg=attrs.get("used_in_default_sg", False),
            used_in_non_default_sg=attrs.get("used_in_non_default_sg", True),
        )
        same = [
            (t.c[k].is_(None) if v is None else t.c[k] == v)
            for k, v in values.items()
            if k not in ("description", "used_in_default_sg", "used_in_non_default_sg")
        ]
        # As Neutron's: the same rule may be two templates only if they differ in
        # both flags (one for default groups, the other for the rest).
        same.append(
            or_(
                t.c.used_in_default_sg == values["used_in_default_sg"],
                t.c.used_in_non_default_sg == values["used_in_non_default_sg"],
            )
        )
        existing = await conn.scalar(select(t.c.id).where(*same).limit(1))
        if existing is not None:
            raise DefaultSecurityGroupRuleExists(rule_id=existing)
        rule_id, now = base.new_id(), utcnow()
        await conn.execute(insert(t).values(id=rule_id, created_at=now, updated_at=now, revision_number=0, **values))
        return rule_id

    async def update(self, ctx: Context, rule_id: str, attrs: dict, if_match: int | None = None) -> dict:
        # Every attribute is read-only (Neutron's PUT finds nothing to change).
        return await self.get(ctx, rule_id)

    async def delete(self, ctx: Context, rule_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            await self.get_row(conn, ctx, rule_id, for_update=True)
            await conn.execute(delete(t).where(t.c.id == rule_id))

        await self.db.run_write(work)
