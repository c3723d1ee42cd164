"""Console pages for coupon campaigns (admins): the list, a new campaign, editing one.

The form is turned into the shape of a campaign file and checked by the same rules
(``coupons.campaigns.read_campaign``, then ``coupons.services.save_campaign``), so a
campaign made here and one imported from a file obey exactly the same constraints. Each
problem is shown at its field. Every change is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import (
    DateTimeLocalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from bot.console import console_blueprint
from bot.console.audit import record
from bot.console.forms import ConsoleForm
from bot.console.roles import Permission, requires
from bot.work import request_session
from coupons import services
from coupons.campaigns import TOKYO, CampaignInvalid, Problem, read_campaign
from coupons.prefectures import PREFECTURES
from models import Facility
from models.coupons import Campaign, CampaignStatus

bp = console_blueprint("coupons_admin", __name__, "/admin/coupons", template_folder="templates")

#: How the form shows a date and time (``<input type="datetime-local">``).
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
#: What each status means, for staff.
STATUS_LABELS = {
    CampaignStatus.DRAFT: _l("Draft (not offered)"),
    CampaignStatus.PUBLISHED: _l("Published (offered in its period)"),
    CampaignStatus.WITHDRAWN: _l("Withdrawn (stopped)"),
}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"status_label": lambda status: STATUS_LABELS[CampaignStatus(status)]}


class CampaignForm(ConsoleForm):
    """A campaign's fields; the rules are ``read_campaign``'s (facility choices set per view)."""

    code = StringField(_l("Code"))
    name_ja = StringField(_l("Name (Japanese)"))
    name_en = StringField(_l("Name (English)"))
    benefit_ja = TextAreaField(_l("Benefit (Japanese)"))
    benefit_en = TextAreaField(_l("Benefit (English)"))
    status = SelectField(
        _l("Status"), choices=[SelectChoice(s.value, label) for s, label in STATUS_LABELS.items()]
    )
    uses_per_person = IntegerField(_l("Uses per person"), default=3, validators=[Optional()])
    uses_per_day = IntegerField(_l("At most per day (optional)"), validators=[Optional()])
    uses_per_facility = IntegerField(_l("At most per facility (optional)"), validators=[Optional()])
    starts = DateTimeLocalField(
        _l("Starts (Japan time)"), format=LOCAL_FORMAT, validators=[InputRequired()]
    )
    ends = DateTimeLocalField(
        _l("Ends (Japan time; coupons work until then)"),
        format=LOCAL_FORMAT,
        validators=[InputRequired()],
    )
    budget_uses = IntegerField(_l("Budget: uses in all (optional)"), validators=[Optional()])
    facilities = SelectMultipleField(_l("Participating facilities"), coerce=int)
    prefecture = SelectField(
        _l("Only residents of (optional)"),
        choices=[SelectChoice("", _l("Anyone")), *(SelectChoice(p, p) for p in PREFECTURES)],
    )
    min_age = IntegerField(_l("Minimum age (optional)"), validators=[Optional()])
    max_age = IntegerField(_l("Maximum age (optional)"), validators=[Optional()])


def _field_of(path: str) -> str:
    """The form field a problem's key path points at (``campaign.name.ja`` -> ``name_ja``)."""
    path = path.removeprefix("campaign.").removeprefix("eligibility.")
    return path.split("[")[0].replace(".", "_")


def _local(moment: datetime | None) -> datetime | None:
    """A form value (naive: Japan time) as the file format takes it (a local date-time)."""
    return moment.replace(tzinfo=TOKYO) if moment is not None else None


