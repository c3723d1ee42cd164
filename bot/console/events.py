"""The event inbox in the console: what waits, and the parked events an admin retries.

An event that failed ``EVENT_MAX_ATTEMPTS`` times is parked (``bot.inbox``): the resident
got an apology, later events went on. This page lists the parked ones (type, when, attempts,
the error's class and the resident's case id; never the event's body, which may quote what
the resident wrote) and lets an admin put them back in line once the cause is fixed, or
discard them. Both actions are audited and wake the event workers after the commit.
"""

from __future__ import annotations

from flask import Flask, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import SelectMultipleField

from bot import inbox
from bot.console import NavItem, console_blueprint, register_nav
from bot.console.audit import record
from bot.console.forms import EmptyForm
from bot.console.roles import Permission, requires
from bot.work import request_session, request_work
from models import InboxEvent, InboxStatus, Resident
from models.base import utcnow

bp = console_blueprint("console_events", __name__, "/admin/events")

#: Parked events shown (and actionable) at once, oldest first.
PAGE_SIZE = 200
#: Event ids an audit entry lists (the count is always complete).
AUDITED_IDS = 50


class ParkedForm(EmptyForm):
    """The parked events ticked on the page (only ids that are parked now are valid)."""

    events = SelectMultipleField(_l("Events"), coerce=int)


def _parked(session: Session) -> list[InboxEvent]:
    return list(
        session.scalars(
            select(InboxEvent)
            .where(InboxEvent.status == InboxStatus.PARKED)
            .order_by(InboxEvent.id)
            .limit(PAGE_SIZE)
        )
    )


def _case_ids(session: Session, events: list[InboxEvent]) -> dict[str, int]:
    """The residents' case ids by LINE user id (group and room chats have none)."""
    keys = {e.source_key for e in events if e.source_key and e.source_key.startswith("U")}
    if not keys:
        return {}
    rows = session.execute(
        select(Resident.line_user_id, Resident.id).where(Resident.line_user_id.in_(keys))
    )
    return {user_id: case_id for user_id, case_id in rows}


def _form(events: list[InboxEvent]) -> ParkedForm:
    form = ParkedForm()
    form.events.choices = [(e.id, str(e.id)) for e in events]
    return form


@bp.get("/")
@requires(Permission.INBOX)
def show() -> str:
    """The backlog's figures and the parked events."""
    db = request_session()
    events = _parked(db)
    return render_template(
        "console/events.html",
        backlog=inbox.backlog(db),
        events=events,
        case_ids=_case_ids(db, events),
        form=_form(events),
        more=len(events) == PAGE_SIZE,
    )


def _act(action: str) -> ResponseReturnValue:
    """Retry or discard the ticked parked events."""
    db = request_session()
    form = _form(_parked(db))
    if not form.validate_on_submit() or not form.events.data:
        flash(
            form.control_error() or _("Nothing was changed: tick parked events from the list."),
            "error",
        )
        return redirect(url_for(".show"))
    chosen: list[int] = sorted(set(form.events.data))
    change = inbox.retry_parked if action == "retry" else inbox.discard_parked
    changed = change(db, chosen, now=utcnow())
    record(
        db,
        f"inbox.{action}",
        object_type="inbox_event",
        detail={"count": changed, "events": chosen[:AUDITED_IDS]},
    )
    if action == "retry":
        request_work().after_commit(current_app.extensions["workers"].wake)
        flash(
            ngettext(
                "%(num)d event is waiting to be processed again.",
                "%(num)d events are waiting to be processed again.",
                changed,
            ),
            "info",
        )
    else:
        flash(
            ngettext("%(num)d event was discarded.", "%(num)d events were discarded.", changed),
            "info",
        )
    return redirect(url_for(".show"))


@bp.post("/retry")
@requires(Permission.INBOX)
def retry() -> ResponseReturnValue:
    """Put the ticked parked events back in line, with a fresh set of attempts."""
    return _act("retry")


@bp.post("/discard")
@requires(Permission.INBOX)
def discard() -> ResponseReturnValue:
    """Give up on the ticked parked events (their body is deleted)."""
    return _act("discard")


def init_app(app: Flask) -> None:
    """Register the page and its menu entry."""
    app.register_blueprint(bp)
    register_nav(app, NavItem("console_events.show", _l("Event inbox"), Permission.INBOX, 85))
