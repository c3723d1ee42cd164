"""SQLAlchemy models, one module per aggregate; importing this package registers them all.

The core's aggregates are named below. A feature's models (``models/<feature>.py``) are
found by :func:`_import_all_models` (Indico's ``import_all_models``), so adding a feature
needs no line here and Alembic, the tests and every process see the whole schema.
"""

import importlib
import pkgutil

from models.base import Base
from models.dialogs import Dialog, DialogStatus
from models.facilities import Facility, StaffFacility
from models.inbox import GroupChat, InboxEvent, InboxStatus
from models.outbound import OutboundMessage, OutboundStatus
from models.residents import (
    FollowState,
    FriendshipChange,
    FriendshipEvent,
    Resident,
    ResidentAttribute,
)
from models.staff import (
    AuditEntry,
    ConsoleSettings,
    RecoveryCode,
    Role,
    Staff,
    StaffRole,
    StaffSession,
)

__all__ = [
    "AuditEntry",
    "Base",
    "ConsoleSettings",
    "Dialog",
    "DialogStatus",
    "Facility",
    "FollowState",
    "FriendshipChange",
    "FriendshipEvent",
    "GroupChat",
    "InboxEvent",
    "InboxStatus",
    "OutboundMessage",
    "OutboundStatus",
    "RecoveryCode",
    "Resident",
    "ResidentAttribute",
    "Role",
    "Staff",
    "StaffFacility",
    "StaffRole",
    "StaffSession",
]


def _import_all_models() -> None:
    """Import every module of this package (the features' models included)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_import_all_models()
