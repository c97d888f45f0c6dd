"""segment host mappings: which hosts reach which segment (routed networks)

Revision ID: 0030_segment_host_mappings
Revises: 0029_router_ha
Create Date: 2026-12-07

segment_host_mappings: one row per (segment, host) where the host's L2 agent
reports the segment's physical network in its bridge (interface, device)
mappings, as Neutron's table of that name. Filled here from the agents known
now; kept up to date by agent reports and segment creates afterwards
(quark.services.core.segment_hosts).

routers.flavor_id (l3-flavors): the flavor a router was made with, NULL for
every existing router.
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_segment_host_mappings"
down_revision = "0029_router_ha"
branch_labels = None
depends_on = None

PHYSNET_KEYS = ("bridge_mappings", "interface_mappings", "device_mappings")


def upgrade() -> None:
    mappings = op.create_table(
        "segment_host_mappings",
        sa.Column("segment_id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["network_segments.id"], name=op.f("fk_segment_host_mappings_segment_id_network_segments")
        ),
        sa.PrimaryKeyConstraint("segment_id", "host", name=op.f("pk_segment_host_mappings")),
    )
    op.create_index(op.f("ix_segment_host_mappings_host"), "segment_host_mappings", ["host"], unique=False)

    agents = sa.table("agents", sa.column("host", sa.String), sa.column("configurations", sa.JSON))
    segments = sa.table("network_segments", sa.column("id", sa.String), sa.column("physical_network", sa.String))
    bind = op.get_bind()
    hosts_of: dict[str, set[str]] = {}
    for agent in bind.execute(sa.select(agents.c.host, agents.c.configurations)):
        config = agent.configurations if isinstance(agent.configurations, dict) else {}
        for key in PHYSNET_KEYS:
            if isinstance(config.get(key), dict):
                for physnet in config[key]:
                    hosts_of.setdefault(physnet, set()).add(agent.host)
    rows = [
        {"segment_id": segment.id, "host": host}
        for segment in bind.execute(sa.select(segments).where(segments.c.physical_network.is_not(None)))
        for host in sorted(hosts_of.get(segment.physical_network, ()))
    ]
    if rows:
        op.bulk_insert(mappings, rows)

    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flavor_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_routers_flavor_id"), ["flavor_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_routers_flavor_id_flavors"), "flavors", ["flavor_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_routers_flavor_id_flavors"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_routers_flavor_id"))
        batch_op.drop_column("flavor_id")
    op.drop_index(op.f("ix_segment_host_mappings_host"), table_name="segment_host_mappings")
    op.drop_table("segment_host_mappings")
