"""The request context: who is asking, as the services see it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

# Neutron's noauth project when no project header is sent (the context is then admin).
NOAUTH_PROJECT = "fake_project_id"


@dataclass(frozen=True)
class Context:
    project_id: str
    roles: frozenset[str] = frozenset()
    is_admin: bool = False
    user_id: str | None = None
    request_id: str = field(default_factory=lambda: f"req-{uuid.uuid4()}")

    @property
    def is_service(self) -> bool:
        """Nova's service user may manage bindings like an admin."""
        return self.is_admin or "service" in self.roles

    @classmethod
    def admin(cls, project_id: str = NOAUTH_PROJECT) -> Context:
        return cls(project_id=project_id, roles=frozenset({"admin"}), is_admin=True)
