"""The audit log: the browser (user agent) of each request-bound entry.

Revision ID: 5c1e0a7d9b21
Revises: 2069ae880f65
Create Date: 2026-12-03 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1e0a7d9b21"
down_revision: str | Sequence[str] | None = "2069ae880f65"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.add_column(sa.Column("user_agent", sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_column("user_agent")
