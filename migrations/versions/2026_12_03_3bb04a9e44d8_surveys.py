"""Surveys: surveys, their versions and questions, quotas, submissions, answers, photos, participants.

Revision ID: 3bb04a9e44d8
Revises: 2069ae880f65
Create Date: 2026-12-03 11:58:59.356777
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "3bb04a9e44d8"
down_revision: str | Sequence[str] | None = "2069ae880f65"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("draft", "open", "closed", name="surveystatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("default_language", sa.String(length=8), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("one_answer", sa.Boolean(), nullable=False),
        sa.Column("estimated_minutes", sa.Integer(), nullable=True),
        sa.Column("max_responses", sa.Integer(), nullable=True),
        sa.Column("opens_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closes_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=True),
        sa.Column("reminder_hours", sa.Integer(), nullable=True),
        sa.Column("response_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("current_version_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
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
        sa.Column("published_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)",
            name=op.f("ck_surveys_closed_at_iff_closed"),
        ),
        sa.CheckConstraint(
            "(status = 'draft') = (published_at IS NULL)",
            name=op.f("ck_surveys_published_iff_not_draft"),
        ),
        sa.CheckConstraint(
            "estimated_minutes IS NULL OR estimated_minutes > 0",
            name=op.f("ck_surveys_minutes_positive"),
        ),
        sa.CheckConstraint(
            "max_responses IS NULL OR max_responses > 0", name=op.f("ck_surveys_max_positive")
        ),
        sa.CheckConstraint(
            "opens_at IS NULL OR closes_at IS NULL OR opens_at < closes_at",
            name=op.f("ck_surveys_opens_before_close"),
        ),
        sa.CheckConstraint(
            "reminder_hours IS NULL OR reminder_hours > 0",
            name=op.f("ck_surveys_reminder_positive"),
        ),
        sa.CheckConstraint(
            "response_count >= 0", name=op.f("ck_surveys_response_count_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff.id"],
            name=op.f("fk_surveys_created_by_id_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
    )
    op.create_table(
        "survey_participants",
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_participants_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("survey_id", "key", name=op.f("pk_survey_participants")),
    )
    op.create_table(
        "survey_quotas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("quota_limit", sa.Integer(), nullable=False),
        sa.Column(
            "action",
            sa.Enum("stop", "skip", name="quotaaction", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("filled", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "filled >= 0 AND filled <= quota_limit", name=op.f("ck_survey_quotas_filled_in_range")
        ),
        sa.CheckConstraint("quota_limit > 0", name=op.f("ck_survey_quotas_limit_positive")),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_quotas_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_quotas")),
    )
    with op.batch_alter_table("survey_quotas", schema=None) as batch_op:
        batch_op.create_index("uq_survey_quotas_name", ["survey_id", "name"], unique=True)

    op.create_table(
        "survey_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("intro", sa.JSON(), nullable=False),
        sa.Column("thanks", sa.JSON(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("published_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("number >= 1", name=op.f("ck_survey_versions_number_positive")),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_versions_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_versions")),
    )
    with op.batch_alter_table("survey_versions", schema=None) as batch_op:
        batch_op.create_index("uq_survey_versions_number", ["survey_id", "number"], unique=True)
        batch_op.create_index(
            "uq_survey_versions_one_draft",
            ["survey_id"],
            unique=True,
            sqlite_where=sa.text("published_at IS NULL"),
            postgresql_where=sa.text("published_at IS NULL"),
        )
    # surveys and survey_versions refer to each other: this key comes once both exist.
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_surveys_current_version_id_survey_versions"),
            "survey_versions",
            ["current_version_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "survey_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("section", sa.String(length=64), nullable=True),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("hint", sa.JSON(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("relevant", sa.Text(), nullable=True),
        sa.Column("constraint_expr", sa.Text(), nullable=True),
        sa.Column("constraint_message", sa.JSON(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("attribute", sa.String(length=40), nullable=True),
        sa.CheckConstraint("length(name) > 0", name=op.f("ck_survey_questions_name_not_empty")),
        sa.CheckConstraint("position >= 0", name=op.f("ck_survey_questions_position_not_negative")),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["survey_versions.id"],
            name=op.f("fk_survey_questions_version_id_survey_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_questions")),
    )
    with op.batch_alter_table("survey_questions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_questions_position", ["version_id", "position"], unique=False
        )
        batch_op.create_index("uq_survey_questions_name", ["version_id", "name"], unique=True)

    op.create_table(
        "survey_submissions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("submitted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.CheckConstraint(
            "NOT anonymous OR (resident_id IS NULL AND submitted_at IS NULL)",
            name=op.f("ck_survey_submissions_anonymous_unlinked"),
        ),
        sa.CheckConstraint(
            "anonymous OR submitted_at IS NOT NULL",
            name=op.f("ck_survey_submissions_identified_has_time"),
        ),
        sa.CheckConstraint(
            "duration_seconds IS NULL OR duration_seconds >= 0",
            name=op.f("ck_survey_submissions_duration_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_survey_submissions_resident_id_residents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_submissions_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["survey_versions.id"],
            name=op.f("fk_survey_submissions_version_id_survey_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_submissions")),
    )
    with op.batch_alter_table("survey_submissions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_survey_submissions_resident_id"), ["resident_id"], unique=False
        )
        batch_op.create_index(
            "ix_survey_submissions_survey", ["survey_id", "test", "version_id"], unique=False
        )

    op.create_table(
        "survey_answers",
        sa.Column("submission_id", sa.String(length=32), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("option", sa.String(length=64), nullable=True),
        sa.Column("number", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.CheckConstraint("ordinal >= 0", name=op.f("ck_survey_answers_ordinal_not_negative")),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["survey_questions.id"],
            name=op.f("fk_survey_answers_question_id_survey_questions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["survey_submissions.id"],
            name=op.f("fk_survey_answers_submission_id_survey_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "submission_id", "question_id", "ordinal", name=op.f("pk_survey_answers")
        ),
    )
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_survey_answers_question_option", ["question_id", "option"], unique=False
        )

    op.create_table(
        "survey_photos",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.String(length=32), nullable=True),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "content_type IN ('image/jpeg', 'image/png')",
            name=op.f("ck_survey_photos_content_type_image"),
        ),
        sa.CheckConstraint("byte_size > 0", name=op.f("ck_survey_photos_size_positive")),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["survey_submissions.id"],
            name=op.f("fk_survey_photos_submission_id_survey_submissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_photos_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_photos")),
    )
    with op.batch_alter_table("survey_photos", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_survey_photos_submission_id"), ["submission_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_survey_photos_survey_id"), ["survey_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("survey_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_photos_survey_id"))
        batch_op.drop_index(batch_op.f("ix_survey_photos_submission_id"))

    op.drop_table("survey_photos")
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_answers_question_option")

    op.drop_table("survey_answers")
    with op.batch_alter_table("survey_submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_submissions_survey")
        batch_op.drop_index(batch_op.f("ix_survey_submissions_resident_id"))

    op.drop_table("survey_submissions")
    with op.batch_alter_table("survey_questions", schema=None) as batch_op:
        batch_op.drop_index("uq_survey_questions_name")
        batch_op.drop_index("ix_survey_questions_position")

    op.drop_table("survey_questions")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("fk_surveys_current_version_id_survey_versions"), type_="foreignkey"
        )
    with op.batch_alter_table("survey_versions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_survey_versions_one_draft",
            sqlite_where=sa.text("published_at IS NULL"),
            postgresql_where=sa.text("published_at IS NULL"),
        )
        batch_op.drop_index("uq_survey_versions_number")

    op.drop_table("survey_versions")
    with op.batch_alter_table("survey_quotas", schema=None) as batch_op:
        batch_op.drop_index("uq_survey_quotas_name")

    op.drop_table("survey_quotas")
    op.drop_table("survey_participants")
    op.drop_table("surveys")
