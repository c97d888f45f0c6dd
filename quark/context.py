"""The request context: who is asking, as the services see it.

One shape whatever authenticated the caller: keystonemiddleware's validated
token (``auth_strategy = "keystone"``) or the noauth headers. The policy
engine (``quark.policy``) reads its credentials from here, so the behaviour
tested without Keystone is the behaviour with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Neutron's noauth project when no project header is sent (the context is then admin).
NOAUTH_PROJECT = "fake_project_id"


@dataclass
class IdempotencyClaim:
    """A request's hold on its ``Idempotency-Key`` (docs/idempotency.md), carried
    to the service in the Context: the create's transaction turns the claim
    into the answer (``quark.services.common.idempotency.record``) with
    ``render``, which makes the response body out of what the transaction
    returns; services never look inside it. ``recorded`` says it happened,
    ``body`` is the answer it stored (the API sends it rather than render twice)."""

    project_id: str
    key_hash: str
    token: str
    render: Callable[[Any], str] | None = None
    status: int = 201
    recorded: bool = False
    body: str | None = None


@dataclass(frozen=True)
class Context:
    # "" for a system-scoped or domain-scoped token: no project owns what it creates.
    project_id: str
    roles: frozenset[str] = frozenset()
    is_admin: bool = False
    user_id: str | None = None
    request_id: str = field(default_factory=lambda: f"req-{uuid.uuid4()}")
    user_domain_id: str | None = None
    project_domain_id: str | None = None
    # A domain-scoped token's domain.
    domain_id: str | None = None
    # "all" for a system-scoped token (Keystone's system scope), else None.
    system_scope: str | None = None
    # Roles of a service token sent beside the user's (X-Service-Token).
    service_roles: frozenset[str] = frozenset()
    # Set on the Context of a create that carries an Idempotency-Key.
    idempotency: IdempotencyClaim | None = field(default=None, compare=False, hash=False)
    # The backend jobs a write made (resource id -> job id; "*" -> a bulk's
    # parent job), filled in its transaction (docs/jobs.md): the response's
    # X-Quark-Job-Id. Not an init field: a copy (dataclasses.replace) starts empty.
    jobs: dict[str, str] = field(default_factory=dict, init=False, compare=False, hash=False, repr=False)

    @property
    def is_service(self) -> bool:
        """Nova's service user may manage bindings like an admin."""
        return self.is_admin or "service" in self.roles

    @property
    def is_reader_only(self) -> bool:
        return not self.is_admin and not (self.roles - {"reader"})

    def policy_credentials(self) -> dict[str, Any]:
        """The credentials oslo.policy checks match against (Neutron's names)."""
        return {
            "user_id": self.user_id,
            "project_id": self.project_id or None,
            "tenant_id": self.project_id or None,
            "roles": sorted(self.roles),
            "is_admin": self.is_admin,
            "user_domain_id": self.user_domain_id,
            "project_domain_id": self.project_domain_id,
            "domain_id": self.domain_id,
            "system_scope": self.system_scope,
            "service_roles": sorted(self.service_roles),
        }

    @classmethod
    def admin(cls, project_id: str = NOAUTH_PROJECT) -> Context:
        return cls(project_id=project_id, roles=frozenset({"admin"}), is_admin=True)
