"""What a coupon report's files hold, for the console's downloads and the CLI alike: the
workbook's sheets, the text of a hidden figure, file names and the audit entry's detail."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from bot.xlsxexport import TITLE_LENGTH, Sheet
from coupons.reports import Filters, Report
from models.coupons import Campaign

#: The audit action of every export of a report.
EXPORT_ACTION = "coupons.report.export"


def hidden_text() -> str:
    """What a hidden figure reads, on pages and in exports."""
    return _("hidden")


def facility_code(campaign: Campaign, filters: Filters) -> str | None:
    """The code of the facility a report is limited to (``None``: all of them)."""
    return next((f.code for f in campaign.facilities if f.id == filters.facility_id), None)


def file_stem(campaign: Campaign, filters: Filters) -> str:
    """The start of an export's file name: ``coupon-report-pilot-20300401-20300630``."""
    return f"coupon-report-{campaign.code}-{filters.first:%Y%m%d}-{filters.last:%Y%m%d}"


def export_detail(report: Report, fmt: str, table: str | None) -> dict[str, Any]:
    """The audit entry's facts about an export (no personal data: codes, days, k)."""
    return {
        "code": report.campaign.code,
        "format": fmt,
        "table": table,
        "from": report.filters.first.isoformat(),
        "to": report.filters.last.isoformat(),
        "facility": facility_code(report.campaign, report.filters),
        "k": report.k,
    }


def report_sheets(report: Report) -> list[Sheet]:
    """The workbook of a report: what it covers and its headline figures, then one sheet
    per table."""
    hidden = hidden_text()
    summary = report.summary

    def shown(value: int | None) -> object:
        return hidden if value is None else value

    about: list[list[object]] = [
        [_("Campaign"), report.campaign.code],
        [_("From (Japan time)"), report.filters.first.isoformat()],
        [_("To (Japan time)"), report.filters.last.isoformat()],
        [_("Facility"), facility_code(report.campaign, report.filters) or _("All facilities")],
        [_("Smallest group shown (k)"), report.k],
        [_("Uses"), shown(summary.uses)],
        [_("People who used a coupon"), shown(summary.persons)],
        [_("People granted coupons"), shown(summary.granted)],
    ]
    sheets = [Sheet(_("Summary"), [_("Item"), _("Value")], about)]
    sheets += [Sheet(t.title[:TITLE_LENGTH], t.header, t.cells(hidden)) for t in report.tables]
    return sheets
