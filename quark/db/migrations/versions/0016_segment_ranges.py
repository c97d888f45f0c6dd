"""segment ranges as Neutron's network segment ranges; default security-group rules

Revision ID: 0016_segment_ranges
Revises: 0021_l3_scheduling
Create Date: 2026-12-07

segment_ranges gets Neutron's standard attributes (description, updated_at,
revision_number), ``project_id`` / ``shared`` (a range of one project's
networks) and ``is_default`` (the ranges the ``segment_ranges`` setting made,
recognised by their fixed ids). default_security_group_rules: the templates
of new groups' rules, seeded with Neutron's defaults (open egress; ingress
from the group's own members in a project's default group).
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0016_segment_ranges"
down_revision = "0021_l3_scheduling"
branch_labels = None
depends_on = None


def _seed_id(network_type: str, physnet: str, minimum: int, maximum: int) -> str:
    # The same id quark.services.core.segment_ranges.seed_range_id gives a seeded range.
    label = f"{network_type}:{physnet + ':' if physnet else ''}{minimum}:{maximum}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"quark:segment-range:{label}"))


def _ranges_upgrade() -> None:
    with op.batch_alter_table("segment_ranges") as batch:
        batch.add_column(sa.Column("description", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("revision_number", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("project_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("shared", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("is_default", sa.Boolean(), nullable=True))
    r = sa.table(
        "segment_ranges",
        sa.column("id", sa.String),
        sa.column("network_type", sa.String),
        sa.column("physical_network", sa.String),
        sa.column("minimum", sa.Integer),
        sa.column("maximum", sa.Integer),
        sa.column("created_at", sa.DateTime),
        sa.column("description", sa.String),
        sa.column("updated_at", sa.DateTime),
        sa.column("revision_number", sa.Integer),
        sa.column("shared", sa.Boolean),
        sa.column("is_default", sa.Boolean),
    )
    conn = op.get_bind()
    op.execute(
        r.update().values(description="", updated_at=r.c.created_at, revision_number=0, shared=True, is_default=False)
    )
    for row in conn.execute(sa.select(r.c.id, r.c.network_type, r.c.physical_network, r.c.minimum, r.c.maximum)):
        if row.id == _seed_id(row.network_type, row.physical_network, row.minimum, row.maximum):
            conn.execute(r.update().where(r.c.id == row.id).values(is_default=True))
    with op.batch_alter_table("segment_ranges") as batch:
        batch.alter_column("description", existing_type=sa.String(length=255), nullable=False)
        batch.alter_column("updated_at", existing_type=sa.DateTime(), nullable=False)
        batch.alter_column("revision_number", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("shared", existing_type=sa.Boolean(), nullable=False)
        batch.alter_column("is_default", existing_type=sa.Boolean(), nullable=False)
        batch.create_index(batch.f("ix_segment_ranges_project_id"), ["project_id"], unique=False)


def upgrade() -> None:
    _ranges_upgrade()
    rules = op.create_table(
        "default_security_group_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("ethertype", sa.String(length=8), nullable=False),
        sa.Column("protocol", sa.String(length=40), nullable=True),
        sa.Column("port_range_min", sa.Integer(), nullable=True),
        sa.Column("port_range_max", sa.Integer(), nullable=True),
        sa.Column("remote_ip_prefix", sa.String(length=64), nullable=True),
        sa.Column("remote_group_id", sa.String(length=36), nullable=True),
        sa.Column("remote_address_group_id", sa.String(length=36), nullable=True),
        sa.Column("used_in_default_sg", sa.Boolean(), nullable=False),
        sa.Column("used_in_non_default_sg", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_default_security_group_rules")),
    )
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    seeds = [
        # (direction, ethertype, remote_group_id, used_in_default_sg, used_in_non_default_sg)
        ("egress", "IPv4", None, True, True),
        ("egress", "IPv6", None, True, True),
        ("ingress", "IPv4", "PARENT", True, False),
        ("ingress", "IPv6", "PARENT", True, False),
    ]
    op.bulk_insert(
        rules,
        [
            {
                "id": str(uuid.uuid4()),
                "direction": direction,
                "ethertype": ethertype,
                "remote_group_id": remote,
                "used_in_default_sg": in_default,
                "used_in_non_default_sg": in_other,
                "description": f"Legacy default SG rule for {direction} traffic",
                "created_at": now,
                "updated_at": now,
                "revision_number": 0,
            }
            for direction, ethertype, remote, in_default, in_other in seeds
        ],
    )


def downgrade() -> None:
    op.drop_table("default_security_group_rules")
    with op.batch_alter_table("segment_ranges") as batch:
        batch.drop_index(batch.f("ix_segment_ranges_project_id"))
        for column in ("is_default", "shared", "project_id", "revision_number", "updated_at", "description"):
            batch.drop_column(column)
