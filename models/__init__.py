"""SQLAlchemy models, one module per aggregate; importing this package registers them all."""

from models.base import Base
from models.conversations import Conversation, ConversationStatus
from models.outbound import OutboundMessage, OutboundStatus
from models.residents import FollowState, Resident
from models.webhook_events import WebhookEvent

__all__ = [
    "Base",
    "Conversation",
    "ConversationStatus",
    "FollowState",
    "OutboundMessage",
    "OutboundStatus",
    "Resident",
    "WebhookEvent",
]
