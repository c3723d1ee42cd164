"""``madoguchi surveys ...``: surveys as XLSForm files from the command line.

``madoguchi surveys import FILE.xlsx [--publish]`` creates a survey from a workbook and prints
its id; a workbook with problems prints every one with its cell and imports nothing (exit 1).
``madoguchi surveys export ID -o FILE.xlsx`` writes a survey's definition (the draft being
edited, else the published version; ``--version N`` for another). ``madoguchi surveys results
ID --format csv|xlsx [--aggregate] -o FILE`` writes its results (audited like the console's
downloads). Other survey commands join the same group (``surveys_cli.command(...)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from bot.console.audit import record
from bot.csvexport import csv_chunks
from bot.db import get_db
from models.base import utcnow
from models.surveys import Survey, SurveyVersion
from surveys.definition import DefinitionError
from surveys.exports import (
    AGGREGATE_HEADER,
    CODES,
    HEADER_STYLES,
    aggregate_rows,
    export_plan,
    export_rows,
    write_xlsx,
)
from surveys.services import SurveyStateError, import_survey, publish


@click.group("surveys")
def surveys_cli() -> None:
    """Surveys (LINEアンケート)."""


@surveys_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--publish", "then_publish", is_flag=True, help="Publish it at once.")
@with_appcontext
def import_command(file: Path, then_publish: bool) -> None:
    """Create a survey from an XLSForm workbook (.xlsx) and print its id."""
    from surveys.xlsform import XlsFormError, read_survey  # pyxform: only when a file is read

    try:
        survey_file = read_survey(file)
    except XlsFormError as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(
            f"{file.name}: {len(error.problems)} problem(s); nothing was imported"
        ) from error
    try:
        with get_db().unit_of_work() as session:
            survey = import_survey(session, survey_file)
            detail = {"questions": len(survey_file.definition.questions), "via": "cli"}
            record(
                session, "survey.import", object_type="survey", object_id=survey.id, detail=detail
            )
            if then_publish:
                publish(session, survey, now=utcnow())
                record(
                    session,
                    "survey.publish",
                    object_type="survey",
                    object_id=survey.id,
                    detail={"version": 1, "via": "cli"},
                )
    except (DefinitionError, SurveyStateError) as error:  # pragma: no cover - read_survey checks
        raise click.ClickException(f"nothing was imported: {error}") from error
    click.echo(survey.id)


@surveys_cli.command("export")
@click.argument("survey_id", type=int)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The .xlsx file to write.",
)
@click.option("--version", "number", type=int, help="A version number (default: the latest).")
@with_appcontext
def export_command(survey_id: int, output: Path, number: int | None) -> None:
    """Write a survey's definition as an XLSForm workbook."""
    from surveys.xlsform import export_version, version_to_export  # openpyxl: when written

    with get_db().unit_of_work() as session:
        survey = session.get(Survey, survey_id)
        if survey is None:
            raise click.ClickException(f"there is no survey {survey_id}")
        try:
            version = version_to_export(survey, number)
        except LookupError as error:
            raise click.ClickException(str(error)) from error
        data = export_version(survey, version)
        record(
            session,
            "survey.export",
            object_type="survey",
            object_id=survey.id,
            detail={"version": version.number, "format": "xlsform", "via": "cli"},
        )
    output.write_bytes(data)
    click.echo(f"survey {survey_id} version {version.number} written to {output}")


@surveys_cli.command("results")
@click.argument("survey_id", type=int)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "xlsx"]),
    default="csv",
    show_default=True,
    help="CSV (UTF-8 with BOM) or Excel.",
)
@click.option(
    "--aggregate",
    is_flag=True,
    help="Counts only, for open data: no answer texts, nothing about residents (CSV).",
)
@click.option(
    "--headers",
    type=click.Choice(list(HEADER_STYLES)),
    default=CODES,
    show_default=True,
    help="Column headers: question and option codes, or their labels.",
)
@click.option("--language", help="Language of labels (default: the survey's).")
@click.option("--version", "number", type=int, help="A version number (default: the published).")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The file to write.",
)
@with_appcontext
def results_command(
    survey_id: int,
    file_format: str,
    aggregate: bool,
    headers: str,
    language: str | None,
    number: int | None,
    output: Path,
) -> None:
    """Write a survey's results: one row per response (CSV or XLSX), or the counts only."""
    if aggregate and file_format != "csv":
        raise click.ClickException("the aggregate export is CSV only (--format csv)")
    db = get_db()
    with db.unit_of_work() as session:
        survey = session.get(Survey, survey_id)
        if survey is None:
            raise click.ClickException(f"there is no survey {survey_id}")
        version = survey.current_version or survey.versions[-1]
        if number is not None:
            found = next((v for v in survey.versions if v.number == number), None)
            if found is None:
                raise click.ClickException(f"survey {survey_id} has no version {number}")
            version = found
        detail: dict[str, object] = {"version": version.number, "format": file_format}
        detail.update({"aggregate": True} if aggregate else {"headers": headers})
        record(
            session,
            "survey.results_export",
            object_type="survey",
            object_id=survey.id,
            detail={**detail, "via": "cli"},
        )
        version_id = version.id
        version_number = version.number
    language = language or survey.default_language
    min_cell = int(current_app.config["SURVEY_RESULTS_MIN_CELL"])
    with db.reading() as session:
        reread = session.get(Survey, survey_id)
        answered = session.get(SurveyVersion, version_id)
        if reread is None or answered is None:  # pragma: no cover - deleted meanwhile
            raise click.ClickException(f"there is no survey {survey_id}")
        if aggregate:
            counts = aggregate_rows(session, reread, answered, language=language, min_cell=min_cell)
            _write_csv(output, AGGREGATE_HEADER, counts)
        else:
            plan = export_plan(session, reread, answered, style=headers, language=language)
            rows = export_rows(session, reread, answered, plan)
            if file_format == "csv":
                _write_csv(output, plan.header, rows)
            else:
                with output.open("wb") as out:
                    write_xlsx(out, plan.header, rows)
    click.echo(f"survey {survey_id} version {version_number} results written to {output}")


def _write_csv(output: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with output.open("w", encoding="utf-8", newline="") as out:
        for chunk in csv_chunks(header, rows):
            out.write(chunk)
