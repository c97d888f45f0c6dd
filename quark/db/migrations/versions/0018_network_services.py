"""network services: per-project network type and driver

Revision ID: 0018_network_services
Revises: 0014_outbox_jobs
Create Date: 2026-12-07

network_services: the kinds of project network an admin offers (flat, flat
with DHCP, VLAN, VXLAN) with the driver that realises them;
network_service_associations: the service of a project (its id is the
project's); networks.network_service_id: the service a network was made from
(docs/network_services.md).
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_network_services"
down_revision = "0014_outbox_jobs"
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
        "network_services",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("physical_network", sa.String(length=64), nullable=False),
        sa.Column("driver", sa.String(length=64), nullable=False),
        *_standard(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_services")),
    )
    with op.batch_alter_table("network_services", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_network_services_name"), ["name"], unique=False)
    op.create_table(
        "network_service_associations",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("network_service_id", sa.String(length=36), nullable=False),
        *_standard(),
        sa.ForeignKeyConstraint(
            ["network_service_id"],
            ["network_services.id"],
            name=op.f("fk_network_service_associations_network_service_id_network_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_service_associations")),
    )
    with op.batch_alter_table("network_service_associations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_service_associations_network_service_id"), ["network_service_id"], unique=False
        )
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("network_service_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_networks_network_service_id"), ["network_service_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_networks_network_service_id_network_services"),
            "network_services",
            ["network_service_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_networks_network_service_id_network_services"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_networks_network_service_id"))
        batch_op.drop_column("network_service_id")
    # Dropping a table drops its indexes (MariaDB refuses to drop one a foreign key needs).
    op.drop_table("network_service_associations")
    op.drop_table("network_services")
