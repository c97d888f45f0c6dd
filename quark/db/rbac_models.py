"""Neutron's RBAC policies: who else may use a network or a security group.

One table for every object type (Neutron keeps one per type; Quark's
``object_type`` column says which table ``object_id`` names). Visibility
clauses test it with an EXISTS on ``(object_id, target_project, action)``
(the unique constraint's index), so a list never checks rows one by one.
"""

from __future__ import annotations

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from quark.db.base import Base, table_of


class RbacPolicy(Base):
    __tablename__ = "rbac_policies"
    __table_args__ = (
        UniqueConstraint("object_id", "target_project", "action", name="uq_rbac_policies_object_target_action"),
        Index("ix_rbac_policies_target_project_object_type", "target_project", "object_type"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(255))
    # A project id, or "*" for every project.
    target_project: Mapped[str] = mapped_column(String(255))


rbac_policies = table_of(RbacPolicy)