def _raw(form: CampaignForm, code: str, facilities: list[Facility]) -> dict[str, Any]:
    """The form as a campaign file's ``[campaign]`` table (empty fields left out)."""
    chosen = set(form.facilities.data or [])
    raw: dict[str, Any] = {
        "code": code,
        "name": {"ja": form.name_ja.data or "", "en": form.name_en.data or ""},
        "benefit": {"ja": form.benefit_ja.data or "", "en": form.benefit_en.data or ""},
        "status": form.status.data,
        "uses_per_person": form.uses_per_person.data,
        "uses_per_day": form.uses_per_day.data,
        "uses_per_facility": form.uses_per_facility.data,
        "starts": _local(form.starts.data),
        "ends": _local(form.ends.data),
        "budget_uses": form.budget_uses.data,
        "facilities": [f.code for f in facilities if f.id in chosen],
        "eligibility": {
            "prefecture": form.prefecture.data or None,
            "min_age": form.min_age.data,
            "max_age": form.max_age.data,
        },
    }
    raw["eligibility"] = {k: v for k, v in raw["eligibility"].items() if v is not None}
    return {k: v for k, v in raw.items() if v is not None}


def _show_problems(form: CampaignForm, problems: list[Problem]) -> None:
    for problem in problems:
        field = getattr(form, _field_of(problem.path), None)
        if field is not None:
            field.errors = [*field.errors, problem.message]
        else:
            flash(str(problem), "error")


def _fill(form: CampaignForm, campaign: Campaign) -> None:
    """Put a stored campaign into the form (times in Japan's)."""
    form.code.data = campaign.code
    form.name_ja.data, form.name_en.data = campaign.name_ja, campaign.name_en
    form.benefit_ja.data, form.benefit_en.data = campaign.benefit_ja, campaign.benefit_en
    form.status.data = campaign.status.value
    form.uses_per_person.data = campaign.uses_per_person
    form.uses_per_day.data = campaign.uses_per_day
    form.uses_per_facility.data = campaign.uses_per_facility
    form.starts.data = campaign.starts_at.astimezone(TOKYO).replace(tzinfo=None)
    form.ends.data = campaign.ends_at.astimezone(TOKYO).replace(tzinfo=None)
    form.budget_uses.data = campaign.budget_uses
    form.facilities.data = [f.id for f in campaign.facilities]
    form.prefecture.data = campaign.prefecture or ""
    form.min_age.data, form.max_age.data = campaign.min_age, campaign.max_age


def _edit(campaign: Campaign | None) -> ResponseReturnValue:
    """The form page: show it, or check and store what was posted."""
    session = request_session()
    facilities = list(session.scalars(select(Facility).order_by(Facility.code)))
    form = CampaignForm()
    form.facilities.choices = [(f.id, f.code) for f in facilities]
    if campaign is not None and not form.is_submitted():
        _fill(form, campaign)
    if form.validate_on_submit():
        code = campaign.code if campaign is not None else (form.code.data or "").strip().lower()
        try:
            spec = read_campaign(_raw(form, code, facilities))
            if campaign is None:
                services.check_new_code(session, spec.code)
            saved = services.save_campaign(session, spec, campaign=campaign)
        except CampaignInvalid as invalid:
            _show_problems(form, invalid.problems)
        else:
            record(
                session,
                "coupons.campaign." + ("create" if campaign is None else "update"),
                object_type="campaign",
                object_id=saved.id,
                detail={"code": saved.code, "status": saved.status.value},
            )
            flash(_("The campaign has been saved."), "info")
            return redirect(url_for(".index"))
    return render_template(
        "coupons/campaign_form.html", form=form, campaign=campaign, facilities=facilities
    )


@bp.get("/")
@requires(Permission.COUPONS_MANAGE)
def index() -> str:
    """Coupon campaigns: status, period, uses, people granted."""
    return render_template(
        "coupons/campaigns.html", campaigns=services.list_campaigns(request_session())
    )


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.COUPONS_MANAGE)
def new() -> ResponseReturnValue:
    """A new campaign."""
    return _edit(None)


@bp.route("/<int:campaign_id>", methods=["GET", "POST"])
@requires(Permission.COUPONS_MANAGE)
def edit(campaign_id: int) -> ResponseReturnValue:
    """Editing a campaign (its code stays)."""
    campaign = request_session().get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return _edit(campaign)
