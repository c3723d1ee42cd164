"""``madoguchi coupons ...``: import a campaign file, print the client's public keys, export
a campaign's report."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale
from sqlalchemy import select

from bot.console.audit import record
from bot.csvexport import csv_text
from bot.db import get_db
from bot.xlsxexport import workbook_bytes
from coupons import services
from coupons.campaigns import CampaignInvalid, read_campaign_file
from coupons.config import coupons_settings
from coupons.report_files import EXPORT_ACTION, export_detail, hidden_text, report_sheets
from coupons.reports import TABLE_KEYS, FiltersInvalid, build_report, read_filters
from coupons.verification import public_jwks
from models.coupons import Campaign


@click.group("coupons")
def coupons_group() -> None:
    """My Number card e-coupons: campaigns and the identity provider."""


@coupons_group.command("import-campaign")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_campaign_command(path: Path) -> None:
    """Create or update a campaign (and its facilities) from a TOML file.

    Refused as a whole, with every problem and its key path, when anything is wrong.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise click.ClickException(f"{path}: not UTF-8 text") from error
    try:
        file = read_campaign_file(text)
        with get_db().unit_of_work() as session:
            result = services.import_campaign(session, file)
            record(
                session,
                "coupons.campaign.import",
                object_type="campaign",
                object_id=result.campaign.id,
                detail={
                    "code": result.campaign.code,
                    "created": result.created,
                    "facilities_created": result.facilities_created,
                    "facilities_updated": result.facilities_updated,
                    "via": "cli",
                },
            )
    except CampaignInvalid as invalid:
        with force_locale("en"):  # for the operator at the terminal, beside the key paths
            lines = "\n".join(f"  {problem}" for problem in invalid.problems)
        raise click.ClickException(
            f"{path} was not imported ({len(invalid.problems)} problems; nothing was "
            f"stored):\n{lines}"
        ) from invalid
    verb = "created" if result.created else "updated"
    click.echo(
        f"campaign {result.campaign.code} {verb} ({result.campaign.status.value}); facilities: "
        f"{len(result.facilities_created)} created, {len(result.facilities_updated)} updated"
    )


@coupons_group.command("client-jwks")
@with_appcontext
def client_jwks_command() -> None:
    """Print the client's public key set (JWKS), to register with the identity provider."""
    settings = coupons_settings(current_app)
    if settings.client_key is None:
        raise click.ClickException(
            "no client key: set COUPONS_OIDC_ISSUER and COUPONS_OIDC_PRIVATE_KEY (docs/coupons.md)"
        )
    click.echo(json.dumps(public_jwks(settings.client_key), indent=2))


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@coupons_group.command("report")
@click.argument("code")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "xlsx"]), required=True, help="File format."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    help="The file to write.",
)
@click.option(
    "--table",
    type=click.Choice(TABLE_KEYS),
    help="The table to write as CSV (a CSV file holds one table; XLSX holds them all).",
)
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), help="First Tokyo day.")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), help="Last Tokyo day.")
@click.option("--facility", help="Only this facility (its code).")
@with_appcontext
def report_command(
    code: str,
    fmt: str,
    output: Path,
    table: str | None,
    first: datetime | None,
    last: datetime | None,
    facility: str | None,
) -> None:
    """Write the report of campaign CODE for the pilot's evaluation (audited).

    Labels are in Japanese; figures counting fewer than COUPONS_REPORT_K people are hidden,
    as on the console's page. Nothing is written when anything is wrong.
    """
    if fmt == "csv" and table is None:
        raise click.UsageError(f"--format csv needs --table, one of: {', '.join(TABLE_KEYS)}")
    if fmt == "xlsx" and table is not None:
        raise click.UsageError("--table is for CSV; a workbook holds every table")
    with get_db().unit_of_work() as session:
        campaign = session.scalars(select(Campaign).where(Campaign.code == code)).first()
        if campaign is None:
            raise click.ClickException(f"no campaign has the code {code!r}; nothing was written")
        try:
            with force_locale("en"):  # for the operator at the terminal
                filters = read_filters(campaign, _day(first), _day(last), facility)
        except FiltersInvalid as invalid:
            raise click.ClickException(f"{invalid}; nothing was written") from invalid
        with force_locale("ja"):
            report = build_report(
                session, campaign, filters, k=coupons_settings().report_k, language="ja"
            )
            if table is not None:
                chosen = report.table(table)
                data = csv_text(chosen.header, chosen.cells(hidden_text())).encode("utf-8")
            else:
                data = workbook_bytes(report_sheets(report))
        # Audited before the file exists: an export is never left out of the log.
        record(
            session,
            EXPORT_ACTION,
            object_type="campaign",
            object_id=campaign.id,
            detail={**export_detail(report, fmt, table), "via": "cli"},
        )
    output.write_bytes(data)
    click.echo(f"{output}: report of {code} ({filters.first} to {filters.last}, k={report.k})")
