"""Console pages of the shell: dashboard, residents, audit log, staff accounts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import (
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from bot.console import NavItem, console_blueprint, register_nav, sessions
from bot.console.audit import record
from bot.console.facilities import link_facilities, list_facilities
from bot.console.forms import EmptyForm, FacilitiesForm, StaffForm
from bot.console.roles import Permission, requires
from bot.console.stats import TOKYO, friends_by_day
from bot.console.users import create_staff
from bot.csvexport import csv_response
from bot.inputs import normalise_email
from bot.work import request_session
from models import AuditEntry, FollowState, Resident, Role, Staff
from models.base import utcnow

bp = console_blueprint("console", __name__, "/admin")

PAGE_SIZE = 50
#: Longest search text accepted (longer input is cut, never an error page).
MAX_QUERY = 100


def _page() -> int:
    page = request.args.get("page", "1")
    return max(1, min(int(page), 10_000)) if page.isdigit() else 1


def _paginate(query: Select[Any], page: int, size: int = PAGE_SIZE) -> tuple[list[Any], bool]:
    rows = list(request_session().scalars(query.limit(size + 1).offset((page - 1) * size)))
    return rows[:size], len(rows) > size


@bp.get("/")
@requires(Permission.DASHBOARD)
def dashboard() -> str:
    """Friends over the last 30 days, and the features' tiles."""
    db = request_session()
    today = datetime.now(TOKYO).date()
    days = friends_by_day(db, days=30, today=today)
    totals = dict(
        db.execute(
            select(Resident.follow_state, func.count()).group_by(Resident.follow_state)
        ).all()
    )
    tiles = [
        t for t in current_app.extensions.get("console_tiles", []) if current_user.can(t.permission)
    ]
    return render_template(
        "console/dashboard.html", days=days, totals=totals, FollowState=FollowState, tiles=tiles
    )


@bp.get("/residents")
@requires(Permission.RESIDENTS)
def residents() -> str:
    """Residents, searchable; names only for roles that need them."""
    show_names = current_user.can(Permission.RESIDENT_NAMES)
    text = request.args.get("q", "").strip()[:MAX_QUERY]
    # The page's attributes in one more query, not one per resident.
    query = select(Resident).options(selectinload(Resident.attributes)).order_by(Resident.id.desc())
    if text:
        case_id = text.lstrip("#").lstrip("0") or "0"
        conditions = [Resident.id == int(case_id)] if case_id.isdigit() else []
        if show_names:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(Resident.display_name.ilike(f"%{escaped}%", escape="\\"))
        query = query.where(or_(*conditions)) if conditions else query.where(Resident.id < 0)
    page = _page()
    rows, more = _paginate(query, page)
    return render_template(
        "console/residents.html",
        residents=rows,
        q=text,
        page=page,
        more=more,
        show_names=show_names,
    )


