"""Coupons: campaigns and their facilities, card holders, entitlements, redemptions and
verification attempts; facilities get an address and opening hours.

Revision ID: aea4ec424154
Revises: 34675e9795ba
Create Date: 2026-12-03 11:59:33.002760
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "aea4ec424154"
down_revision: str | Sequence[str] | None = "34675e9795ba"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_ja", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("benefit_ja", sa.String(length=1000), nullable=False),
        sa.Column("benefit_en", sa.String(length=1000), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "published",
                "withdrawn",
                name="campaignstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("uses_per_person", sa.Integer(), nullable=False),
        sa.Column("uses_per_day", sa.Integer(), nullable=True),
        sa.Column("uses_per_facility", sa.Integer(), nullable=True),
        sa.Column("starts_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("budget_uses", sa.Integer(), nullable=True),
        sa.Column("uses_redeemed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("prefecture", sa.String(length=8), nullable=True),
        sa.Column("min_age", sa.Integer(), nullable=True),
        sa.Column("max_age", sa.Integer(), nullable=True),
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
        sa.CheckConstraint(
            "(min_age IS NULL OR min_age BETWEEN 0 AND 150) AND (max_age IS NULL OR max_age BETWEEN 0 AND 150) AND (min_age IS NULL OR max_age IS NULL OR min_age <= max_age)",
            name=op.f("ck_coupon_campaigns_age_range"),
        ),
        sa.CheckConstraint(
            "budget_uses IS NULL OR budget_uses >= 1",
            name=op.f("ck_coupon_campaigns_budget_positive"),
        ),
        sa.CheckConstraint(
            "code = lower(code) AND length(code) > 0", name=op.f("ck_coupon_campaigns_code_shape")
        ),
        sa.CheckConstraint(
            "length(benefit_ja) > 0 AND length(benefit_en) > 0",
            name=op.f("ck_coupon_campaigns_benefits_not_empty"),
        ),
        sa.CheckConstraint(
            "length(name_ja) > 0 AND length(name_en) > 0",
            name=op.f("ck_coupon_campaigns_names_not_empty"),
        ),
        sa.CheckConstraint(
            "prefecture IS NULL OR length(prefecture) > 0",
            name=op.f("ck_coupon_campaigns_prefecture_not_empty"),
        ),
        sa.CheckConstraint(
            "starts_at < ends_at", name=op.f("ck_coupon_campaigns_starts_before_it_ends")
        ),
        sa.CheckConstraint(
            "uses_per_day IS NULL OR uses_per_day BETWEEN 1 AND uses_per_person",
            name=op.f("ck_coupon_campaigns_uses_per_day_range"),
        ),
        sa.CheckConstraint(
            "uses_per_facility IS NULL OR uses_per_facility BETWEEN 1 AND uses_per_person",
            name=op.f("ck_coupon_campaigns_uses_per_facility_range"),
        ),
        sa.CheckConstraint(
            "uses_per_person BETWEEN 1 AND 100",
            name=op.f("ck_coupon_campaigns_uses_per_person_range"),
        ),
        sa.CheckConstraint(
            "uses_redeemed >= 0 AND (budget_uses IS NULL OR uses_redeemed <= budget_uses)",
            name=op.f("ck_coupon_campaigns_budget_not_overspent"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_campaigns")),
        sa.UniqueConstraint("code", name=op.f("uq_coupon_campaigns_code")),
    )
    op.create_table(
        "coupon_campaign_facilities",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["coupon_campaigns.id"],
            name=op.f("fk_coupon_campaign_facilities_campaign_id_coupon_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_coupon_campaign_facilities_facility_id_facilities"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "facility_id", name=op.f("pk_coupon_campaign_facilities")
        ),
    )
    with op.batch_alter_table("coupon_campaign_facilities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coupon_campaign_facilities_facility_id"), ["facility_id"], unique=False
        )

    op.create_table(
        "coupon_holders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_key", sa.String(length=64), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("prefecture", sa.String(length=8), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("verified_at", models.base.UTCDateTime(timezone=True), nullable=False),
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
        sa.CheckConstraint(
            "birth_year IS NULL OR birth_year BETWEEN 1880 AND 2200",
            name=op.f("ck_coupon_holders_birth_year_range"),
        ),
        sa.CheckConstraint(
            "length(person_key) = 64", name=op.f("ck_coupon_holders_person_key_length")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_coupon_holders_resident_id_residents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_holders")),
        sa.UniqueConstraint("person_key", name=op.f("uq_coupon_holders_person_key")),
        sa.UniqueConstraint("resident_id", name=op.f("uq_coupon_holders_resident_id")),
    )
    op.create_table(
        "coupon_entitlements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.Column("uses_total", sa.Integer(), nullable=False),
        sa.Column("uses_left", sa.Integer(), nullable=False),
        sa.Column(
            "granted_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("revoked_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "uses_left >= 0 AND uses_left <= uses_total",
            name=op.f("ck_coupon_entitlements_uses_left_in_range"),
        ),
        sa.CheckConstraint(
            "uses_total BETWEEN 1 AND 100", name=op.f("ck_coupon_entitlements_uses_total_range")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["coupon_campaigns.id"],
            name=op.f("fk_coupon_entitlements_campaign_id_coupon_campaigns"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"],
            ["coupon_holders.id"],
            name=op.f("fk_coupon_entitlements_holder_id_coupon_holders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_entitlements")),
        sa.UniqueConstraint(
            "campaign_id", "holder_id", name="uq_coupon_entitlements_campaign_holder"
        ),
    )
    with op.batch_alter_table("coupon_entitlements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coupon_entitlements_holder_id"), ["holder_id"], unique=False
        )

    op.create_table(
        "coupon_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "link_sent",
                "started",
                "exchanging",
                "verified",
                "failed",
                name="verificationstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "failure",
            sa.Enum(
                "consent_denied",
                "state_mismatch",
                "state_reused",
                "code_rejected",
                "nonce_mismatch",
                "token_expired",
                "bad_signature",
                "unknown_issuer",
                "provider_down",
                "provider_error",
                "not_eligible",
                name="verificationfailure",
                native_enum=False,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("link_expires_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=True),
        sa.Column("started_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("holder_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(status = 'failed') = (failure IS NOT NULL)",
            name=op.f("ck_coupon_verifications_failure_iff_failed"),
        ),
        sa.CheckConstraint(
            "(status IN ('verified', 'failed')) = (finished_at IS NOT NULL)",
            name=op.f("ck_coupon_verifications_finished_at_iff_finished"),
        ),
        sa.CheckConstraint(
            "status NOT IN ('started', 'exchanging', 'verified') OR started_at IS NOT NULL",
            name=op.f("ck_coupon_verifications_started_at_when_started"),
        ),
        sa.CheckConstraint(
            "(started_at IS NULL) = (state_hash IS NULL)",
            name=op.f("ck_coupon_verifications_started_has_state"),
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"],
            ["coupon_holders.id"],
            name=op.f("fk_coupon_verifications_holder_id_coupon_holders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_coupon_verifications_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_verifications")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_coupon_verifications_state_hash")),
    )
    with op.batch_alter_table("coupon_verifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_coupon_verifications_resident_created", ["resident_id", "created_at"], unique=False
        )

    op.create_table(
        "coupon_redemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entitlement_id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("redeemed_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tokyo_day", sa.Date(), nullable=False),
        sa.Column("undone_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("undone_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "length(idempotency_key) BETWEEN 16 AND 64",
            name=op.f("ck_coupon_redemptions_idempotency_key_length"),
        ),
        sa.CheckConstraint(
            "undone_at IS NULL OR undone_at >= redeemed_at",
            name=op.f("ck_coupon_redemptions_undone_after"),
        ),
        sa.ForeignKeyConstraint(
            ["entitlement_id"],
            ["coupon_entitlements.id"],
            name=op.f("fk_coupon_redemptions_entitlement_id_coupon_entitlements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_coupon_redemptions_facility_id_facilities"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_coupon_redemptions_staff_id_staff"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["undone_by_id"],
            ["staff.id"],
            name=op.f("fk_coupon_redemptions_undone_by_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_redemptions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_coupon_redemptions_idempotency_key")),
    )
    with op.batch_alter_table("coupon_redemptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_coupon_redemptions_entitlement_day", ["entitlement_id", "tokyo_day"], unique=False
        )
        batch_op.create_index(
            "ix_coupon_redemptions_facility_day", ["facility_id", "tokyo_day"], unique=False
        )

    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address_ja", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("address_en", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("opening_hours_ja", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("opening_hours_en", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.drop_column("opening_hours_en")
        batch_op.drop_column("opening_hours_ja")
        batch_op.drop_column("address_en")
        batch_op.drop_column("address_ja")

    with op.batch_alter_table("coupon_redemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_coupon_redemptions_facility_day")
        batch_op.drop_index("ix_coupon_redemptions_entitlement_day")

    op.drop_table("coupon_redemptions")
    with op.batch_alter_table("coupon_verifications", schema=None) as batch_op:
        batch_op.drop_index("ix_coupon_verifications_resident_created")

    op.drop_table("coupon_verifications")
    with op.batch_alter_table("coupon_entitlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupon_entitlements_holder_id"))

    op.drop_table("coupon_entitlements")
    op.drop_table("coupon_holders")
    with op.batch_alter_table("coupon_campaign_facilities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coupon_campaign_facilities_facility_id"))

    op.drop_table("coupon_campaign_facilities")
    op.drop_table("coupon_campaigns")
