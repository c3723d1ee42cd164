"""Processed webhook event ids, kept only to recognise LINE's redeliveries."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Created


class WebhookEvent(Base):
    """One webhook event that was processed (its row commits with the event's effects)."""

    __tablename__ = "webhook_events"

    #: LINE's ``webhookEventId`` (a ULID); unchanged on redelivery.
    webhook_event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Event type, for operators' statistics.
    type: Mapped[str] = mapped_column(String(40))
    #: When it was processed; rows older than the retention period are purged.
    received_at: Mapped[Created] = mapped_column(index=True)
