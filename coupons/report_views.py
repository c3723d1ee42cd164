"""Console pages of coupon reports (viewer role and up; not facility staff): the campaigns,
one campaign's report with its charts and tables, and its CSV and XLSX exports (audited).

The figures come from ``coupons.reports`` (aggregated in SQL, small cells hidden); these
views only read the filters, render and export. A filter that does not make sense is shown
at its field and nothing is computed or exported.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import DateField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from bot.console import console_blueprint
from bot.console.audit import record
from bot.console.charts import BarChart, bar_chart
from bot.console.forms import ConsoleForm
from bot.console.roles import Permission, requires
from bot.csvexport import csv_response
from bot.work import request_session
from bot.xlsxexport import Sheet, xlsx_response
from coupons import services
from coupons.config import coupons_settings
from coupons.reports import TABLE_KEYS, Filters, Report, Table, build_report, campaign_days
from models.coupons import Campaign

bp = console_blueprint(
    "coupons_reports", __name__, "/admin/coupons/reports", template_folder="templates"
)

#: Earliest and latest year a report's range may name (a typo such as 0202 is refused).
YEARS = (2000, 2100)


class ReportFiltersForm(ConsoleForm):
    """The range and the facility of a report (a GET form: no CSRF token, changes nothing)."""

    class Meta(ConsoleForm.Meta):
        csrf = False

    first = DateField(_l("From (Japan time)"), validators=[Optional()])
    last = DateField(_l("To (Japan time)"), validators=[Optional()])
    facility = SelectField(_l("Facility"), default="")


def hidden_text() -> str:
    """What a hidden figure reads, on pages and in exports."""
    return _("hidden")


def _language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else "ja"


def _campaign(campaign_id: int) -> Campaign:
    campaign = request_session().get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


def _read_filters(campaign: Campaign) -> tuple[ReportFiltersForm, Filters | None]:
    """The form bound to the query string, and the filters (``None`` when a field is wrong;
    its problem is on the field)."""
    form = ReportFiltersForm(formdata=request.args)
    language = _language()
    form.facility.choices = [
        SelectChoice("", _("All facilities")),
        *(SelectChoice(f.code, f.name(language)) for f in campaign.facilities),
    ]
    default_first, default_last = campaign_days(campaign)
    if not form.validate():
        return form, None
    first: date = form.first.data or default_first
    last: date = form.last.data or default_last
    problems = False
    for field, day in ((form.first, first), (form.last, last)):
        if not YEARS[0] <= day.year <= YEARS[1]:
            field.errors = [
                *field.errors,
                _("Choose a day between %(low)s and %(high)s.", low=YEARS[0], high=YEARS[1]),
            ]
            problems = True
    if not problems and first > last:
        form.last.errors = [*form.last.errors, _("The last day comes before the first day.")]
        problems = True
    if problems:
        return form, None
    form.first.data, form.last.data = first, last
    facility_id = next((f.id for f in campaign.facilities if f.code == form.facility.data), None)
    return form, Filters(first, last, facility_id)


def _query() -> dict[str, Any]:
    """The filters of the query string (for links that keep them)."""
    return {k: v for k, v in request.args.items() if k in ("first", "last", "facility")}


def _report(campaign: Campaign, filters: Filters) -> Report:
    return build_report(
        request_session(),
        campaign,
        filters,
        k=coupons_settings().report_k,
        language=_language(),
    )


def _chart(table: Table) -> BarChart:
    return bar_chart(
        table.key,
        table.title,
        ((" ".join(row.labels), row.counts[table.chart_count]) for row in table.rows),
    )


def _audit_export(campaign: Campaign, filters: Filters, fmt: str, table: str | None) -> None:
    facility = next((f.code for f in campaign.facilities if f.id == filters.facility_id), None)
    record(
        request_session(),
        "coupons.report.export",
        object_type="campaign",
        object_id=campaign.id,
        detail={
            "code": campaign.code,
            "format": fmt,
            "table": table,
            "from": filters.first.isoformat(),
            "to": filters.last.isoformat(),
            "facility": facility,
            "k": coupons_settings().report_k,
        },
    )


def _file_stem(campaign: Campaign, filters: Filters) -> str:
    return f"coupon-report-{campaign.code}-{filters.first:%Y%m%d}-{filters.last:%Y%m%d}"


@bp.get("/")
@requires(Permission.COUPONS_REPORTS)
def index() -> str:
    """The campaigns whose reports can be opened."""
    campaigns = [campaign for campaign, _granted in services.list_campaigns(request_session())]
    return render_template("coupons/reports.html", campaigns=campaigns)


@bp.get("/<int:campaign_id>")
@requires(Permission.COUPONS_REPORTS)
def show(campaign_id: int) -> str:
    """A campaign's report: summary, charts and tables for the chosen range and facility."""
    campaign = _campaign(campaign_id)
    form, filters = _read_filters(campaign)
    report = _report(campaign, filters) if filters is not None else None
    charts = {t.key: _chart(t) for t in report.tables} if report is not None else {}
    return render_template(
        "coupons/report.html",
        campaign=campaign,
        form=form,
        report=report,
        charts=charts,
        hidden=hidden_text(),
        query=_query(),
    )


@bp.get("/<int:campaign_id>/<table>.csv")
@requires(Permission.COUPONS_REPORTS)
def csv_export(campaign_id: int, table: str) -> ResponseReturnValue:
    """One table of the report as CSV (UTF-8 with BOM), audited."""
    if table not in TABLE_KEYS:
        abort(404)
    campaign = _campaign(campaign_id)
    _form, filters = _read_filters(campaign)
    if filters is None:
        return redirect(url_for(".show", campaign_id=campaign.id, **_query()))
    chosen = _report(campaign, filters).table(table)
    _audit_export(campaign, filters, "csv", table)
    return csv_response(
        f"{_file_stem(campaign, filters)}-{table}.csv", chosen.header, chosen.cells(hidden_text())
    )


@bp.get("/<int:campaign_id>/report.xlsx")
@requires(Permission.COUPONS_REPORTS)
def xlsx_export(campaign_id: int) -> ResponseReturnValue:
    """The whole report as an XLSX workbook, one sheet per table, audited."""
    campaign = _campaign(campaign_id)
    _form, filters = _read_filters(campaign)
    if filters is None:
        return redirect(url_for(".show", campaign_id=campaign.id, **_query()))
    report = _report(campaign, filters)
    _audit_export(campaign, filters, "xlsx", None)
    return xlsx_response(f"{_file_stem(campaign, filters)}.xlsx", report_sheets(report))


def report_sheets(report: Report) -> list[Sheet]:
    """The workbook of a report: what it covers, then one sheet per table."""
    hidden = hidden_text()
    summary = report.summary
    facility = next(
        (f.code for f in report.campaign.facilities if f.id == report.filters.facility_id),
        _("All facilities"),
    )
    about: list[list[Any]] = [
        [_("Campaign"), report.campaign.code],
        [_("From (Japan time)"), report.filters.first.isoformat()],
        [_("To (Japan time)"), report.filters.last.isoformat()],
        [_("Facility"), facility],
        [_("Smallest group shown (k)"), report.k],
        [_("Uses"), hidden if summary.uses is None else summary.uses],
        [_("People who used a coupon"), hidden if summary.persons is None else summary.persons],
        [_("People granted coupons"), hidden if summary.granted is None else summary.granted],
    ]
    sheets = [Sheet(_("Summary"), [_("Item"), _("Value")], about)]
    sheets += [Sheet(t.title[:31], t.header, t.cells(hidden)) for t in report.tables]
    return sheets
