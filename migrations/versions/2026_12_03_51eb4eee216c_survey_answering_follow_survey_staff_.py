"""Survey answering: the survey offered on follow, staff LINE accounts linked for rehearsals.

Revision ID: 51eb4eee216c
Revises: 4ea0a8177cfa
Create Date: 2026-12-03 15:38:11.260112
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "51eb4eee216c"
down_revision: str | Sequence[str] | None = "4ea0a8177cfa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_rehearsers",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("linked_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_survey_rehearsers_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_survey_rehearsers_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_survey_rehearsers")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_survey_rehearsers_code_hash")),
        sa.UniqueConstraint("resident_id", name=op.f("uq_survey_rehearsers_resident_id")),
    )
    op.add_column(
        "surveys",
        sa.Column("offer_on_follow", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("surveys") as batch:
        batch.drop_column("offer_on_follow")
    op.drop_table("survey_rehearsers")
