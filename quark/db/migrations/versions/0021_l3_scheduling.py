"""l3 scheduling: routers an admin took off their L3 agent

Revision ID: 0021_l3_scheduling
Revises: 0018_network_services
Create Date: 2026-12-07

routers.l3_unhosted: true when an admin removed the router from its L3 agent
(the l3_agent_scheduler API); the automatic scheduler then leaves it without
a host until the router changes or an admin adds it to an agent.
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_l3_scheduling"
down_revision = "0018_network_services"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("l3_unhosted", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.drop_column("l3_unhosted")
