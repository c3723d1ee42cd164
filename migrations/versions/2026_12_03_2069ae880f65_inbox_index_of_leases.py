"""The inbox: an index of leases, so a claim finds the events of dead workers at once.

Revision ID: 2069ae880f65
Revises: baaf106fd752
Create Date: 2026-12-03 08:07:11.059716
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2069ae880f65"
down_revision: str | Sequence[str] | None = "baaf106fd752"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEASED = sa.text("status = 'leased'")


def upgrade() -> None:
    with op.batch_alter_table("inbox_events") as batch_op:
        batch_op.create_index(
            "ix_inbox_events_leased", ["leased_until"], sqlite_where=LEASED, postgresql_where=LEASED
        )


def downgrade() -> None:
    with op.batch_alter_table("inbox_events") as batch_op:
        batch_op.drop_index("ix_inbox_events_leased")
