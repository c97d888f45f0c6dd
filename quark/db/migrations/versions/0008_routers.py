"""routers: Neutron's routers and their extra routes

Revision ID: 0008_routers
Revises: 0007_idempotency
Create Date: 2026-12-07

routers: one row per router; its gateway port (on an external network) is
gw_port_id, its interfaces are ports whose device_id is the router's id.
router_routes: the router's extra routes (destination, nexthop).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_routers"
down_revision = "0007_idempotency"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gw_port_id", sa.String(length=36), nullable=True),
        sa.Column("enable_snat", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["gw_port_id"], ["ports.id"], name=op.f("fk_routers_gw_port_id_ports")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routers")),
        sa.UniqueConstraint("gw_port_id", name=op.f("uq_routers_gw_port_id")),
    )
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routers_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_routers_project_id"), ["project_id"], unique=False)
    op.create_table(
        "router_routes",
        sa.Column("router_id", sa.String(length=36), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("nexthop", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["router_id"], ["routers.id"], name=op.f("fk_router_routes_router_id_routers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("router_id", "destination", "nexthop", name=op.f("pk_router_routes")),
    )


def downgrade() -> None:
    op.drop_table("router_routes")
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routers_project_id"))
        batch_op.drop_index(batch_op.f("ix_routers_name"))
    op.drop_table("routers")
