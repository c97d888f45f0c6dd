"""A subnet's CIDR out of a subnet pool: the subnet service's hook into the
prefix allocator (quark.ipam.prefix_allocator; docs/subnet_pools.md).

Neutron's rules of a create (``_create_subnet_precommit``): ``cidr`` and
``prefixlen`` not together; ``subnetpool_id`` and ``use_default_subnetpool``
not together; without a pool a ``cidr`` is needed; from a pool without a
``cidr`` no ``allocation_pools``; the default pool of the IP version must
exist (and be one the caller may use); a ``cidr`` given with a pool must be
free in it. The CIDR granted is written into ``attrs`` and the rest of the
create runs as for any subnet.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.context import Context
from quark.db import models, pool_models
from quark.ipam import addressing
from quark.ipam.pool_errors import NetworkAddressScopeAffinityError, NetworkSubnetPoolAffinityError
from quark.ipam.prefix_allocator import PrefixAllocator, PrefixRequest
from quark.services.common import pool_rbac

sp = pool_models.subnetpools
s = models.subnets


def _bad(msg: str) -> errors.QuarkError:
    return errors.BadRequest(resource="subnets", msg=msg)


async def default_pool(conn: AsyncConnection, ctx: Context, version: int) -> str:
    stmt = select(sp.c.id).where(sp.c.is_default == true(), sp.c.ip_version == version)
    if not ctx.is_admin:
        stmt = stmt.where(pool_rbac.visible_one(pool_rbac.POOL, ctx.project_id))
    found = await conn.scalar(stmt.limit(1))
    if found is None:
        raise _bad(f"No default subnetpool found for IPv{version}")
    return str(found)


async def wanted_pool(conn: AsyncConnection, ctx: Context, attrs: dict) -> str | None:
    """The pool a create names (``subnetpool_id`` or the default one), or None."""
    if attrs.get("cidr") is not None and attrs.get("prefixlen") is not None:
        raise _bad("cidr and prefixlen must not be supplied together")
    pool_id = attrs.get("subnetpool_id")
    use_default = attrs.get("use_default_subnetpool", False)
    if use_default and pool_id:
        raise _bad("subnetpool_id and use_default_subnetpool cannot both be specified")
    if not pool_id and use_default:
        pool_id = await default_pool(conn, ctx, attrs["ip_version"])
    if not pool_id:
        if attrs.get("cidr") is None:
            raise _bad("a subnetpool must be specified in the absence of a cidr")
        return None
    if attrs.get("cidr") is None and attrs.get("allocation_pools") is not None:
        raise _bad("allocation_pools allowed only for specific subnet requests.")
    return str(pool_id)


async def take_prefix(
    conn: AsyncConnection, ctx: Context, allocator: PrefixAllocator, attrs: dict, project_id: str
) -> Any | None:
    """The pool's row the subnet comes from (its CIDR set in ``attrs``), or None without one."""
    pool_id = await wanted_pool(conn, ctx, attrs)
    if pool_id is None:
        return None
    version = attrs["ip_version"]
    cidr = addressing.parse_cidr(attrs["cidr"], version) if attrs.get("cidr") is not None else None
    request = PrefixRequest(
        pool_id=pool_id,
        project_id=project_id,
        caller_project=ctx.project_id,
        is_admin=ctx.is_admin,
        granted=not ctx.is_admin and await pool_rbac.shared_with(conn, pool_rbac.POOL, pool_id, ctx.project_id),
        ip_version=version,
        prefixlen=attrs.get("prefixlen"),
        cidr=cidr,
    )
    pool, net = await allocator.allocate(conn, request)
    attrs["cidr"] = addressing.canonical_cidr(net)
    return pool


async def check_affinity(conn: AsyncConnection, network_id: str, version: int, pool: Any | None) -> None:
    """Neutron's ``_validate_network_subnetpools``: the subnets of one IP version on a
    network share an address scope if they have one (``NetworkAddressScopeAffinityError``),
    else one subnet pool, or none (``NetworkSubnetPoolAffinityError``)."""
    others = (
        await conn.execute(
            select(s.c.subnetpool_id, sp.c.address_scope_id)
            .select_from(s.outerjoin(sp, sp.c.id == s.c.subnetpool_id))
            .where(s.c.network_id == network_id, s.c.ip_version == version)
        )
    ).all()
    scope = next((row.address_scope_id for row in others if row.address_scope_id), None)
    if scope and pool is not None and pool.address_scope_id != scope:
        raise NetworkAddressScopeAffinityError()
    for row in others:
        if pool is not None and row.subnetpool_id != pool.id and not scope:
            raise NetworkSubnetPoolAffinityError()
        if pool is None and row.subnetpool_id:
            raise NetworkSubnetPoolAffinityError()
