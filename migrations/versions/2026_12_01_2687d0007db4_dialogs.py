"""Dialogs: the conversations table becomes dialogs (one word for one thing), with parking.

A new ``dialogs`` table replaces ``conversations`` (its rows are copied): the status gains
``parked`` (a timed-out dialog kept for the resident to resume) and parked dialogs are not
ended. Downgrading ends parked dialogs as expired, since the old schema cannot hold them.

Revision ID: 2687d0007db4
Revises: eec5e2a016f4
Create Date: 2026-12-01 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "2687d0007db4"
down_revision: str | Sequence[str] | None = "eec5e2a016f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "id, resident_id, flow, subject_id, state, data, status, version, started_at, "
    "updated_at, expires_at, completed_at, ended_at"
)


def _table(name: str, statuses: tuple[str, ...], ended_check: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                *statuses,
                name="dialogstatus" if name == "dialogs" else "conversationstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "started_at",
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
        sa.Column("expires_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(ended_check[1], name=op.f(f"ck_{name}_{ended_check[0]}")),
        sa.CheckConstraint(
            "(status = 'completed') = (completed_at IS NOT NULL)",
            name=op.f(f"ck_{name}_completed_at_iff_completed"),
        ),
        *(
            (sa.CheckConstraint("version >= 1", name=op.f("ck_dialogs_version_positive")),)
            if name == "dialogs"
            else ()
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f(f"fk_{name}_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )
    op.create_index(
        f"uq_{name}_one_active_per_resident",
        name,
        ["resident_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )


def _reset_sequence(name: str) -> None:
    """PostgreSQL: continue the new table's ids after the copied ones."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608 - constants
            f"COALESCE((SELECT MAX(id) FROM {name}), 0) + 1, false)"
        )


def upgrade() -> None:
    _table(
        "dialogs",
        ("active", "parked", "completed", "cancelled", "expired"),
        ("ended_at_iff_ended", "(status IN ('active', 'parked')) = (ended_at IS NULL)"),
    )
    op.create_index(
        "ix_dialogs_parked",
        "dialogs",
        ["resident_id", "flow"],
        unique=False,
        sqlite_where=sa.text("status = 'parked'"),
        postgresql_where=sa.text("status = 'parked'"),
    )
    op.execute(f"INSERT INTO dialogs ({COLUMNS}) SELECT {COLUMNS} FROM conversations")  # noqa: S608
    _reset_sequence("dialogs")
    op.drop_index("uq_conversations_one_active_per_resident", table_name="conversations")
    op.drop_table("conversations")


def downgrade() -> None:
    _table(
        "conversations",
        ("active", "completed", "cancelled", "expired"),
        ("ended_at_iff_not_active", "(status = 'active') = (ended_at IS NULL)"),
    )
    op.execute(
        "UPDATE dialogs SET status = 'expired', ended_at = updated_at WHERE status = 'parked'"
    )
    op.execute(f"INSERT INTO conversations ({COLUMNS}) SELECT {COLUMNS} FROM dialogs")  # noqa: S608
    _reset_sequence("conversations")
    op.drop_index("ix_dialogs_parked", table_name="dialogs")
    op.drop_index("uq_dialogs_one_active_per_resident", table_name="dialogs")
    op.drop_table("dialogs")
