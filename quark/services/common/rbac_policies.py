"""``/v2.0/rbac-policies``: Neutron's RBAC policies over the registered object types.

A policy is visible to the project that made it (and to admins). Creating
one needs the object to be the caller's (or the caller an admin); changing
its ``target_tenant`` or deleting it first asks the object type what still
depends on the access about to be lost (409 ``RbacPolicyInUse``). After any
change the type's ``sync`` keeps derived columns (a network's ``shared``,
``router:external``) equal to the policies, in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from quark import errors
from quark.context import Context
from quark.db.rbac_models import rbac_policies as rb
from quark.services.common import base
from quark.services.common.base import Found, ResourceService, Views
from quark.services.common.listing import ListQuery
from quark.services.common.rbac import WILDCARD, Loss, RbacTypes
from quark.services.events import Events, ResourcesCreated

# oslo.utils' is_uuid_like: 32 hex digits, dashes anywhere (Keystone's project ids).
_UUID_LIKE = re.compile(r"^[0-9a-f]{32}$")


def valid_target(value: Any) -> str:
    """Neutron's ``valid_target_project``: ``*`` or a UUID-like project id (else 400)."""
    if value == WILDCARD:
        return value
    if isinstance(value, str) and _UUID_LIKE.match(value.replace("-", "").lower()):
        return value
    raise errors.InvalidInput(error_message=f"'{value}' is not a valid target project ID; expected a UUID or '*'")


class RbacPolicyService(ResourceService):
    table = rb
    not_found = errors.RbacPolicyNotFound
    not_found_key = "id"
    columns = {
        "id": rb.c.id,
        "project_id": rb.c.project_id,
        "tenant_id": rb.c.project_id,
        "object_type": rb.c.object_type,
        "object_id": rb.c.object_id,
        "action": rb.c.action,
        "target_tenant": rb.c.target_project,
    }

    def __init__(self, db, settings, types: RbacTypes, events: Events | None = None) -> None:
        super().__init__(db, settings, events)
        self.types = types

    def missing(self, resource_id: str) -> errors.QuarkError:
        return errors.RbacPolicyNotFound(id=resource_id, object_type="unknown")

    def assemble(self, rows: Sequence[Any], found: Found, query: ListQuery) -> Views:
        return [
            {
                "id": r.id,
                "project_id": r.project_id,
                "tenant_id": r.project_id,
                "object_type": r.object_type,
                "object_id": r.object_id,
                "action": r.action,
                "target_tenant": r.target_project,
            }
            for r in rows
        ]

    @staticmethod
    def _target(attrs: dict) -> str:
        target = attrs.get("target_tenant")
        if target is None:
            raise errors.HTTPBadRequest(msg="Failed to parse request. Required attribute 'target_tenant' not specified")
        return valid_target(target)

    async def create_in(self, conn: AsyncConnection, ctx: Context, attrs: dict) -> str:
        project_id = base.resolve_project(ctx, attrs)
        kind = self.types.get(attrs.get("object_type") or "")
        action = attrs.get("action")
        if action not in kind.actions:
            raise errors.InvalidActionForType(action=action, object_type=kind.name, valid_actions=kind.actions)
        target = self._target(attrs)
        object_id = attrs.get("object_id") or ""
        row = await self._owned_object(conn, ctx, kind.name, object_id)
        if kind.check_target is not None:
            await kind.check_target(conn, row, target)
        policy_id = base.new_id()
        try:
            async with conn.begin_nested():
                await conn.execute(
                    insert(rb).values(
                        id=policy_id,
                        project_id=project_id,
                        object_type=kind.name,
                        object_id=row.id,
                        action=action,
                        target_project=target,
                    )
                )
        except IntegrityError:
            raise errors.DuplicateRbacPolicy() from None
        if kind.sync is not None:
            await kind.sync(conn, row.id)
        await self.events.publish(conn, ResourcesCreated("rbac_policy", {project_id: 1}))
        return policy_id

    async def _owned_object(self, conn: AsyncConnection, ctx: Context, type_name: str, object_id: str) -> Any:
        """The object a policy names: seen by the caller and its own (Neutron: 400 otherwise)."""
        kind = self.types.get(type_name)
        try:
            row = await kind.lookup(conn, ctx, object_id)
        except errors.NotFound as exc:
            raise errors.InvalidInput(error_message=str(exc)) from None
        if not ctx.is_admin and row.project_id != ctx.project_id:
            raise errors.InvalidInput(
                error_message=f"Only admins can manipulate policies on {type_name}s they do not own"
            )
        return row

    async def update(self, ctx: Context, policy_id: str, attrs: dict, if_match: int | None = None) -> dict:
        async def work(conn: AsyncConnection) -> dict:
            policy = await self.get_row(conn, ctx, policy_id, for_update=True)
            kind = self.types.get(policy.object_type)
            target = self._target(attrs) if attrs else policy.target_project
            if target != policy.target_project:
                row = await self._owned_object(conn, ctx, kind.name, policy.object_id)
                loss = Loss(policy.object_id, row.project_id, policy.action, policy.target_project, target)
                await kind.check_loss(conn, row, loss)
                try:
                    async with conn.begin_nested():
                        await conn.execute(update(rb).where(rb.c.id == policy_id).values(target_project=target))
                except IntegrityError:
                    raise errors.DuplicateRbacPolicy() from None
                if kind.sync is not None:
                    await kind.sync(conn, policy.object_id)
            return await self.render_one(conn, ctx, policy_id)

        return await self.db.run_write(work)

    async def delete(self, ctx: Context, policy_id: str, if_match: int | None = None) -> None:
        async def work(conn: AsyncConnection) -> None:
            policy = await self.get_row(conn, ctx, policy_id, for_update=True)
            kind = self.types.get(policy.object_type)
            row = await kind.lookup(conn, Context(project_id="", is_admin=True), policy.object_id)
            await kind.check_loss(
                conn, row, Loss(policy.object_id, row.project_id, policy.action, policy.target_project)
            )
            await conn.execute(delete(rb).where(rb.c.id == policy_id))
            if kind.sync is not None:
                await kind.sync(conn, policy.object_id)

        await self.db.run_write(work)
