"""rbac: Neutron's RBAC policies (networks, security groups)

Revision ID: 0013_rbac
Revises: 0008_routers
Create Date: 2026-12-07

rbac_policies: one row per policy, every object type in one table. The
wildcard ``access_as_shared`` policy of each network already shared
(``networks.shared``) is written, as Neutron's migration to RBAC did, and
every external network gets its wildcard ``access_as_external`` policy;
so does each shared subnet pool and address scope (``access_as_shared``).
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0013_rbac"
down_revision = "0012_subnet_pools"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rbac = op.create_table(
        "rbac_policies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=255), nullable=False),
        sa.Column("target_project", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rbac_policies")),
        sa.UniqueConstraint(
            "object_id", "target_project", "action", name=op.f("uq_rbac_policies_object_target_action")
        ),
    )
    with op.batch_alter_table("rbac_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rbac_policies_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            "ix_rbac_policies_target_project_object_type", ["target_project", "object_type"], unique=False
        )
    networks = sa.table(
        "networks",
        sa.column("id", sa.String),
        sa.column("project_id", sa.String),
        sa.column("shared", sa.Boolean),
        sa.column("router_external", sa.Boolean),
    )
    conn = op.get_bind()
    rows = []
    for net in conn.execute(sa.select(networks).where(sa.or_(networks.c.shared, networks.c.router_external))):
        for action, flag in (("access_as_shared", net.shared), ("access_as_external", net.router_external)):
            if flag:
                rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "project_id": net.project_id,
                        "object_type": "network",
                        "object_id": net.id,
                        "action": action,
                        "target_project": "*",
                    }
                )
    for object_type, name in (("subnetpool", "subnetpools"), ("address_scope", "address_scopes")):
        shareable = sa.table(name, sa.column("id", sa.String), sa.column("project_id", sa.String), sa.column("shared"))
        for obj in conn.execute(sa.select(shareable).where(shareable.c.shared)):
            rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "project_id": obj.project_id,
                    "object_type": object_type,
                    "object_id": obj.id,
                    "action": "access_as_shared",
                    "target_project": "*",
                }
            )
    if rows:
        op.bulk_insert(rbac, rows)


def downgrade() -> None:
    with op.batch_alter_table("rbac_policies", schema=None) as batch_op:
        batch_op.drop_index("ix_rbac_policies_target_project_object_type")
        batch_op.drop_index(batch_op.f("ix_rbac_policies_project_id"))
    op.drop_table("rbac_policies")
