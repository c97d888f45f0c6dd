"""router ha: HA and distributed routers (l3-ha, dvr)

Revision ID: 0029_router_ha
Revises: 0027_mac_range_usage
Create Date: 2026-12-07

routers.ha / routers.distributed: Neutron's router flags (false for every
router that existed). router_ha_hosts: the L3 hosts an HA router is
scheduled on (its routers.l3_host, the active one, and the standbys), with
the ha_state each host's agent last reported.
"""

import sqlalchemy as sa
from alembic import op

revision = "0029_router_ha"
down_revision = "0027_mac_range_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # added nullable, set false on every existing router, then NOT NULL (no server
    # default: the model has none, and MariaDB would show it differently)
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ha", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("distributed", sa.Boolean(), nullable=True))
    op.execute(sa.text("UPDATE routers SET ha = :no, distributed = :no").bindparams(sa.bindparam("no", False)))
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.alter_column("ha", existing_type=sa.Boolean(), nullable=False)
        batch_op.alter_column("distributed", existing_type=sa.Boolean(), nullable=False)
    op.create_table(
        "router_ha_hosts",
        sa.Column("router_id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("reported_state", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["router_id"], ["routers.id"], name=op.f("fk_router_ha_hosts_router_id_routers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("router_id", "host", name=op.f("pk_router_ha_hosts")),
    )
    op.create_index("ix_router_ha_hosts_host", "router_ha_hosts", ["host"])


def downgrade() -> None:
    op.drop_index("ix_router_ha_hosts_host", table_name="router_ha_hosts")
    op.drop_table("router_ha_hosts")
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.drop_column("distributed")
        batch_op.drop_column("ha")
