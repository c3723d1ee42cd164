"""SQLAlchemy models, one module per aggregate; importing this package registers them all."""

from models.base import Base
from models.conversations import Conversation, ConversationStatus
from models.facilities import Facility, StaffFacility
from models.outbound import OutboundMessage, OutboundStatus
from models.residents import FollowState, FriendshipChange, FriendshipEvent, Resident
from models.staff import AuditEntry, Role, Staff, StaffRole
from models.webhook_events import WebhookEvent

__all__ = [
    "AuditEntry",
    "Base",
    "Conversation",
    "ConversationStatus",
    "Facility",
    "FollowState",
    "FriendshipChange",
    "FriendshipEvent",
    "OutboundMessage",
    "OutboundStatus",
    "Resident",
    "Role",
    "Staff",
    "StaffFacility",
    "StaffRole",
    "WebhookEvent",
]
