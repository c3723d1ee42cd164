"""Facilities, and the staff linked to the facilities they work at.

Revision ID: 17d3d45e62b5
Revises: 98802fe20dd3
Create Date: 2026-12-01 22:43:39.351991
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "17d3d45e62b5"
down_revision: str | Sequence[str] | None = "98802fe20dd3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "facilities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_ja", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("code = lower(code)", name=op.f("ck_facilities_code_lowercase")),
        sa.CheckConstraint("length(code) > 0", name=op.f("ck_facilities_code_not_empty")),
        sa.CheckConstraint(
            "length(name_ja) > 0 AND length(name_en) > 0",
            name=op.f("ck_facilities_names_not_empty"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facilities")),
        sa.UniqueConstraint("code", name=op.f("uq_facilities_code")),
    )
    op.create_table(
        "staff_facilities",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_staff_facilities_facility_id_facilities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_staff_facilities_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("staff_id", "facility_id", name=op.f("pk_staff_facilities")),
    )
    with op.batch_alter_table("staff_facilities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_facilities_facility_id"), ["facility_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_facilities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_facilities_facility_id"))

    op.drop_table("staff_facilities")
    op.drop_table("facilities")
