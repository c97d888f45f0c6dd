"""external allocations: addresses an external IPAM driver (Neutron's) holds

Revision ID: 0025_external_allocations
Revises: 0017_small_extensions
Create Date: 2026-12-07

external_allocations: one row per live ip_allocations row handed out to an
external system's holder (a Neutron port id), with the request it answered
(``any`` or the address) unique per subnet and holder (docs/neutron_ipam_driver.md).
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_external_allocations"
down_revision = "0017_small_extensions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "external_allocations",
        sa.Column("allocation_id", sa.String(length=36), nullable=False),
        sa.Column("subnet_id", sa.String(length=36), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["ip_allocations.id"],
            name=op.f("fk_external_allocations_allocation_id_ip_allocations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("allocation_id", name=op.f("pk_external_allocations")),
        sa.UniqueConstraint("subnet_id", "holder", "request_key", name=op.f("uq_external_allocations_request")),
    )
    op.create_index("ix_external_allocations_address", "external_allocations", ["subnet_id", "address"])
    op.create_index("ix_external_allocations_holder", "external_allocations", ["holder"])


def downgrade() -> None:
    op.drop_index("ix_external_allocations_holder", table_name="external_allocations")
    op.drop_index("ix_external_allocations_address", table_name="external_allocations")
    op.drop_table("external_allocations")
