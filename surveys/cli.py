"""``madoguchi surveys ...``: surveys as XLSForm files from the command line.

``madoguchi surveys import FILE.xlsx [--publish]`` creates a survey from a workbook and prints
its id; a workbook with problems prints every one with its cell and imports nothing (exit 1).
``madoguchi surveys export ID -o FILE.xlsx`` writes a survey's definition (the draft being
edited, else the published version; ``--version N`` for another). Other survey commands join
the same group (``surveys_cli.command(...)``).
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from bot.console.audit import record
from bot.db import get_db
from models.base import utcnow
from models.surveys import Survey
from surveys.definition import DefinitionError
from surveys.services import SurveyStateError, import_survey, publish
from surveys.xlsform import XlsFormError, export_version, read_survey, version_to_export


@click.group("surveys")
def surveys_cli() -> None:
    """Surveys (LINEアンケート)."""


@surveys_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--publish", "then_publish", is_flag=True, help="Publish it at once.")
@with_appcontext
def import_command(file: Path, then_publish: bool) -> None:
    """Create a survey from an XLSForm workbook (.xlsx) and print its id."""
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
