"""Coupon redemption: the 6-digit codes shown per time step, every attempt at a facility,
and one use per code shown (the redemption's time step).

Revision ID: 4ea0a8177cfa
Revises: aea4ec424154
Create Date: 2026-12-03 15:25:46.099336
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "4ea0a8177cfa"
down_revision: str | Sequence[str] | None = "aea4ec424154"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entitlement_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("length(code) = 6", name=op.f("ck_coupon_codes_code_length")),
        sa.ForeignKeyConstraint(
            ["entitlement_id"],
            ["coupon_entitlements.id"],
            name=op.f("fk_coupon_codes_entitlement_id_coupon_entitlements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_codes")),
        sa.UniqueConstraint("entitlement_id", "step", name="uq_coupon_codes_entitlement_step"),
        sa.UniqueConstraint("step", "code", name="uq_coupon_codes_step_code"),
    )
    with op.batch_alter_table("coupon_codes", schema=None) as batch_op:
        batch_op.create_index("ix_coupon_codes_code", ["code"], unique=False)

    op.create_table(
        "coupon_redemption_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempted_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("entitlement_id", sa.Integer(), nullable=True),
        sa.Column(
            "via",
            sa.Enum("qr", "code", name="scanvia", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column(
            "outcome",
            sa.Enum(
                "redeemed",
                "replayed",
                "refused",
                name="redemptionoutcome",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "reason",
            sa.Enum(
                "tampered",
                "expired",
                "unknown_code",
                "ambiguous_code",
                "code_used",
                "wrong_facility",
                "outside_validity",
                "revoked",
                "over_cap",
                "day_limit",
                "facility_limit",
                "budget_spent",
                name="refusalreason",
                native_enum=False,
            ),
            nullable=True,
        ),
        sa.Column("redemption_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(outcome = 'refused') = (reason IS NOT NULL)",
            name=op.f("ck_coupon_redemption_attempts_reason_iff_refused"),
        ),
        sa.ForeignKeyConstraint(
            ["entitlement_id"],
            ["coupon_entitlements.id"],
            name=op.f("fk_coupon_redemption_attempts_entitlement_id_coupon_entitlements"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_coupon_redemption_attempts_facility_id_facilities"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["redemption_id"],
            ["coupon_redemptions.id"],
            name=op.f("fk_coupon_redemption_attempts_redemption_id_coupon_redemptions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_coupon_redemption_attempts_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_redemption_attempts")),
    )
    with op.batch_alter_table("coupon_redemption_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coupon_redemption_attempts_entitlement_id"),
            ["entitlement_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_coupon_redemption_attempts_facility_at",
            ["facility_id", "attempted_at"],
            unique=False,
        )

    with op.batch_alter_table("coupon_redemptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code_step", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(
            "uq_coupon_redemptions_code", ["entitlement_id", "code_step"]
        )


def downgrade() -> None:
    with op.batch_alter_table("coupon_redemptions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_coupon_redemptions_code", type_="unique")
        batch_op.drop_column("code_step")

    with op.batch_alter_table("coupon_redemption_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_coupon_redemption_attempts_facility_at")
        batch_op.drop_index(batch_op.f("ix_coupon_redemption_attempts_entitlement_id"))

    op.drop_table("coupon_redemption_attempts")
    with op.batch_alter_table("coupon_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_coupon_codes_code")

    op.drop_table("coupon_codes")
