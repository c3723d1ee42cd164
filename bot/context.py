"""What an interceptor or handler receives: the event, the resident and the unit of work."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.incoming import Incoming
from bot.messages import Message
from bot.work import Work
from models import Dialog, Resident


@dataclass
class EventContext:
    """One webhook event inside its unit of work."""

    work: Work
    incoming: Incoming
    resident: Resident
    now: datetime
    reply_token: str | None
    #: The app configuration (read-only by convention).
    config: Mapping[str, Any]
    #: The resident's active dialog as loaded with the resident's lock (the dialog engine's).
    dialog: Dialog | None = None

    @property
    def session(self) -> Session:
        """The unit of work's session (flush, never commit)."""
        return self.work.session

    def reply(self, *messages: Message, must_arrive: bool = False) -> None:
        """Queue a reply, sent after the commit; with ``must_arrive`` a spent token falls
        back to a push. Events without a reply token (unfollow, unsend) reply nothing."""
        if self.reply_token:
            self.work.outbox.reply(
                self.reply_token,
                list(messages),
                resident=self.resident,
                must_arrive=must_arrive,
            )

    def push(self, *messages: Message, purpose: str) -> None:
        """Queue a push to this resident (stored with a retry key, sent after the commit)."""
        self.work.outbox.push(self.session, self.resident, list(messages), purpose=purpose)
