"""Resident attributes move from a JSON column to rows of resident_attributes.

Revision ID: 98802fe20dd3
Revises: 2687d0007db4
Create Date: 2026-12-01 22:38:05.821399

The data moves both ways. The upgrade refuses (and changes nothing) when a stored attribute
does not fit the new table's rules: the error names the residents and attributes to fix.
Those rules are copied here on purpose: this migration must keep meaning what it meant.
"""

import itertools
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "98802fe20dd3"
down_revision: str | Sequence[str] | None = "2687d0007db4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_VALUE_MAX = 100

_residents = sa.table("residents", sa.column("id", sa.Integer), sa.column("attributes", sa.JSON))


def _fits(name: object, value: object) -> bool:
    """True when the attribute satisfies what bot.attributes enforces."""
    return (
        isinstance(name, str)
        and _NAME.fullmatch(name) is not None
        and isinstance(value, str)
        and 1 <= len(value) <= _VALUE_MAX
        and value == value.strip()
        and not any(unicodedata.category(char) in ("Cc", "Cs") for char in value)
    )


def _rows(resident_id: int, attributes: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """One resident's attributes as rows, and the descriptions of those that do not fit."""
    if not isinstance(attributes, dict):
        return [], [f"resident {resident_id}: attributes are not a JSON object"]
    rows, refused = [], []
    for name, value in attributes.items():
        if _fits(name, value):
            rows.append({"resident_id": resident_id, "name": name, "value": value})
        else:  # the value is personal data: only the name goes into the error
            refused.append(f"resident {resident_id}: attribute {name[:50]!r}")
    return rows, refused


def upgrade() -> None:
    bind = op.get_bind()
    stored = bind.execute(
        sa.select(_residents.c.id, _residents.c.attributes)
        # Most residents have none; the JSON type has no equality on PostgreSQL, its text has.
        .where(sa.cast(_residents.c.attributes, sa.Text) != "{}")
        .order_by(_residents.c.id)
    ).all()
    rows: list[dict[str, Any]] = []
    refused: list[str] = []
    for resident_id, attributes in stored:
        fitting, unfit = _rows(resident_id, attributes)
        rows += fitting
        refused += unfit
    if refused:  # before any change: the JSON column stays as it is
        raise RuntimeError(
            "resident attributes that do not fit resident_attributes (a name of the form"
            " [a-z][a-z0-9_]{0,39}, a string value of 1 to 100 characters without control"
            " characters or surrounding spaces); fix or remove them, then upgrade again: "
            + "; ".join(refused[:20])
            + (f" (and {len(refused) - 20} more)" if len(refused) > 20 else "")
        )
    table = op.create_table(
        "resident_attributes",
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=100), nullable=False),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "length(name) BETWEEN 1 AND 40"
            " AND ltrim(substr(name, 1, 1), 'abcdefghijklmnopqrstuvwxyz') = ''"
            " AND ltrim(name, 'abcdefghijklmnopqrstuvwxyz0123456789_') = ''",
            name=op.f("ck_resident_attributes_name_shape"),
        ),
        sa.CheckConstraint(
            "length(value) BETWEEN 1 AND 100", name=op.f("ck_resident_attributes_value_length")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_resident_attributes_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("resident_id", "name", name=op.f("pk_resident_attributes")),
    )
    op.create_index(
        "ix_resident_attributes_name_value",
        "resident_attributes",
        ["name", "value", "resident_id"],
        unique=False,
    )

    if rows:
        bind.execute(sa.insert(table), rows)

    # Not in batch mode: SQLite's native DROP COLUMN keeps the table, where batch mode's
    # copy-and-drop would cascade-delete every row that references a resident.
    op.drop_column("residents", "attributes")


def downgrade() -> None:
    op.add_column(
        "residents", sa.Column("attributes", sa.JSON(), server_default="{}", nullable=False)
    )
    table = sa.table(
        "resident_attributes",
        sa.column("resident_id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("value", sa.String),
    )
    bind = op.get_bind()
    stored = bind.execute(
        sa.select(table.c.resident_id, table.c.name, table.c.value).order_by(
            table.c.resident_id, table.c.name
        )
    ).all()
    restore = (
        sa.update(_residents)
        .where(_residents.c.id == sa.bindparam("resident_id"))
        .values(attributes=sa.bindparam("restored", type_=sa.JSON))
    )
    by_resident = [
        {"resident_id": resident_id, "restored": {name: value for _, name, value in rows}}
        for resident_id, rows in itertools.groupby(stored, key=lambda row: row[0])
    ]
    if by_resident:
        bind.execute(restore, by_resident)
    op.drop_table("resident_attributes")
