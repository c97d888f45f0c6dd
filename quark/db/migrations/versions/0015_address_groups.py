"""address groups: named sets of CIDRs for security-group rules

Revision ID: 0015_address_groups
Revises: 0016_segment_ranges
Create Date: 2026-12-07

address_groups and address_group_addresses (Neutron's address groups and
their address associations); an index on
security_group_rules.remote_address_group_id (the rules naming a group: its
in-use check and the hosts an address change concerns).
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_address_groups"
down_revision = "0016_segment_ranges"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "address_groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_groups")),
    )
    with op.batch_alter_table("address_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_address_groups_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_address_groups_project_id"), ["project_id"], unique=False)
    op.create_table(
        "address_group_addresses",
        sa.Column("address_group_id", sa.String(length=36), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["address_group_id"],
            ["address_groups.id"],
            name=op.f("fk_address_group_addresses_address_group_id_address_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("address_group_id", "address", name=op.f("pk_address_group_addresses")),
    )
    with op.batch_alter_table("security_group_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_security_group_rules_remote_address_group_id"), ["remote_address_group_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("security_group_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_security_group_rules_remote_address_group_id"))
    op.drop_table("address_group_addresses")
    op.drop_table("address_groups")
