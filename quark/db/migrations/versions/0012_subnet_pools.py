"""subnet pools and address scopes

Revision ID: 0012_subnet_pools
Revises: 0008_routers
Create Date: 2026-12-07

address_scopes: Neutron's address scopes.
subnetpools, subnetpool_prefixes: Neutron's subnet pools and their prefixes.
subnetpool_free_blocks: the free aligned blocks of each pool (the prefix
allocator's buddy system, quark.ipam.prefix_allocator).
subnets.subnetpool_id gets an index (a pool's subnets: delete check, quotas).
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_subnet_pools"
down_revision = "0010_port_forwardings"
branch_labels = None
depends_on = None


def _standard() -> list[sa.Column]:
    return [
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "address_scopes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("ip_version", sa.Integer(), nullable=False),
        *_standard(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_scopes")),
    )
    with op.batch_alter_table("address_scopes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_address_scopes_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_address_scopes_project_id"), ["project_id"], unique=False)
    op.create_table(
        "subnetpools",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("ip_version", sa.Integer(), nullable=False),
        sa.Column("default_prefixlen", sa.Integer(), nullable=False),
        sa.Column("min_prefixlen", sa.Integer(), nullable=False),
        sa.Column("max_prefixlen", sa.Integer(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("default_quota", sa.Integer(), nullable=True),
        sa.Column("address_scope_id", sa.String(length=36), nullable=True),
        *_standard(),
        sa.ForeignKeyConstraint(
            ["address_scope_id"], ["address_scopes.id"], name=op.f("fk_subnetpools_address_scope_id_address_scopes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subnetpools")),
    )
    with op.batch_alter_table("subnetpools", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subnetpools_address_scope_id"), ["address_scope_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subnetpools_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_subnetpools_project_id"), ["project_id"], unique=False)
    op.create_table(
        "subnetpool_prefixes",
        sa.Column("subnetpool_id", sa.String(length=36), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["subnetpool_id"],
            ["subnetpools.id"],
            name=op.f("fk_subnetpool_prefixes_subnetpool_id_subnetpools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subnetpool_id", "cidr", name=op.f("pk_subnetpool_prefixes")),
    )
    op.create_table(
        "subnetpool_free_blocks",
        sa.Column("subnetpool_id", sa.String(length=36), nullable=False),
        sa.Column("prefixlen", sa.Integer(), nullable=False),
        sa.Column("start_key", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["subnetpool_id"],
            ["subnetpools.id"],
            name=op.f("fk_subnetpool_free_blocks_subnetpool_id_subnetpools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subnetpool_id", "prefixlen", "start_key", name=op.f("pk_subnetpool_free_blocks")),
    )
    with op.batch_alter_table("subnetpool_free_blocks", schema=None) as batch_op:
        batch_op.create_index("ix_subnetpool_free_blocks_pool_start", ["subnetpool_id", "start_key"], unique=False)
    with op.batch_alter_table("subnets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subnets_subnetpool_id"), ["subnetpool_id"], unique=False)


def downgrade() -> None:
    # A table's indexes go with it (MariaDB refuses to drop one a foreign key needs first).
    with op.batch_alter_table("subnets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subnets_subnetpool_id"))
    op.drop_table("subnetpool_free_blocks")
    op.drop_table("subnetpool_prefixes")
    op.drop_table("subnetpools")
    op.drop_table("address_scopes")
