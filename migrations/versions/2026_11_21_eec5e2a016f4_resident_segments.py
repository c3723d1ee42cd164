"""Residents get segment attributes (set by features, used to target announcements).

Revision ID: eec5e2a016f4
Revises: 70c4644b7bc2
Create Date: 2026-11-21 13:52:10.283842
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "eec5e2a016f4"
down_revision: str | Sequence[str] | None = "70c4644b7bc2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attributes", sa.JSON(), server_default="{}", nullable=False))


def downgrade() -> None:
    # Not in batch mode: SQLite's native DROP COLUMN keeps the table, where batch mode's
    # copy-and-drop would cascade-delete every row that references a resident.
    op.drop_column("residents", "attributes")
