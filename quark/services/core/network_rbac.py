"""Networks as RBAC objects: who sees a network, who may put ports on it, and
what depends on a policy (Neutron's network RBAC).

- A non-admin sees its own networks and those a policy of any action
  (``access_as_shared``, ``access_as_external``) grants to its project or
  to ``*``: one clause (``rbac.own_or_granted``; an EXISTS for one network).
- ``shared`` as shown to a caller: a wildcard ``access_as_shared`` policy or
  one for its project. ``networks.shared`` is the wildcard alone and
  ``networks.router_external`` is "an ``access_as_external`` policy exists";
  ``sync`` keeps both equal to the policies in the policy's transaction.
- Losing ``access_as_shared`` is refused while the losing projects have ports
  on the network; losing ``access_as_external`` while their routers have a
  gateway or their floating IPs an address there; the default external
  network's wildcard ``access_as_external`` is never lost.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors, owners
from quark.clock import utcnow
from quark.context import Context
from quark.db import l3_models, models
from quark.db.rbac_models import rbac_policies as rb
from quark.services.common import rbac
from quark.services.common.rbac import EXTERNAL, SHARED, ObjectType

n = models.networks
p = models.ports
TYPE = "network"


_own = n.alias("own_networks")


def visible(project_id: Any) -> ColumnElement[bool]:
    """The networks a project may list: its own, and those any policy opens to it."""
    own = select(_own.c.id).where(_own.c.project_id == project_id)
    return rbac.own_or_granted(n.c.id, own, TYPE, project_id)


def visible_one(project_id: Any) -> ColumnElement[bool]:
    """The same, for a statement about one network (by id): an EXISTS on it."""
    return or_(n.c.project_id == project_id, rbac.grants(TYPE, n.c.id, project_id))


def shared_to(project_id: Any, column: Any = n.c.id) -> ColumnElement[bool]:
    """Neutron's ``shared`` of a network for one project (also its ``shared`` filter)."""
    return rbac.grants(TYPE, column, project_id, (SHARED,))


async def lookup(conn: AsyncConnection, ctx: Context, network_id: str) -> Any:
    stmt = select(n).where(n.c.id == network_id)
    if not ctx.is_admin:
        stmt = stmt.where(visible_one(ctx.project_id))
    row = (await conn.execute(stmt)).first()
    if row is None:
        raise errors.NetworkNotFound(net_id=network_id)
    return row


async def ports_depending(conn: AsyncConnection, network: Any, losing: Any) -> str | None:
    found = await conn.scalar(
        select(
            exists().where(
                p.c.network_id == network.id,
                losing(p.c.project_id),
                p.c.device_owner.not_in(owners.AUTO_DELETE),
            )
        )
    )
    return f"Ports of projects losing access are on network {network.id}" if found else None


async def gateways_depending(conn: AsyncConnection, network: Any, losing: Any) -> str | None:
    r, f = l3_models.routers, models.floatingips
    routers = exists().where(r.c.gw_port_id == p.c.id, p.c.network_id == network.id, losing(r.c.project_id))
    floating = exists().where(f.c.floating_network_id == network.id, losing(f.c.project_id))
    if await conn.scalar(select(or_(routers, floating))):
        return "There are routers attached to this network that depend on this policy for access."
    return None


async def sync(conn: AsyncConnection, network_id: str) -> None:
    """``shared`` and ``router:external`` of the network, from its policies; a
    change of its policies is a change of the network (Neutron: a new revision)."""
    external = exists().where(rb.c.object_id == network_id, rb.c.action == EXTERNAL)
    await conn.execute(
        update(n)
        .where(n.c.id == network_id)
        .values(
            shared=rbac.wildcard_exists(network_id, SHARED),
            router_external=external,
            revision_number=n.c.revision_number + 1,
            updated_at=utcnow(),
        )
    )


async def unshare(conn: AsyncConnection, network: Any) -> None:
    """``shared: false``: the wildcard policy goes, unless ports of projects that
    only it let in remain (409 ``InvalidSharedSetting``, as Neutron)."""
    losing = await rbac.Loss(network.id, network.project_id, SHARED, rbac.WILDCARD).losers(conn)
    if losing is not None and await ports_depending(conn, network, losing):
        raise errors.InvalidSharedSetting(network=network.id)
    await conn.execute(
        rb.delete().where(rb.c.object_id == network.id, rb.c.action == SHARED, rb.c.target_project == rbac.WILDCARD)
    )


async def unexternal(conn: AsyncConnection, network_id: str) -> None:
    """``router:external: false``: every ``access_as_external`` policy of the network goes."""
    await conn.execute(rb.delete().where(rb.c.object_id == network_id, rb.c.action == EXTERNAL))


def keep_default_external_wildcard(network: Any, loss: rbac.Loss) -> None:
    """The default external network (``is_default``) stays external to every
    project: its wildcard ``access_as_external`` policy neither goes nor moves
    (409 ``RbacPolicyInUse``, as Neutron)."""
    wildcard = loss.action == EXTERNAL and loss.target == rbac.WILDCARD and loss.new_target != rbac.WILDCARD
    if wildcard and network.is_default:
        raise errors.RbacPolicyInUse(
            object_id=loss.object_id, details="Default external networks must be shared to everyone."
        )


NETWORK = ObjectType(
    name=TYPE,
    actions=(SHARED, EXTERNAL),
    lookup=lookup,
    dependents={SHARED: ports_depending, EXTERNAL: gateways_depending},
    sync=sync,
    guard=keep_default_external_wildcard,
)
