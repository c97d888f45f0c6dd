"""MAC range usage: a sharded counter of the live MAC allocations per range

Revision ID: 0027_mac_range_usage
Revises: 0023_host_changes
Create Date: 2026-12-07

mac_range_usage: per MAC address range, 16 shards whose sum is the number of
its live mac_allocations rows (quark.ipam.mac_usage), written in the
transaction of every MAC allocation and release, so the range views (and the
dashboard's overview) no longer count the rows. Every existing range gets its
16 shards here, shard 0 holding its current count.
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_mac_range_usage"
down_revision = "0023_host_changes"
branch_labels = None
depends_on = None

# Frozen here (quark.ipam.ip_allocator.USAGE_SHARDS when this was written): a migration
# must do the same whatever the code later says.
SHARDS = 16

_ranges = sa.table("mac_address_ranges", sa.column("id", sa.String))
_allocations = sa.table("mac_allocations", sa.column("range_id", sa.String), sa.column("deallocated", sa.Boolean))


def upgrade() -> None:
    usage = op.create_table(
        "mac_range_usage",
        sa.Column("range_id", sa.String(length=36), nullable=False),
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("range_id", "shard", name=op.f("pk_mac_range_usage")),
    )
    live = (
        sa.select(sa.func.count())
        .select_from(_allocations)
        .where(_allocations.c.range_id == _ranges.c.id, _allocations.c.deallocated == sa.false())
        .scalar_subquery()
    )
    for shard in range(SHARDS):
        used = live if shard == 0 else sa.literal(0, sa.BigInteger)
        op.execute(
            usage.insert().from_select(
                ["range_id", "shard", "used"], sa.select(_ranges.c.id, sa.literal(shard, sa.Integer), used)
            )
        )


def downgrade() -> None:
    op.drop_table("mac_range_usage")
