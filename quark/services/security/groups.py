"""Security groups and rules with Neutron's semantics (contract §3.4, §4.8).

Every project gets a ``default`` group the first time it lists groups or
creates a port: ingress from members of the group itself (IPv4 and IPv6) and
open egress. Every new group starts with the two open egress rules. Ports
created without ``security_groups`` (port security on, owner not
``network:*``) get the default group. Rules are stored and returned here;
enforcement on hosts is the agent's job.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, owners
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.db.dialect import insert_ignore
from quark.db.lookups import IDS, Lookup
from quark.services.common import base
from quark.services.common.base import ResourceService, check_revision, standard_columns, write_tags
from quark.services.common.listing import ListQuery
from quark.services.events import PortGroupsChanging, PortsCreating

sg = models.security_groups
rules = models.security_group_rules
dsg = models.default_security_groups
psg = models.port_security_groups


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

PORTED_PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132, "dccp": 33, "udplite": 136}
ICMP_PROTOCOLS = {"icmp": 1, "ipv6-icmp": 58, "icmpv6": 58}
PROTOCOL_NAMES = {
    "ah": 51,
    "dccp": 33,
    "egp": 8,
    "esp": 50,
    "gre": 47,
    "icmp": 1,
    "icmpv6": 58,
    "igmp": 2,
    "ipip": 4,
    "ipv6-encap": 41,
    "ipv6-frag": 44,
    "ipv6-icmp": 58,
    "ipv6-nonxt": 59,
    "ipv6-opts": 60,
    "ipv6-route": 43,
    "ospf": 89,
    "pgm": 113,
    "rsvp": 46,
    "sctp": 132,
    "tcp": 6,
    "udp": 17,
    "udplite": 136,
    "vrrp": 112,
    "any": None,
}


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
            "normalized_cidr": row.remote_ip_prefix,
            "belongs_to_default_sg": row.security_group_id in default_ids,
        }
    )
    return view


def _rule_row(group_id: str, project_id: str, direction: str, ethertype: str, **extra) -> dict:
    now = utcnow()
    return {
        "id": base.new_id(),
        "security_group_id": group_id,
        "project_id": project_id,
        "direction": direction,
        "ethertype": ethertype,
        "protocol": extra.get("protocol"),
        "port_range_min": extra.get("port_range_min"),
        "port_range_max": extra.get("port_range_max"),
        "remote_ip_prefix": extra.get("remote_ip_prefix"),
        "remote_group_id": extra.get("remote_group_id"),
        "remote_address_group_id": None,
        "description": extra.get("description", ""),
        "created_at": now,
        "updated_at": now,
        "revision_number": 0,
    }


def normalise_rule(attrs: dict) -> dict:
    """Neutron's rule checks; returns the values to store. Raises 400s."""
    ethertype = {"ipv4": "IPv4", "ipv6": "IPv6"}.get(str(attrs.get("ethertype", "IPv4")).lower())
    if ethertype is None:
        raise errors.InvalidInput(error_message=f"Invalid ethertype {attrs.get('ethertype')}: use IPv4 or IPv6")
    remotes = [k for k in ("remote_ip_prefix", "remote_group_id", "remote_address_group_id") if attrs.get(k)]
    if len(remotes) > 1:
        raise errors.SecurityGroupRemoteGroupAndRemoteIpPrefix()
    protocol = attrs.get("protocol")
    if protocol is not None:
        protocol = str(protocol).lower()
        if protocol.isdigit():
            if not 0 <= int(protocol) <= 255:
                raise errors.SecurityGroupRuleInvalidProtocol(protocol=protocol)
        elif protocol not in PROTOCOL_NAMES:
            raise errors.SecurityGroupRuleInvalidProtocol(protocol=protocol)
        elif protocol == "any":
            protocol = None
    low, high = attrs.get("port_range_min"), attrs.get("port_range_max")
    if (low is not None or high is not None) and protocol is None:
        raise errors.SecurityGroupProtocolRequiredWithPorts()
    number = int(protocol) if protocol and protocol.isdigit() else PROTOCOL_NAMES.get(protocol or "", None)
    if low is not None or high is not None:
        if number in PORTED_PROTOCOLS.values():
            if low is None or high is None or not 1 <= low <= high <= 65535:
                raise errors.SecurityGroupInvalidPortRange()
            if (low, high) == (1, 65535):
                low = high = None  # the whole range is "any port", as Neutron stores it
        elif number in ICMP_PROTOCOLS.values():
            if low is None and high is not None:
                raise errors.SecurityGroupMissingIcmpType(value=high)
            for value in (low, high):
                if value is not None and not 0 <= value <= 255:
                    raise errors.SecurityGroupInvalidIcmpValue(field="type/code", value=value)
        else:
            raise errors.SecurityGroupInvalidPortRange()
    prefix = attrs.get("remote_ip_prefix")
    if prefix:
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            raise errors.InvalidInput(error_message=f"'{prefix}' is not a valid IP prefix") from None
        if f"IPv{net.version}" != ethertype:
            raise errors.SecurityGroupRuleParameterConflict(ethertype=ethertype, cidr=prefix)
        prefix = str(net)
    return {
        "direction": attrs["direction"],
        "ethertype": ethertype,
        "protocol": protocol,
        "port_range_min": low,
        "port_range_max": high,
        "remote_ip_prefix": prefix,
        "remote_group_id": attrs.get("remote_group_id"),
        "description": attrs.get("description", ""),
    }


