"""ip_addresses (shared holders) and routes

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-23

ip_address_ports: the holders of shared addresses (ordinary addresses keep
their single holder in ip_allocations.port_id).
routes: subnet host routes as rows; existing subnets' host_routes are copied
in so that /v2.0/routes shows them.
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ip_address_ports",
        sa.Column("allocation_id", sa.String(length=36), nullable=False),
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("service", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["ip_allocations.id"],
            name=op.f("fk_ip_address_ports_allocation_id_ip_allocations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["port_id"], ["ports.id"], name=op.f("fk_ip_address_ports_port_id_ports")),
        sa.PrimaryKeyConstraint("allocation_id", "port_id", name=op.f("pk_ip_address_ports")),
    )
    with op.batch_alter_table("ip_address_ports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ip_address_ports_port_id"), ["port_id"], unique=False)

    routes = op.create_table(
        "routes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subnet_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=False),
        sa.Column("gateway", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subnet_id"], ["subnets.id"], name=op.f("fk_routes_subnet_id_subnets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
        sa.UniqueConstraint("subnet_id", "cidr", name="uq_routes_subnet_cidr"),
    )
    with op.batch_alter_table("routes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routes_project_id"), ["project_id"], unique=False)

    # Existing host routes become rows (the first of duplicate destinations wins).
    subnets = sa.table(
        "subnets", sa.column("id", sa.String), sa.column("project_id", sa.String), sa.column("host_routes", sa.JSON)
    )
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    rows = []
    for subnet_id, project_id, host_routes in op.get_bind().execute(
        sa.select(subnets.c.id, subnets.c.project_id, subnets.c.host_routes)
    ):
        seen = set()
        for route in host_routes or []:
            if route["destination"] in seen:
                continue
            seen.add(route["destination"])
            rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "subnet_id": subnet_id,
                    "project_id": project_id,
                    "cidr": route["destination"],
                    "gateway": route["nexthop"],
                    "description": "",
                    "created_at": now,
                    "updated_at": now,
                    "revision_number": 0,
                }
            )
    if rows:
        op.bulk_insert(routes, rows)


def downgrade() -> None:
    # An index that is the only one a foreign key can use is not dropped before its
    # table: MariaDB refuses (1553, "needed in a foreign key constraint"), and
    # DROP TABLE takes it with it on every database.
    with op.batch_alter_table("routes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routes_project_id"))
    op.drop_table("routes")
    op.drop_table("ip_address_ports")
