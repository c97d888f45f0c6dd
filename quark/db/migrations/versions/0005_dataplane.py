"""dataplane: segment ranges and allocations, agents, host generations, Nova events outbox

Revision ID: 0005_dataplane
Revises: 0004
Create Date: 2026-11-24

segment_ranges / segment_allocations: segment ids of networks (a cursor per
range plus rows for held or released ids only). Networks that already hold a
VLAN id or VNI get their allocation row, so nothing hands those out again.
agents: host agents registered by their reports.
host_generations: per-host change counters of the desired/DHCP state long-polls.
nova_events: the outbox of Nova external events.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_dataplane"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segment_ranges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("network_type", sa.String(length=32), nullable=False),
        sa.Column("physical_network", sa.String(length=64), nullable=False),
        sa.Column("minimum", sa.Integer(), nullable=False),
        sa.Column("maximum", sa.Integer(), nullable=False),
        sa.Column("next_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_ranges")),
    )
    allocations = op.create_table(
        "segment_allocations",
        sa.Column("network_type", sa.String(length=32), nullable=False),
        sa.Column("physical_network", sa.String(length=64), nullable=False),
        sa.Column("segmentation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=True),
        sa.Column("allocated", sa.Boolean(), nullable=False),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint(
            "network_type", "physical_network", "segmentation_id", name=op.f("pk_segment_allocations")
        ),
    )
    with op.batch_alter_table("segment_allocations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_segment_allocations_reuse",
            ["network_type", "physical_network", "allocated", "released_at"],
            unique=False,
        )

    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("agent_type", sa.String(length=64), nullable=False),
        sa.Column("binary", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("configurations", sa.JSON(), nullable=False),
        sa.Column("availability_zone", sa.String(length=255), nullable=True),
        sa.Column("resources_synced", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_timestamp", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("agent_type", "host", name="uq_agents_type_host"),
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agents_host"), ["host"], unique=False)

    op.create_table(
        "host_generations",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("dhcp_generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_host_generations")),
    )

    op.create_table(
        "nova_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("server_uuid", sa.String(length=255), nullable=False),
        sa.Column("tag", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nova_events")),
    )
    with op.batch_alter_table("nova_events", schema=None) as batch_op:
        batch_op.create_index("ix_nova_events_due", ["state", "next_attempt_at"], unique=False)

    # Segment ids networks already hold stay theirs.
    networks = sa.table(
        "networks",
        sa.column("id", sa.String),
        sa.column("network_type", sa.String),
        sa.column("physical_network", sa.String),
        sa.column("segmentation_id", sa.Integer),
    )
    rows = [
        {
            "network_type": t,
            "physical_network": physnet or "",
            "segmentation_id": seg,
            "network_id": net_id,
            "allocated": True,
            "released_at": None,
        }
        for net_id, t, physnet, seg in op.get_bind().execute(
            sa.select(
                networks.c.id,
                networks.c.network_type,
                networks.c.physical_network,
                networks.c.segmentation_id,
            ).where(networks.c.network_type.in_(("vlan", "vxlan")), networks.c.segmentation_id.is_not(None))
        )
    ]
    if rows:
        op.bulk_insert(allocations, rows)


def downgrade() -> None:
    with op.batch_alter_table("nova_events", schema=None) as batch_op:
        batch_op.drop_index("ix_nova_events_due")
    op.drop_table("nova_events")
    op.drop_table("host_generations")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agents_host"))
    op.drop_table("agents")
    with op.batch_alter_table("segment_allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_allocations_reuse")
    op.drop_table("segment_allocations")
    op.drop_table("segment_ranges")
