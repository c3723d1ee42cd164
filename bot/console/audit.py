"""The audit log: who did what to which object and when.

Every sign-in, failure, lockout, refusal, session ended, second-factor change and every
create/update/delete/approve/send/redeem/export is recorded with :func:`record`, with the
request's address and User-Agent. Entries never hold residents' personal data, message
text, passwords or codes.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy.orm import Session

from bot.inputs import escape_control_characters
from bot.residentweb import is_resident_path
from models import AuditEntry


def record(
    session: Session,
    action: str,
    *,
    object_type: str | None = None,
    object_id: object | None = None,
    detail: dict[str, Any] | None = None,
    actor_id: int | None = None,
    actor_label: str | None = None,
) -> AuditEntry:
    """Add an audit entry to the session (committed with the unit of work).

    :param action: a dotted verb, e.g. ``staff.create``.
    :param actor_id: the staff member; defaults to the signed-in one, if any.
    :param actor_label: how to name the actor; defaults to their email, ``anonymous`` in a
        request without a signed-in user, ``system`` outside requests (CLI, clock).
    :return: the new entry.
    """
    in_request = has_request_context()
    # Resident pages have no staff member; asking Flask-Login would make it inspect (and
    # rewrite) the resident session as if it were a staff one.
    staff_page = in_request and not is_resident_path(request.path)
    signed_in = staff_page and current_user.is_authenticated
    if actor_id is None and signed_in:
        actor_id = current_user.id
    if actor_label is None:
        actor_label = current_user.email if signed_in else ("anonymous" if in_request else "system")
    entry = AuditEntry(
        actor_id=actor_id,
        actor_label=actor_label[:254],
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id)[:64],
        detail=detail or {},
        remote_addr=_header_text(request.remote_addr, 64) if in_request else None,
        user_agent=_header_text(request.headers.get("User-Agent"), 400) if in_request else None,
    )
    session.add(entry)
    return entry


def _header_text(given: str | None, limit: int) -> str | None:
    """What a client sent (its address through the proxies, its browser) as the log keeps
    it: control characters escaped (PostgreSQL refuses NUL), at most ``limit`` long."""
    return escape_control_characters(given)[:limit] if given else None
