"""IP policies (Quark extension, admin only): CIDRs that automatic allocation
never hands out on the subnets or networks a policy is attached to.

A policy targets either subnets or networks (never both), and a subnet or
network has at most one policy. What a subnet excludes — its own policy's
CIDRs plus its network's, clipped to the subnet — is written into
``subnets.excluded_ranges`` whenever a policy changes, so allocation reads
nothing extra. An explicit request for an excluded address is refused with
409 unless an admin makes it.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.clock import utcnow
from quark.context import Context
from quark.db import models
from quark.ipam import addressing
from quark.ipam.addressing import RangeSet
from quark.services.common import base
from quark.services.common.base import ResourceService, check_revision, standard_columns
from quark.services.common.idempotency import answered
from quark.services.common.listing import ListQuery
from quark.services.events import NetworkDeleting, SubnetCreated, SubnetDeleted

pol = models.ip_policies
tgt = models.ip_policy_targets
s = models.subnets
n = models.networks


def canonical_excludes(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise errors.InvalidInput(error_message=f"'{value}' is not a valid CIDR") from None
        text = addressing.canonical_cidr(net)
        if text not in out:
            out.append(text)
    if not out:
        raise errors.InvalidInput(error_message="An IP policy needs at least one CIDR in 'exclude'")
    return out


def excluded_ranges_for(cidr: str, excludes: Iterable[str]) -> list[list[str]]:
    """The part of ``excludes`` inside ``cidr``, as [[first, last], ...] address pairs."""
    net = ipaddress.ip_network(cidr)
    inside = RangeSet([(int(net.network_address), int(net.broadcast_address))])
    wanted = RangeSet(
        (int(x.network_address), int(x.broadcast_address))
        for x in (ipaddress.ip_network(e) for e in excludes)
        if x.version == net.version
    ).intersect(inside)
    make = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
    return [[str(make(lo)), str(make(hi))] for lo, hi in wanted.ranges()]


async def refresh_subnets(
    conn: AsyncConnection, subnet_ids: Sequence[str] | None = None, network_ids: Sequence[str] | None = None
) -> None:
    """Rewrite ``excluded_ranges`` of the given subnets (or all subnets of the networks)."""
    cond = []
    if subnet_ids:
        cond.append(s.c.id.in_(subnet_ids))
    if network_ids:
        cond.append(s.c.network_id.in_(network_ids))
    if not cond:
        return
    rows = (await conn.execute(select(s.c.id, s.c.network_id, s.c.cidr).where(or_(*cond)))).all()
    if not rows:
        return
    targets = {r.id for r in rows} | {r.network_id for r in rows}
    excludes: dict[str, list[str]] = {}
    for target_id, exclude in await conn.execute(
        select(tgt.c.target_id, pol.c.exclude)
        .join(pol, pol.c.id == tgt.c.policy_id)
        .where(tgt.c.target_id.in_(targets))
    ):
        excludes[target_id] = exclude
    for row in rows:
        cidrs = excludes.get(row.id, []) + excludes.get(row.network_id, [])
        await conn.execute(
            update(s).where(s.c.id == row.id).values(excluded_ranges=excluded_ranges_for(row.cidr, cidrs))
        )


class IpPolicyService(ResourceService):
    table = pol
    not_found = errors.NotFound
    not_found_key = "id"
    columns = standard_columns(pol)

    def _raise_not_found(self, resource_id: str) -> None:
        raise errors.IpPolicyNotFound(id=resource_id)

    def visible(self, ctx: Context):
        return None

    async def render(self, conn: AsyncConnection, ctx: Context, rows: Sequence[Any], query: ListQuery) -> list[dict]:
        ids = [r.id for r in rows]
        targets: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"subnet": [], "network": []})
        if ids:
            for policy_id, target_id, kind in await conn.execute(
                select(tgt.c.policy_id, tgt.c.target_id, tgt.c.target_type)
                .where(tgt.c.policy_id.in_(ids))
                .order_by(tgt.c.target_id)
            ):
                targets[policy_id][kind].append(target_id)
        out = []
        for row in rows:
            view = base.standard_view(row)
            view.update(
                {
                    "name": row.name,
                    "exclude": list(row.exclude),
                    "subnet_ids": targets[row.id]["subnet"],
                    "network_ids": targets[row.id]["network"],
                }
            )
            out.append(view)
        return out

    async def _check_targets(
        self, conn: AsyncConnection, kind: str, ids: list[str], excludes: list[str], policy_id: str | None
    ) -> None:
        table, not_found = (s, errors.SubnetNotFound) if kind == "subnet" else (n, errors.NetworkNotFound)
        key = "subnet_id" if kind == "subnet" else "net_id"
        found = set((await conn.execute(select(table.c.id).where(table.c.id.in_(ids)))).scalars())
        for target_id in ids:
            if target_id not in found:
                raise not_found(**{key: target_id})
        taken = (
            (
                await conn.execute(
                    select(tgt.c.target_id).where(tgt.c.target_id.in_(ids), tgt.c.policy_id != (policy_id or ""))
                )
            )
            .scalars()
            .first()
        )
        if taken is not None:
            raise errors.IpPolicyAlreadyExists(target=taken)
        if kind == "subnet":
            # Quark's rule: every excluded CIDR of a subnet's version must lie inside it.
            for cidr in (await conn.execute(select(s.c.cidr).where(s.c.id.in_(ids)))).scalars():
                net = ipaddress.ip_network(cidr)
                for exclude in excludes:
                    x = ipaddress.ip_network(exclude)
                    if x.version == net.version and not x.subnet_of(net):  # type: ignore[arg-type]  # same version
                        raise errors.InvalidInput(error_message=f"Excluded CIDR {exclude} is not inside subnet {cidr}")

    @staticmethod
    def _targets_of(attrs: dict) -> tuple[str, list[str]] | None:
        subnet_ids, network_ids = attrs.get("subnet_ids"), attrs.get("network_ids")
        if subnet_ids and network_ids:
            raise errors.InvalidInput(error_message="An IP policy applies to subnets or to networks, not both")
        if subnet_ids:
            return "subnet", list(dict.fromkeys(subnet_ids))
        if network_ids:
            return "network", list(dict.fromkeys(network_ids))
        return None

    async def _attach(self, conn: AsyncConnection, policy_id: str, kind: str, ids: list[str]) -> None:
        await conn.execute(insert(tgt), [{"target_id": t, "target_type": kind, "policy_id": policy_id} for t in ids])

    async def _refresh_for(self, conn: AsyncConnection, kind: str, ids: list[str]) -> None:
        if kind == "subnet":
            await refresh_subnets(conn, subnet_ids=ids)
        else:
            await refresh_subnets(conn, network_ids=ids)

    async def create_bulk(self, ctx: Context, items: list[dict]) -> list[dict]:
        async def work(conn: AsyncConnection) -> list[dict]:
            ids = []
            for attrs in items:
                targets = self._targets_of(attrs)
                if targets is None:
                    raise errors.InvalidInput(error_message="An IP policy needs subnet_ids or network_ids")
                excludes = canonical_excludes(attrs.get("exclude") or [])
                await self._check_targets(conn, *targets, excludes, None)
                policy_id, now = base.new_id(), utcnow()
                await conn.execute(
                    insert(pol).values(
                        id=policy_id,
                        project_id=base.resolve_project(ctx, attrs),
                        name=attrs.get("name", ""),
                        description=attrs.get("description", ""),
                        exclude=excludes,
                        created_at=now,
                        updated_at=now,
                        revision_number=0,
                    )
                )
                await self._attach(conn, policy_id, *targets)
                await self._refresh_for(conn, *targets)
                ids.append(policy_id)
            return await self.render_ids(conn, ctx, ids)

        return await self.db.run_write(answered(ctx, work))

    async def update(self, ctx: Context, policy_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            row = await self.get_row(conn, ctx, policy_id, for_update=True)
            check_revision(row, if_match)
            old_targets = (
                await conn.execute(select(tgt.c.target_type, tgt.c.target_id).where(tgt.c.policy_id == policy_id))
            ).all()
            excludes = canonical_excludes(attrs["exclude"]) if "exclude" in attrs else list(row.exclude)
            targets = self._targets_of(attrs)
            if targets is None and old_targets:
                targets = (old_targets[0].target_type, [t.target_id for t in old_targets])
            if targets is not None:
                await self._check_targets(conn, *targets, excludes, policy_id)
                await conn.execute(delete(tgt).where(tgt.c.policy_id == policy_id))
                await self._attach(conn, policy_id, *targets)
            changes = {k: attrs[k] for k in ("name", "description") if k in attrs}
            await self.bump_revision(conn, policy_id, exclude=excludes, **changes)
            for kind in ("subnet", "network"):
                touched = [t.target_id for t in old_targets if t.target_type == kind]
                if targets is not None and targets[0] == kind:
                    touched += targets[1]
                await self._refresh_for(conn, kind, touched)
            return await self.render_one(conn, ctx, policy_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, policy_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            row = await self.get_row(conn, ctx, policy_id, for_update=True)
            check_revision(row, if_match)
            targets = (
                await conn.execute(select(tgt.c.target_type, tgt.c.target_id).where(tgt.c.policy_id == policy_id))
            ).all()
            await conn.execute(delete(tgt).where(tgt.c.policy_id == policy_id))
            await conn.execute(delete(models.tags).where(models.tags.c.resource_id == policy_id))
            await conn.execute(delete(pol).where(pol.c.id == policy_id))
            for kind in ("subnet", "network"):
                await self._refresh_for(conn, kind, [t.target_id for t in targets if t.target_type == kind])

        await self.db.run_write(work)


# --- subscribers: subnets and networks come and go --------------------------------------


async def on_subnet_created(conn: AsyncConnection, event: SubnetCreated) -> None:
    """A new subnet excludes what its network's policy excludes."""
    await refresh_subnets(conn, subnet_ids=[event.subnet.id])


async def on_subnet_deleted(conn: AsyncConnection, event: SubnetDeleted) -> None:
    """A deleted subnet leaves its policy."""
    await conn.execute(delete(tgt).where(tgt.c.target_id == event.subnet.id))


async def on_network_deleting(conn: AsyncConnection, event: NetworkDeleting) -> None:
    """A deleted network and its subnets leave their policies."""
    await conn.execute(delete(tgt).where(tgt.c.target_id.in_([event.network.id, *event.subnet_ids])))
