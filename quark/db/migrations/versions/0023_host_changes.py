"""host changes: an insert-only log of the changes the agents' long-polls wait for

Revision ID: 0023_host_changes
Revises: 0017_small_extensions
Create Date: 2026-12-07

host_changes: one row per change to what a host's desired (or DHCP) state
shows, inserted in the change's transaction instead of an UPDATE of the
host's host_generations row (issue 21: that row serialised every port create
on the networks of one DHCP agent). A host's generation is its
host_generations value (now a base the periodic fold adds the folded rows
to) plus its rows here, so the generations agents hold stay valid across the
upgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_host_changes"
down_revision = "0026_segments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("dhcp", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_changes")),
    )
    op.create_index("ix_host_changes_host", "host_changes", ["host", "dhcp"])


def downgrade() -> None:
    op.drop_index("ix_host_changes_host", table_name="host_changes")
    op.drop_table("host_changes")
