"""Console pages of coupon reports (viewer role and up; not facility staff): the campaigns,
one campaign's report with its charts and tables, and its CSV and XLSX exports (audited).

The figures come from ``coupons.reports`` (aggregated in SQL, small cells hidden); these
views only read the filters, render and export. A filter that does not make sense is shown
at its field and nothing is computed or exported.
"""

from __future__ import annotations

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
from bot.xlsxexport import xlsx_response
from coupons import services
from coupons.config import coupons_settings
from coupons.report_files import (
    EXPORT_ACTION,
    export_detail,
    file_stem,
    hidden_text,
    report_sheets,
)
from coupons.reports import (
    TABLE_KEYS,
    Filters,
    FiltersInvalid,
    Report,
    Table,
    build_report,
    read_filters,
)
from models.coupons import Campaign

bp = console_blueprint(
    "coupons_reports", __name__, "/admin/coupons/reports", template_folder="templates"
)


class ReportFiltersForm(ConsoleForm):
    """The range and the facility of a report (a GET form: no CSRF token, changes nothing)."""

    class Meta(ConsoleForm.Meta):
        csrf = False

    first = DateField(_l("From (Japan time)"), validators=[Optional()])
    last = DateField(_l("To (Japan time)"), validators=[Optional()])
    facility = SelectField(_l("Facility"), default="")


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
    if not form.validate():
        return form, None
    try:
        filters = read_filters(campaign, form.first.data, form.last.data, form.facility.data)
    except FiltersInvalid as invalid:
        for name, message in invalid.problems:
            field = form[name]
            field.errors = [*field.errors, message]
        return form, None
    form.first.data, form.last.data = filters.first, filters.last
    return form, filters


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


def _audit_export(report: Report, fmt: str, table: str | None) -> None:
    record(
        request_session(),
        EXPORT_ACTION,
        object_type="campaign",
        object_id=report.campaign.id,
        detail=export_detail(report, fmt, table),
    )


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
    report = _report(campaign, filters)
    chosen = report.table(table)
    _audit_export(report, "csv", table)
    return csv_response(
        f"{file_stem(campaign, filters)}-{table}.csv", chosen.header, chosen.cells(hidden_text())
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
    _audit_export(report, "xlsx", None)
    return xlsx_response(f"{file_stem(campaign, filters)}.xlsx", report_sheets(report))
