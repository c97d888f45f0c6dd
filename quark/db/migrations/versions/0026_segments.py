"""segments: every segment of every network (Neutron's segment extension)

Revision ID: 0026_segments
Revises: 0017_small_extensions
Create Date: 2026-12-07

network_segments: one row per segment of a network; the network's first
segment (segment_index 0) stays mirrored on its row. Every existing network
with a segment gets its row here, with the id new ones get too: uuid5 of the
network id (quark.services.core.segments.primary_segment_id), so the id of a
network's first segment is stable (docs/segments.md).
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0026_segments"
down_revision = "0025_external_allocations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    segments = op.create_table(
        "network_segments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("network_type", sa.String(length=32), nullable=False),
        sa.Column("physical_network", sa.String(length=64), nullable=True),
        sa.Column("segmentation_id", sa.Integer(), nullable=True),
        sa.Column("segment_key", sa.String(length=128), nullable=True),
        sa.Column("segment_index", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"], name=op.f("fk_network_segments_network_id_networks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_segments")),
        sa.UniqueConstraint("network_id", "segment_index", name="uq_network_segments_network_index"),
        sa.UniqueConstraint("segment_key", name=op.f("uq_network_segments_segment_key")),
    )
    with op.batch_alter_table("network_segments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_network_segments_network_id"), ["network_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_network_segments_network_type"), ["network_type"], unique=False)

    networks = sa.table(
        "networks",
        sa.column("id", sa.String),
        sa.column("network_type", sa.String),
        sa.column("physical_network", sa.String),
        sa.column("segmentation_id", sa.Integer),
        sa.column("segment_key", sa.String),
        sa.column("created_at", sa.DateTime),
    )
    rows = [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"quark:segment:{net.id}")),
            "network_id": net.id,
            "name": None,
            "network_type": net.network_type,
            "physical_network": net.physical_network,
            "segmentation_id": net.segmentation_id,
            "segment_key": net.segment_key,
            "segment_index": 0,
            "description": "",
            "created_at": net.created_at,
            "updated_at": net.created_at,
            "revision_number": 0,
        }
        for net in op.get_bind().execute(sa.select(networks).where(networks.c.network_type.is_not(None)))
    ]
    if rows:
        op.bulk_insert(segments, rows)


def downgrade() -> None:
    with op.batch_alter_table("network_segments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_segments_network_type"))
        batch_op.drop_index(batch_op.f("ix_network_segments_network_id"))
    op.drop_table("network_segments")
