"""RBAC policies as SQL: the clauses every visibility and filter uses, and the
registry of the object types a policy may name.

A policy grants ``action`` on one object to ``target_project`` (a project or
``*``). Who may see or use an object is then one clause per resource, never
a check per row in Python: for lists, the id among the caller's own ids and
those the policies for its project or ``*`` name (``own_or_granted``; the
index ``(target_project, object_type)`` finds them); for one object, an
EXISTS on its id (``grants``; the unique index ``(object_id,
target_project, action)`` answers it).

Each domain describes its shareable objects with an ``ObjectType`` (its
actions, how to find the object, what depends on a policy) and the registry
(``RbacTypes``) is filled in ``registry.py``: a new shareable resource is one
more ``ObjectType``, nothing here changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, exists, false, insert, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.context import Context
from quark.db.dialect import InSubquery
from quark.db.rbac_models import rbac_policies as rb

WILDCARD = "*"
SHARED = "access_as_shared"
EXTERNAL = "access_as_external"


def grants(
    object_type: str, id_column: Any, project_id: str, actions: Sequence[str] = (), *, wildcard: bool = True
) -> ColumnElement[bool]:
    """EXISTS a policy on the row ``id_column`` names granting ``project_id`` (or,
    with ``wildcard``, everyone) one of ``actions`` (any action when empty)."""
    targets = (project_id, WILDCARD) if wildcard else (project_id,)
    where = [rb.c.object_id == id_column, rb.c.target_project.in_(targets), rb.c.object_type == object_type]
    if actions:
        where.append(rb.c.action.in_(tuple(actions)))
    return exists().where(*where)


def granted_objects(object_type: str, project_id: Any, actions: Sequence[str] = ()) -> Select:
    """SELECT of the ids of the objects policies open to ``project_id`` (or everyone)."""
    where = [rb.c.target_project.in_((project_id, WILDCARD)), rb.c.object_type == object_type]
    if actions:
        where.append(rb.c.action.in_(tuple(actions)))
    return select(rb.c.object_id).where(*where)


def own_or_granted(
    id_column: Any, own: Select, object_type: str, project_id: Any, actions: Sequence[str] = ()
) -> ColumnElement[bool]:
    """The visibility clause of a list: ``id_column`` among the caller's own ids
    (``own``) and those policies open to it. One set, found by index from both
    sides (``quark.db.dialect.InSubquery``): a list costs what it answers, not
    the size of the table (bench/rbac_lists.py)."""
    return InSubquery(id_column, union_all(own, granted_objects(object_type, project_id, actions)))


def wildcard_exists(object_id: Any, action: str) -> ColumnElement[bool]:
    return exists().where(rb.c.object_id == object_id, rb.c.action == action, rb.c.target_project == WILDCARD)


def flag_filter(clause: ColumnElement[bool], values: Sequence[Any]) -> ColumnElement[bool]:
    """A boolean list filter (``shared=true``) on a clause: values ORed, none matches nothing."""
    wanted = set(values)
    if wanted == {True}:
        return clause
    if wanted == {False}:
        return ~clause
    return true() if wanted else false()


async def granted_ids(conn: AsyncConnection, ids: Sequence[str], project_id: str, action: str) -> set[str]:
    """Which of ``ids`` a policy of ``action`` targets at ``project_id`` or everyone (one statement)."""
    if not ids:
        return set()
    stmt = select(rb.c.object_id).where(
        rb.c.object_id.in_(list(ids)), rb.c.action == action, rb.c.target_project.in_((project_id, WILDCARD))
    )
    return set((await conn.execute(stmt)).scalars())


async def add_wildcard(conn: AsyncConnection, object_type: str, object_id: str, project_id: str, action: str) -> None:
    """The wildcard policy of ``action`` on the object (``shared: true``), if it has none yet."""
    if await conn.scalar(select(wildcard_exists(object_id, action))):
        return
    await conn.execute(
        insert(rb).values(
            id=_new_id(),
            project_id=project_id,
            object_type=object_type,
            object_id=object_id,
            action=action,
            target_project=WILDCARD,
        )
    )


async def remove_object(conn: AsyncConnection, object_id: str) -> None:
    """Every policy of an object that is deleted."""
    await conn.execute(delete(rb).where(rb.c.object_id == object_id))


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Loss:
    """Who loses ``action`` on ``object_id`` when a policy goes (or is retargeted):
    ``losing(project_column)`` is the clause of the projects that lose it."""

    object_id: str
    owner: str
    action: str
    target: str
    new_target: str | None = None

    async def losers(self, conn: AsyncConnection) -> Callable[[Any], ColumnElement[bool]] | None:
        """None when nobody loses access (self-sharing, a wildcard remains, ...)."""
        if self.target == self.owner or self.new_target == WILDCARD:
            return None
        if self.target != WILDCARD:
            if await conn.scalar(select(wildcard_exists(self.object_id, self.action))):
                return None
            target = self.target
            return lambda column: column == target
        others = select(rb.c.target_project).where(
            rb.c.object_id == self.object_id, rb.c.action == self.action, rb.c.target_project != WILDCARD
        )
        kept = [self.owner, ""] + ([self.new_target] if self.new_target else [])
        return lambda column: and_(column.not_in(kept), column.not_in(others))


# What depends on a policy: (connection, object row, who loses) -> a reason, or None.
DependencyCheck = Callable[[AsyncConnection, Any, Callable[[Any], ColumnElement[bool]]], Awaitable[str | None]]


@dataclass(frozen=True)
class ObjectType:
    """One kind of object policies may name (``network``, ``security_group``)."""

    name: str
    actions: tuple[str, ...]
    # The object's row as the caller sees it (raises the object's 404).
    lookup: Callable[[AsyncConnection, Context, str], Awaitable[Any]]
    # Per action, what still depends on access about to be lost.
    dependents: dict[str, DependencyCheck] = field(default_factory=dict)
    # After any change of the object's policies, in the same transaction: keep
    # columns derived from them (a network's ``shared``, ``router:external``).
    sync: Callable[[AsyncConnection, str], Awaitable[None]] | None = None
    # Before a policy is made: may its target have it (object row, target; raises a 400)?
    check_target: Callable[[AsyncConnection, Any, str], Awaitable[None]] | None = None

    # Before a policy goes or is retargeted, whoever loses: may it (object row,
    # the loss; raises a 409)? A default external network's wildcard, never.
    guard: Callable[[Any, Loss], None] | None = None

    async def check_loss(self, conn: AsyncConnection, row: Any, loss: Loss) -> None:
        if self.guard is not None:
            self.guard(row, loss)
        check = self.dependents.get(loss.action)
        if check is None:
            return
        losing = await loss.losers(conn)
        if losing is None:
            return
        reason = await check(conn, row, losing)
        if reason is not None:
            raise errors.RbacPolicyInUse(object_id=loss.object_id, details=reason)


class RbacTypes:
    """The registry of object types (filled once, in ``registry.py``)."""

    def __init__(self) -> None:
        self._types: dict[str, ObjectType] = {}

    def register(self, object_type: ObjectType) -> None:
        if object_type.name in self._types:
            raise ValueError(f"RBAC object type {object_type.name!r} registered twice")
        self._types[object_type.name] = object_type

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._types))

    def get(self, name: str) -> ObjectType:
        normalized = (name or "").strip().lower()
        if normalized not in self._types:
            raise errors.InvalidInput(error_message=f"'{name}' is not a valid RBAC object type")
        return self._types[normalized]
