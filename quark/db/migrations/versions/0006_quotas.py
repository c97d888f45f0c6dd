"""quotas: per-project limits and the per-(project, resource) lock rows

Revision ID: 0006_quotas
Revises: 0005_dataplane
Create Date: 2026-12-07

quotas: a project's limit on a resource where it differs from the default.
quota_locks: rows a create locks before counting the project's resources,
so that concurrent creates are counted one after the other. The counted
tables (networks, subnets, ports, security groups and rules, floating IPs)
already have an index on project_id; ip_allocations gets one on (project_id,
port_id, deallocated): the port quota counts a project's live addresses held
by no single port (reserved, shared; docs/quotas.md).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_quotas"
down_revision = "0005_dataplane"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quotas",
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "resource", name=op.f("pk_quotas")),
    )
    op.create_table(
        "quota_locks",
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "resource", name=op.f("pk_quota_locks")),
    )
    with op.batch_alter_table("ip_allocations", schema=None) as batch_op:
        batch_op.create_index("ix_ip_allocations_standalone", ["project_id", "port_id", "deallocated"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ip_allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_ip_allocations_standalone")
    op.drop_table("quota_locks")
    op.drop_table("quotas")
