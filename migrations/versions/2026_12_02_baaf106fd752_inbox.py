"""The inbox: webhook events are stored at the door and processed by workers.

``inbox_events`` replaces ``webhook_events`` (its ids are kept, as processed events, so late
redeliveries are still recognised). ``outbound_messages`` holds replies too: a reply token,
how long it is good for, whether a stale one becomes a push, and a sender's lease.
``group_chats`` remembers the groups that got the one-to-one note.

Downgrading refuses while events are still waiting in the inbox (their raw events would be
lost); replies still unsent are dropped with the reply columns.

Revision ID: baaf106fd752
Revises: 17d3d45e62b5
Create Date: 2026-12-02 01:35:19.980985
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "baaf106fd752"
down_revision: str | Sequence[str] | None = "17d3d45e62b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = models.base.UTCDateTime(timezone=True)
NOW = sa.text("(CURRENT_TIMESTAMP)")
QUEUED = sa.text("status IN ('pending', 'leased')")
PENDING = sa.text("status = 'pending'")
PARKED = sa.text("status = 'parked'")


def upgrade() -> None:
    op.create_table(
        "group_chats",
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("noted_at", UTC, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_group_chats")),
    )
    op.create_table(
        "inbox_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("webhook_event_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("source_key", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", UTC, nullable=False),
        sa.Column("received_at", UTC, server_default=NOW, nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "leased",
                "done",
                "parked",
                name="inboxstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", UTC, nullable=False),
        sa.Column("leased_until", UTC, nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=100), nullable=True),
        sa.Column("processed_at", UTC, nullable=True),
        sa.CheckConstraint(
            "(status = 'done') = (payload IS NULL)", name=op.f("ck_inbox_events_payload_until_done")
        ),
        sa.CheckConstraint(
            "(status = 'done') = (processed_at IS NOT NULL)",
            name=op.f("ck_inbox_events_done_iff_processed"),
        ),
        sa.CheckConstraint(
            "(status = 'leased') = (leased_until IS NOT NULL)",
            name=op.f("ck_inbox_events_lease_iff_leased"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_inbox_events_attempts_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_events")),
        sa.UniqueConstraint("webhook_event_id", name=op.f("uq_inbox_events_webhook_event_id")),
    )
    op.create_index(
        "ix_inbox_events_due",
        "inbox_events",
        ["available_at", "id"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index(
        "ix_inbox_events_parked",
        "inbox_events",
        ["id"],
        sqlite_where=PARKED,
        postgresql_where=PARKED,
    )
    op.create_index(
        "ix_inbox_events_queued",
        "inbox_events",
        ["source_key", "occurred_at", "id"],
        sqlite_where=QUEUED,
        postgresql_where=QUEUED,
    )
    op.create_index(op.f("ix_inbox_events_received_at"), "inbox_events", ["received_at"])
    op.execute(
        "INSERT INTO inbox_events (webhook_event_id, type, occurred_at, received_at, status, "
        "attempts, available_at, processed_at) SELECT webhook_event_id, type, received_at, "
        "received_at, 'done', 1, received_at, received_at FROM webhook_events"
    )
    op.drop_index(op.f("ix_webhook_events_received_at"), table_name="webhook_events")
    op.drop_table("webhook_events")

    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.add_column(sa.Column("reply_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reply_until", UTC, nullable=True))
        batch_op.add_column(
            sa.Column("fallback_push", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("leased_until", UTC, nullable=True))
        batch_op.alter_column("resident_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_check_constraint(
            "reply_token_has_deadline", "(reply_token IS NULL) = (reply_until IS NULL)"
        )
        batch_op.create_check_constraint(
            "push_has_recipient",
            "resident_id IS NOT NULL OR (reply_token IS NOT NULL AND NOT fallback_push)",
        )


def downgrade() -> None:
    waiting = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM inbox_events WHERE status <> 'done'")
    )
    if waiting:
        raise RuntimeError(
            f"{waiting} webhook events are still in the inbox (pending, leased or parked): "
            "let the workers process them (or delete them) before downgrading"
        )
    op.execute("DELETE FROM outbound_messages WHERE reply_token IS NOT NULL")
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.drop_constraint("push_has_recipient", type_="check")
        batch_op.drop_constraint("reply_token_has_deadline", type_="check")
        batch_op.alter_column("resident_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("leased_until")
        batch_op.drop_column("fallback_push")
        batch_op.drop_column("reply_until")
        batch_op.drop_column("reply_token")

    op.create_table(
        "webhook_events",
        sa.Column("webhook_event_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("received_at", UTC, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("webhook_event_id", name=op.f("pk_webhook_events")),
    )
    op.create_index(op.f("ix_webhook_events_received_at"), "webhook_events", ["received_at"])
    op.execute(
        "INSERT INTO webhook_events (webhook_event_id, type, received_at) "
        "SELECT webhook_event_id, type, received_at FROM inbox_events"
    )
    op.drop_index(op.f("ix_inbox_events_received_at"), table_name="inbox_events")
    op.drop_index("ix_inbox_events_queued", table_name="inbox_events")
    op.drop_index("ix_inbox_events_parked", table_name="inbox_events")
    op.drop_index("ix_inbox_events_due", table_name="inbox_events")
    op.drop_table("inbox_events")
    op.drop_table("group_chats")
