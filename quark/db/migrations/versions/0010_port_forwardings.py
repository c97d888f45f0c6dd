"""port_forwardings: the port forwardings of floating IPs

Revision ID: 0010_port_forwardings
Revises: 0008_routers
Create Date: 2026-12-07

port_forwardings: one row per forwarding of a floating IP's external port
range (protocol) to a fixed IPv4 address and port range of an internal port;
a single port is a range of one. Unique per floating IP, protocol and
external range, and per protocol and internal socket range, as Neutron's.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_port_forwardings"
down_revision = "0009_l3_hosts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "port_forwardings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("floatingip_id", sa.String(length=36), nullable=False),
        sa.Column("internal_port_id", sa.String(length=36), nullable=False),
        sa.Column("protocol", sa.String(length=40), nullable=False),
        sa.Column("internal_ip_address", sa.String(length=64), nullable=False),
        sa.Column("internal_port_start", sa.Integer(), nullable=False),
        sa.Column("internal_port_end", sa.Integer(), nullable=False),
        sa.Column("external_port_start", sa.Integer(), nullable=False),
        sa.Column("external_port_end", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["floatingip_id"],
            ["floatingips.id"],
            name=op.f("fk_port_forwardings_floatingip_id_floatingips"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["internal_port_id"],
            ["ports.id"],
            name=op.f("fk_port_forwardings_internal_port_id_ports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_port_forwardings")),
        sa.UniqueConstraint(
            "floatingip_id",
            "protocol",
            "external_port_start",
            "external_port_end",
            name="uq_port_forwardings_floatingip_external",
        ),
        sa.UniqueConstraint(
            "protocol",
            "internal_port_id",
            "internal_ip_address",
            "internal_port_start",
            "internal_port_end",
            name="uq_port_forwardings_internal",
        ),
    )
    with op.batch_alter_table("port_forwardings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_port_forwardings_floatingip_id"), ["floatingip_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_port_forwardings_internal_port_id"), ["internal_port_id"], unique=False)


def downgrade() -> None:
    # The table's indexes go with it (MariaDB refuses to drop an index a foreign key needs).
    op.drop_table("port_forwardings")
