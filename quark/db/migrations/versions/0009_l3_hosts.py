"""l3 hosts: the host whose L3 agent realises each router

Revision ID: 0009_l3_hosts
Revises: 0008_routers
Create Date: 2026-12-07

routers.l3_host: the host of the live L3 agent the router is scheduled to
(NULL: none alive when it was last scheduled).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_l3_hosts"
down_revision = "0008_routers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("l3_host", sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f("ix_routers_l3_host"), ["l3_host"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routers_l3_host"))
        batch_op.drop_column("l3_host")
