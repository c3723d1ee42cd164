"""What a handler receives: the event, the resident, the session and the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.messages import Message
from bot.outbox import Outbox
from bot.routing import Incoming
from models import Conversation, Resident


@dataclass
class EventContext:
    """One webhook event inside its unit of work."""

    session: Session
    incoming: Incoming
    #: The SDK's typed event (for handlers that need a field the router does not normalise).
    event: Any
    resident: Resident
    outbox: Outbox
    now: datetime
    reply_token: str | None
    #: The app configuration (read-only by convention).
    config: dict[str, Any]
    #: The resident's active dialog as loaded with the resident's lock (the dialog engine's).
    conversation: Conversation | None = None

    def reply(self, *messages: Message, must_arrive: bool = False) -> None:
        """Queue a reply, sent after the commit; with ``must_arrive`` a spent token falls
        back to a push. Events without a reply token (unfollow, unsend) reply nothing."""
        if self.reply_token:
            self.outbox.reply(
                self.reply_token,
                list(messages),
                resident_id=self.resident.id,
                must_arrive=must_arrive,
            )

    def push(self, *messages: Message, purpose: str) -> None:
        """Queue a push to this resident (stored with a retry key, sent after the commit)."""
        self.outbox.push(self.session, self.resident, list(messages), purpose=purpose)
