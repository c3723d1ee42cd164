"""Survey results: indexes that answer the results page's counts alone.

The results page counts a version's dialogs by status and state (completion, drop-off per
question) with one GROUP BY over ``(flow, subject_id)``; it counts choices per option and
numbers per value with index-only scans of ``survey_answers`` in (question, value) order,
which carry the submission id (PostgreSQL ``INCLUDE``) so rehearsals are left out without
reading the table.

Revision ID: 5e1f0c7a9b42
Revises: 51eb4eee216c
Create Date: 2026-12-03 15:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5e1f0c7a9b42"
down_revision: str | Sequence[str] | None = "51eb4eee216c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dialogs") as batch_op:
        batch_op.create_index("ix_dialogs_flow_subject", ["flow", "subject_id", "status"])
    with op.batch_alter_table("survey_answers") as batch_op:
        batch_op.drop_index("ix_survey_answers_question_option")
        batch_op.create_index(
            "ix_survey_answers_question_option",
            ["question_id", "option"],
            postgresql_include=["submission_id", "ordinal"],
        )
        batch_op.create_index(
            "ix_survey_answers_question_number",
            ["question_id", "number"],
            postgresql_include=["submission_id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("survey_answers") as batch_op:
        batch_op.drop_index("ix_survey_answers_question_number")
        batch_op.drop_index("ix_survey_answers_question_option")
        batch_op.create_index("ix_survey_answers_question_option", ["question_id", "option"])
    with op.batch_alter_table("dialogs") as batch_op:
        batch_op.drop_index("ix_dialogs_flow_subject")
