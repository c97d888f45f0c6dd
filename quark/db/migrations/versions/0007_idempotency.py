"""idempotency: the Idempotency-Key claims and answers of creates

Revision ID: 0007_idempotency
Revises: 0006_quotas
Create Date: 2026-12-07

idempotency_keys: one row per (project, key hash); a claim while status is
NULL (token + lease), the create's answer (status, body) once it committed,
written in the create's own transaction. expires_at is indexed for the purge
of keys older than the retention (docs/idempotency.md).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import LONGTEXT

revision = "0007_idempotency"
down_revision = "0006_quotas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=36), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text().with_variant(LONGTEXT(), "mysql", "mariadb"), nullable=True),
        sa.PrimaryKeyConstraint("project_id", "key_hash", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_keys_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_expires_at"))
    op.drop_table("idempotency_keys")
