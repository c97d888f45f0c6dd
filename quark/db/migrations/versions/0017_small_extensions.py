"""small extensions: routers' availability-zone hints, networks' is_default,
auto-allocated topologies

Revision ID: 0017_small_extensions
Revises: 0015_address_groups
Create Date: 2026-12-07

routers.availability_zone_hints (router_availability_zone; NULL: none),
networks.is_default (the default external network of auto-allocated-topology;
NULL: false), auto_allocated_topologies: each project's auto-allocated
network and router (docs/availability_zones.md, docs/auto_allocated_topology.md);
flavors, service_profiles and their bindings (docs/flavors.md).
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_small_extensions"
down_revision = "0015_address_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("availability_zone_hints", sa.JSON(), nullable=True))
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_default", sa.Boolean(), nullable=True))
    op.create_table(
        "auto_allocated_topologies",
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("router_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["network_id"],
            ["networks.id"],
            name=op.f("fk_auto_allocated_topologies_network_id_networks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["router_id"],
            ["routers.id"],
            name=op.f("fk_auto_allocated_topologies_router_id_routers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_auto_allocated_topologies")),
    )
    with op.batch_alter_table("auto_allocated_topologies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auto_allocated_topologies_network_id"), ["network_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_auto_allocated_topologies_router_id"), ["router_id"], unique=False)
    op.create_table(
        "flavors",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("service_type", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flavors")),
    )
    op.create_table(
        "service_profiles",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("driver", sa.String(length=1024), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("metainfo", sa.String(length=4096), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_profiles")),
    )
    op.create_table(
        "flavor_service_profile_bindings",
        sa.Column("flavor_id", sa.String(length=36), nullable=False),
        sa.Column("service_profile_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["flavor_id"],
            ["flavors.id"],
            name=op.f("fk_flavor_service_profile_bindings_flavor_id_flavors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_profile_id"],
            ["service_profiles.id"],
            name=op.f("fk_flavor_service_profile_bindings_service_profile_id_service_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("flavor_id", "service_profile_id", name=op.f("pk_flavor_service_profile_bindings")),
    )
    with op.batch_alter_table("flavor_service_profile_bindings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_flavor_service_profile_bindings_service_profile_id"), ["service_profile_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("flavor_service_profile_bindings")
    op.drop_table("service_profiles")
    op.drop_table("flavors")
    # The table's indexes go with it (MariaDB refuses to drop an index a foreign key needs).
    op.drop_table("auto_allocated_topologies")
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.drop_column("is_default")
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.drop_column("availability_zone_hints")