class DefaultGroups:
    """Finds (and lazily makes) each project's default group; safe across processes.

    The ``default_security_groups`` primary key on the project decides which
    of two concurrent first requests makes the group; no cache, because an
    admin may delete a default group from any process.
    """

    async def ensure(self, conn: AsyncConnection, project_id: str) -> str:
        found = await conn.scalar(select(dsg.c.security_group_id).where(dsg.c.project_id == project_id))
        if found is not None:
            return found
        group_id = base.new_id()
        claimed = await conn.execute(insert_ignore(conn, dsg, project_id=project_id, security_group_id=group_id))
        if claimed.rowcount != 1:  # another request made it first
            return await conn.scalar(select(dsg.c.security_group_id).where(dsg.c.project_id == project_id))
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
        await conn.execute(
            insert(rules),
            [
                _rule_row(group_id, project_id, "ingress", "IPv4", remote_group_id=group_id),
                _rule_row(group_id, project_id, "ingress", "IPv6", remote_group_id=group_id),
                _rule_row(group_id, project_id, "egress", "IPv4"),
                _rule_row(group_id, project_id, "egress", "IPv6"),
            ],
        )
        return group_id


class SecurityGroupService(ResourceService):
    table = sg
    not_found = errors.SecurityGroupNotFound
    not_found_key = "id"
    columns = {**standard_columns(sg), "stateful": sg.c.stateful}
    related = (("security_group_rules", GROUP_RULES), ("tags", base.TAGS))

    def __init__(self, db, settings, defaults: DefaultGroups) -> None:
        super().__init__(db, settings)
        self.defaults = defaults

    async def list(self, ctx: Context, query: ListQuery) -> list[dict]:
        # Neutron makes the caller's default group on its first look; the
        # write transaction is only paid the first time.
        async with self.db.read() as conn:
            present = await conn.scalar(select(dsg.c.security_group_id).where(dsg.c.project_id == ctx.project_id))
        if present is None:
            await self.db.run_write(lambda conn: self.defaults.ensure(conn, ctx.project_id))
        return await super().list(ctx, query)

    def assemble(self, rows: Sequence[Any], found: dict[str, list[Any]], query: ListQuery) -> list[dict]:
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

    async def create_bulk(self, ctx: Context, items: list[dict]) -> list[dict]:
        async def work(conn: AsyncConnection) -> list[dict]:
            ids = []
            for attrs in items:
                if attrs.get("name") == "default":
                    raise errors.SecurityGroupDefaultAlreadyExists()
                project_id = base.resolve_project(ctx, attrs)
                await self.defaults.ensure(conn, project_id)
                group_id, now = base.new_id(), utcnow()
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
                await conn.execute(
                    insert(rules),
                    [
                        _rule_row(group_id, project_id, "egress", "IPv4"),
                        _rule_row(group_id, project_id, "egress", "IPv6"),
                    ],
                )
                ids.append(group_id)
            return await self.render_ids(conn, ctx, ids)

        return await self.db.run_write(work)

    async def update(self, ctx: Context, group_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.get_row(conn, ctx, group_id, for_update=True)
            await self.authorize_write(conn, ctx, row)
            check_revision(row, if_match)
            if row.name == "default" and attrs.get("name", "default") != "default":
                raise errors.SecurityGroupCannotUpdateDefault()
            if attrs.get("name") == "default" and row.name != "default":
                raise errors.SecurityGroupDefaultAlreadyExists()
            changes = {k: attrs[k] for k in ("name", "description", "stateful") if k in attrs}
            await self.bump_revision(conn, group_id, **changes)
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
            await conn.execute(
                delete(rules).where(or_(rules.c.security_group_id == group_id, rules.c.remote_group_id == group_id))
            )
            await conn.execute(delete(dsg).where(dsg.c.security_group_id == group_id))
            await write_tags(conn, group_id, [])
            await conn.execute(delete(sg).where(sg.c.id == group_id))

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
                choice.groups = list(choice.requested)
            elif not choice.port_security or owners.is_network_service(choice.device_owner):
                choice.groups = []
            elif choice.known_default is not None:
                choice.groups = [choice.known_default]
            else:
                choice.groups = [await self.defaults.ensure(conn, choice.project_id)]

    async def on_port_groups_changing(self, conn: AsyncConnection, event: PortGroupsChanging) -> None:
        await self.check_usable(conn, event.ctx, event.project_id, event.added)

    async def check_usable(self, conn: AsyncConnection, ctx: Context, project_id: str, ids: Sequence[str]) -> None:
        """Groups a port may use: the port's project's own (any, for admins). 404 otherwise."""
        if not ids:
            return
        stmt = select(sg.c.id).where(sg.c.id.in_(list(ids)))
        if not ctx.is_admin:
            stmt = stmt.where(sg.c.project_id == project_id)
        found = set((await conn.execute(stmt)).scalars())
        for group_id in ids:
            if group_id not in found:
                raise errors.SecurityGroupNotFound(id=group_id)


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
                stmt = select(sg).where(sg.c.id == group_id)
                if not ctx.is_admin:
                    stmt = stmt.where(sg.c.project_id == ctx.project_id)
                group = (await conn.execute(stmt)).first()
                if group is None:
                    raise errors.SecurityGroupNotFound(id=group_id)
                values = normalise_rule(attrs)
                if values["remote_group_id"] and not await conn.scalar(
                    select(exists().where(sg.c.id == values["remote_group_id"]))
                ):
                    raise errors.SecurityGroupNotFound(id=values["remote_group_id"])
                same = [rules.c.security_group_id == group_id] + [
                    (rules.c[k].is_(None) if v is None else rules.c[k] == v)
                    for k, v in values.items()
                    if k != "description"
                ]
                existing = await conn.scalar(select(rules.c.id).where(*same).limit(1))
                if existing is not None:
                    raise errors.SecurityGroupRuleExists(rule_id=existing)
                row = _rule_row(group_id, group.project_id if ctx.is_admin else project_id, **values)
                await conn.execute(insert(rules).values(**row))
                await conn.execute(
                    sg.update()
                    .where(sg.c.id == group_id)
                    .values(revision_number=sg.c.revision_number + 1, updated_at=utcnow())
                )
                created.append(row["id"])
            return await self.render_ids(conn, ctx, created)

        return await self.db.run_write(work)

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

        await self.db.run_write(work)