def _audit_query() -> Select[Any]:
    """The audit entries matching the request's filters (action, actor, date range)."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    action = request.args.get("action", "").strip()[:60]
    actor = request.args.get("actor", "").strip()[:254]
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:  # normalised as sign-in writes it down: every spelling finds the entries
        query = query.where(AuditEntry.actor_label == normalise_email(actor))
    for name, compare in (("from", AuditEntry.at.__ge__), ("to", AuditEntry.at.__lt__)):
        value = request.args.get(name, "")
        try:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=TOKYO)
        except ValueError:
            continue
        query = query.where(compare((day + timedelta(days=name == "to")).astimezone(UTC)))
    return query


@bp.get("/audit")
@requires(Permission.AUDIT)
def audit_log() -> str:
    """The audit log, filterable."""
    page = _page()
    entries, more = _paginate(_audit_query(), page, 100)
    actions = (
        request_session()
        .scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action))
        .all()
    )
    return render_template(
        "console/audit.html",
        entries=entries,
        page=page,
        more=more,
        actions=actions,
        args=request.args,
    )


@bp.get("/audit.csv")
@requires(Permission.AUDIT)
def audit_csv() -> ResponseReturnValue:
    """The filtered audit log as CSV (itself audited)."""
    db = request_session()
    header = [
        "at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "detail",
        "remote_addr",
        "user_agent",
    ]
    rows = [
        [
            entry.at.isoformat(),
            entry.actor_label,
            entry.action,
            entry.object_type,
            entry.object_id,
            json.dumps(entry.detail or {}, ensure_ascii=False, sort_keys=True),
            entry.remote_addr,
            entry.user_agent,
        ]
        for entry in db.scalars(_audit_query().limit(100_000))
    ]
    record(db, "audit.export", detail={k: v[:60] for k, v in request.args.items()})
    return csv_response("audit-log.csv", header, rows)


@bp.route("/staff", methods=["GET", "POST"])
@requires(Permission.STAFF)
def staff() -> ResponseReturnValue:
    """Staff accounts: list and create."""
    db = request_session()
    form = StaffForm()
    if form.validate_on_submit():
        try:
            created = create_staff(
                db,
                email=form.email.data or "",
                display_name=form.display_name.data or "",
                password=form.password.data or "",
                roles={Role(r) for r in form.roles.data or []},
            )
        except ValueError as error:
            flash(str(error), "error")
        else:
            record(
                db,
                "staff.create",
                object_type="staff",
                object_id=created.id,
                detail={"roles": sorted(form.roles.data or [])},
            )
            flash(_("The account has been created."), "info")
            return redirect(url_for(".staff"))
    people = db.scalars(select(Staff).order_by(Staff.email)).all()
    limits = sessions.Limits.of(current_app.config)
    return render_template(
        "console/staff.html",
        people=people,
        form=form,
        empty_form=EmptyForm(),
        facilities=list_facilities(db),
        open_sessions=sessions.count_open(db, now=utcnow(), limits=limits),
    )


def _staff_or_404(staff_id: int) -> Staff:
    person = request_session().get(Staff, staff_id)
    if person is None:
        abort(404)
    return person


@bp.post("/staff/<int:staff_id>/active")
@requires(Permission.STAFF)
def toggle_active(staff_id: int) -> ResponseReturnValue:
    """Deactivates or reactivates an account (never one's own)."""
    db = request_session()
    person = _staff_or_404(staff_id)
    if person.id == current_user.id:
        flash(_("You cannot deactivate your own account."), "error")
        return redirect(url_for(".staff"))
    if EmptyForm().validate_on_submit():
        person.active = not person.active
        ended = 0 if person.active else sessions.end_all(db, person.id)
        record(
            db,
            "staff.update",
            object_type="staff",
            object_id=person.id,
            detail={"active": person.active, "sessions_ended": ended},
        )
    return redirect(url_for(".staff"))


@bp.post("/staff/<int:staff_id>/sessions/end")
@requires(Permission.STAFF)
def end_staff_sessions(staff_id: int) -> ResponseReturnValue:
    """Ends every session of a staff member (a lost laptop, a shared password)."""
    db = request_session()
    person = _staff_or_404(staff_id)
    if EmptyForm().validate_on_submit():
        ended = sessions.end_all(db, person.id)
        record(
            db,
            "session.end_all",
            object_type="staff",
            object_id=person.id,
            detail={"sessions_ended": ended},
        )
        flash(_("Every session of %(name)s has ended.", name=person.display_name), "info")
    return redirect(url_for(".staff"))


@bp.post("/staff/<int:staff_id>/facilities")
@requires(Permission.STAFF)
def staff_facilities(staff_id: int) -> ResponseReturnValue:
    """Sets the facilities a staff member works at (the ticked ones; none unlinks all)."""
    db = request_session()
    person = _staff_or_404(staff_id)
    facilities = list_facilities(db)
    form = FacilitiesForm()
    form.facilities.choices = [(f.id, f.code) for f in facilities]
    if not form.validate_on_submit():
        flash(
            form.control_error()
            or _("The facilities were not changed: choose them from the list."),
            "error",
        )
        return redirect(url_for(".staff"))
    chosen = [f for f in facilities if f.id in set(form.facilities.data or [])]
    link_facilities(person, chosen)
    record(
        db,
        "staff.update",
        object_type="staff",
        object_id=person.id,
        detail={"facilities": [f.code for f in chosen]},
    )
    flash(_("The facilities have been saved."), "info")
    return redirect(url_for(".staff"))


def init_app(app: Flask) -> None:
    """Register the shell's pages and their menu entries."""
    app.register_blueprint(bp)
    for item in (
        NavItem("console.dashboard", _l("Dashboard"), Permission.DASHBOARD, 10),
        NavItem("console.residents", _l("Residents"), Permission.RESIDENTS, 20),
        NavItem("console.staff", _l("Staff"), Permission.STAFF, 80),
        NavItem("console.audit_log", _l("Audit log"), Permission.AUDIT, 90),
    ):
        register_nav(app, item)
