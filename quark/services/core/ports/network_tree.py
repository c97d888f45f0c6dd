"""The reads of the port-create hot path: a port's network and the
network's subnets with their use, in one statement.

The statements are built once (SQLAlchemy then reuses their compiled form
and cache key, see ``quark.ipam.ip_allocator``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.context import Context
from quark.db import models
from quark.services.core import network_rbac

n = models.networks
s = models.subnets

_USED = (
    select(func.coalesce(func.sum(models.ip_usage.c.used), 0))
    .where(models.ip_usage.c.subnet_id == s.c.id)
    .scalar_subquery()
)
_SUBNETS_OF = select(s, _USED.label("used")).where(s.c.network_id == bindparam("b_id")).order_by(s.c.created_at, s.c.id)
# The default security group of the port's project rides along: the security
# domain then needs no statement of its own to give a new port its group
# (events.GroupChoice.known_default).
_DEFAULT_GROUP = (
    select(models.default_security_groups.c.security_group_id)
    .where(models.default_security_groups.c.project_id == bindparam("b_group_project"))
    .scalar_subquery()
)
# Whether a policy shares the network with the caller's project (Neutron's ``shared`` for it).
_SHARED_TO_CALLER = network_rbac.shared_to(bindparam("b_project"))
_NETWORK_TREE = (
    select(
        n,
        _DEFAULT_GROUP.label("default_group_id"),
        _SHARED_TO_CALLER.label("shared_to_caller"),
        *[c.label("s__" + c.name) for c in s.c],
        _USED.label("s__used"),
    )
    .select_from(n.outerjoin(s, s.c.network_id == n.c.id))
    .where(n.c.id == bindparam("b_id"))
    .order_by(s.c.created_at, s.c.id)
)
_NETWORK_TREE_VISIBLE = _NETWORK_TREE.where(network_rbac.visible_one(bindparam("b_project")))
_NETWORK_FIELDS = tuple(c.name for c in n.c)
_SUBNET_FIELDS = (*(c.name for c in s.c), "used")


async def network_tree(conn: AsyncConnection, ctx: Context, network_id: str, project_id: str) -> tuple[Any, list[Any]]:
    """The network a port of ``project_id`` is made on and its subnets (each with
    its ``used`` count), in one statement.

    404 when the caller cannot see the network, 403 when it sees it but may
    not put ports on it (another project's, not shared). The network's
    ``default_group_id`` is the default security group of ``project_id``
    (``default_group_project``) if it has one yet.
    """
    # The compute service (Nova) works on every project's networks, as an admin does.
    stmt = _NETWORK_TREE if ctx.is_service else _NETWORK_TREE_VISIBLE
    params = {"b_id": network_id, "b_project": ctx.project_id, "b_group_project": project_id}
    rows = (await conn.execute(stmt, params)).all()
    if not rows:
        raise errors.NetworkNotFound(net_id=network_id)
    first = rows[0]
    network = SimpleNamespace(
        **{f: getattr(first, f) for f in _NETWORK_FIELDS},
        default_group_id=first.default_group_id,
        default_group_project=project_id,
    )
    network.shared = bool(network.shared or first.shared_to_caller)
    if not ctx.is_service and network.project_id != ctx.project_id and not network.shared:
        raise errors.PolicyNotAuthorized(action="rule:create_port and rule:create_port:network_id")
    subnets = [
        SimpleNamespace(**{f: getattr(row, "s__" + f) for f in _SUBNET_FIELDS}) for row in rows if row.s__id is not None
    ]
    return network, subnets


async def subnets_of(conn: AsyncConnection, network_id: str) -> list[Any]:
    """A network's subnets, each with its ``used`` count, oldest first."""
    return list(await conn.execute(_SUBNETS_OF, {"b_id": network_id}))
