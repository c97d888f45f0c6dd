"""What a host's agent needs to enforce security groups, in its desired state
(docs/security_groups_enforcement.md, docs/agent_api.md).

Each port of the document gets ``port_security_enabled``,
``allowed_address_pairs`` and ``security_groups`` (its group ids; its MAC and
``fixed_ips`` are there already). The document gets two maps, each group once
however many ports use it:

- ``security_groups``: group id → ``stateful`` and its rules (``protocol`` as
  an IP protocol number, ``remote_ip_prefix`` as its network);
- ``remote_groups``: group id → the addresses of its member ports (fixed IPs
  and allowed address pairs), for every group a rule names as
  ``remote_group_id``: one address set per remote group on the host, not one
  per rule;
- ``address_groups``: address-group id → its CIDRs, for every address group a
  rule names as ``remote_address_group_id`` (docs/address_groups.md).

Each table is read once per document.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark.db import address_group_models, models
from quark.ipam import holders
from quark.services.security.rule_checks import PROTOCOL_NAMES

p = models.ports
sg = models.security_groups
rules = models.security_group_rules
psg = models.port_security_groups
aga = address_group_models.address_group_addresses


def protocol_number(protocol: str | None) -> int | None:
    """A stored protocol (name or number) as its IP protocol number."""
    if protocol is None:
        return None
    return int(protocol) if protocol.isdigit() else PROTOCOL_NAMES.get(protocol)


def _network(prefix: str | None) -> str | None:
    return str(ipaddress.ip_network(prefix, strict=False)) if prefix else None


def _rule(row: Any) -> dict:
    return {
        "direction": row.direction,
        "ethertype": row.ethertype,
        "protocol": protocol_number(row.protocol),
        "port_range_min": row.port_range_min,
        "port_range_max": row.port_range_max,
        "remote_ip_prefix": _network(row.remote_ip_prefix),
        "remote_group_id": row.remote_group_id,
        "remote_address_group_id": row.remote_address_group_id,
    }


async def _groups_of(conn: AsyncConnection, port_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    if port_ids:
        for port_id, group_id in await conn.execute(
            select(psg.c.port_id, psg.c.security_group_id)
            .where(psg.c.port_id.in_(port_ids))
            .order_by(psg.c.port_id, psg.c.security_group_id)
        ):
            out[port_id].append(group_id)
    return out


async def member_addresses(conn: AsyncConnection, group_ids: set[str]) -> dict[str, list[str]]:
    """Group id → the sorted addresses of its ports: fixed IPs and allowed address pairs."""
    if not group_ids:
        return {}
    members = list(
        await conn.execute(
            select(psg.c.security_group_id, p.c.id, p.c.allowed_address_pairs)
            .select_from(psg.join(p, p.c.id == psg.c.port_id))
            .where(psg.c.security_group_id.in_(sorted(group_ids)))
        )
    )
    fixed: dict[str, list[str]] = defaultdict(list)
    for row in await holders.held_by_ports(conn, sorted({m.id for m in members})):
        fixed[row.port_id].append(row.address)
    out: dict[str, set[str]] = {g: set() for g in group_ids}
    for group_id, port_id, pairs in members:
        out[group_id].update(fixed.get(port_id, ()))
        out[group_id].update(str(pair["ip_address"]) for pair in pairs or ())
    return {g: sorted(addrs) for g, addrs in out.items()}


async def address_group_members(conn: AsyncConnection, address_group_ids: set[str]) -> dict[str, list[str]]:
    """Address-group id → its CIDRs, sorted (one statement)."""
    out: dict[str, list[str]] = {g: [] for g in address_group_ids}
    if address_group_ids:
        stmt = select(aga.c.address_group_id, aga.c.address).where(
            aga.c.address_group_id.in_(sorted(address_group_ids))
        )
        for group_id, address in await conn.execute(stmt.order_by(aga.c.address_group_id, aga.c.address)):
            out[group_id].append(address)
    return out


async def _groups(conn: AsyncConnection, group_ids: list[str]) -> dict[str, dict]:
    """Group id → ``stateful`` and its rules, oldest first."""
    groups: dict[str, dict] = {}
    if group_ids:
        for group in await conn.execute(select(sg.c.id, sg.c.stateful).where(sg.c.id.in_(group_ids))):
            groups[group.id] = {"stateful": bool(group.stateful), "rules": []}
        for rule in await conn.execute(
            select(rules).where(rules.c.security_group_id.in_(group_ids)).order_by(rules.c.created_at, rules.c.id)
        ):
            groups[rule.security_group_id]["rules"].append(_rule(rule))
    return groups


def _named(groups: dict[str, dict], attribute: str) -> set[str]:
    """The ids the groups' rules name as ``attribute`` (a remote group, an address group)."""
    return {r[attribute] for g in groups.values() for r in g["rules"] if r[attribute]}


async def add_filters(conn: AsyncConnection, ports: list[dict]) -> dict[str, Any]:
    """Give each port of a desired-state document its filter attributes; answer
    the document's ``security_groups``, ``remote_groups`` and ``address_groups``."""
    ids = [port["id"] for port in ports]
    rows = {}
    if ids:
        rows = {
            r.id: r
            for r in await conn.execute(
                select(p.c.id, p.c.port_security_enabled, p.c.allowed_address_pairs).where(p.c.id.in_(ids))
            )
        }
    groups_of = await _groups_of(conn, ids)
    for port in ports:
        row = rows.get(port["id"])
        port["port_security_enabled"] = bool(row.port_security_enabled) if row is not None else False
        port["allowed_address_pairs"] = [
            {"ip_address": pair["ip_address"], "mac_address": pair.get("mac_address") or port["mac_address"]}
            for pair in (row.allowed_address_pairs if row is not None else None) or ()
        ]
        port["security_groups"] = groups_of.get(port["id"], [])
    groups = await _groups(conn, sorted({g for gs in groups_of.values() for g in gs}))
    return {
        "security_groups": groups,
        "remote_groups": await member_addresses(conn, _named(groups, "remote_group_id")),
        "address_groups": await address_group_members(conn, _named(groups, "remote_address_group_id")),
    }
