"""Survey results in the console (``results.view``: viewers, editors, approvers).

Pages per survey and version: the results (charts as server-drawn bars, each with its figures
in a table, no scripts), a question's answers listed with search and paging (free text,
locations, photos), a cross-tabulation, and the photos themselves (signed-in staff only,
never cached by shared caches). Downloads: every submission as CSV or XLSX, or the aggregate
counts as CSV (open data); each is audited (``survey.results_export``) before it streams, and
streams from a session of its own, after the request's unit of work has committed.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from typing import Any

from flask import Response, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from bot.console import console_blueprint
from bot.console.audit import record
from bot.console.roles import Permission, requires
from bot.csvexport import csv_chunks, csv_response, csv_stream_response
from bot.db import Database
from bot.work import request_session
from models.surveys import Survey, SurveyPhoto, SurveyQuestion, SurveyVersion
from surveys import exports
from surveys.forms import KIND_LABELS, LANGUAGE_LABELS
from surveys.results import (
    ResultsError,
    choice_questions,
    compute_results,
    crosstab,
    crosstab_attributes,
    label_of,
    list_answers,
)

bp = console_blueprint("surveys_results", __name__, "/admin/surveys", template_folder="templates")
LOOK = Permission.RESULTS
#: Longest side of a photo thumbnail, in pixels.
THUMBNAIL = 320
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Bytes read from the temporary XLSX file per chunk sent.
CHUNK = 64 * 1024


def min_cell() -> int:
    """The k of anonymous surveys (``SURVEY_RESULTS_MIN_CELL``)."""
    return int(current_app.config["SURVEY_RESULTS_MIN_CELL"])


def _survey(survey_id: int) -> Survey:
    survey = request_session().get(Survey, survey_id)
    if survey is None:
        abort(404)
    return survey


def _version(survey: Survey) -> SurveyVersion:
    """The version asked for (``?version=N``), else the published one, else the latest."""
    asked = request.args.get("version", "")
    if asked:
        if not asked.isdigit():
            abort(404)
        found = next((v for v in survey.versions if v.number == int(asked)), None)
        if found is None:
            abort(404)
        return found
    return survey.current_version or survey.versions[-1]


def _language(survey: Survey) -> str:
    """The language labels are shown in: ``?lang=``, else the console's, if the survey has
    texts in it; else the survey's default."""
    asked = request.args.get("lang", "")
    if asked and len(asked) <= 8 and asked.replace("-", "").isalnum():
        return asked
    locale = get_locale()
    return str(locale.language) if locale else survey.default_language


def _languages(version: SurveyVersion) -> list[str]:
    found = set(version.title)
    for question in version.questions:
        found.update(question.label)
    return sorted(found)


def _common(survey: Survey, version: SurveyVersion) -> dict[str, Any]:
    return {
        "survey": survey,
        "version": version,
        "title": label_text(version.title, survey),
        "versions": survey.versions,
        "languages": _languages(version),
        "kind_labels": KIND_LABELS,
        "language_labels": LANGUAGE_LABELS,
        "min_cell": min_cell(),
    }


def label_text(texts: dict[str, str], survey: Survey) -> str:
    """A survey text in the console's language, else the survey's default, else any."""
    locale = get_locale()
    language = str(locale.language) if locale else survey.default_language
    return (
        texts.get(language) or texts.get(survey.default_language) or next(iter(texts.values()), "")
    )


@bp.get("/<int:survey_id>/results")
@requires(LOOK)
def results(survey_id: int) -> str:
    """A version's results: responses over time, completion and drop-off, every question."""
    survey = _survey(survey_id)
    version = _version(survey)
    language = _language(survey)
    computed = compute_results(
        request_session(), survey, version, language=language, min_cell=min_cell()
    )
    return render_template(
        "surveys/results.html",
        results=computed,
        language=language,
        choice_questions=choice_questions(version.questions),
        attributes=crosstab_attributes(request_session(), version),
        label_of=label_of,
        **_common(survey, version),
    )


def _question(version: SurveyVersion, name: str) -> SurveyQuestion:
    question = next((q for q in version.questions if q.name == name), None)
    if question is None or question.kind not in ("text", "location", "photo"):
        abort(404)
    return question


@bp.get("/<int:survey_id>/results/q/<name>")
@requires(LOOK)
def answers(survey_id: int, name: str) -> str:
    """A listed question's answers (free text, locations, photos), with search and pages."""
    survey = _survey(survey_id)
    version = _version(survey)
    question = _question(version, name)
    search = request.args.get("q", "").strip()[:100]
    page = request.args.get("page", "1")
    listing = list_answers(
        request_session(),
        survey,
        version,
        question,
        search=search,
        page=int(page) if page.isdigit() and int(page) < 100_000 else 1,
        per_page=24 if question.kind == "photo" else 50,
        min_cell=min_cell(),
    )
    return render_template(
        "surveys/results_answers.html",
        question=question,
        question_label=label_of(question, _language(survey), survey.default_language),
        listing=listing,
        search=search,
        **_common(survey, version),
    )


@bp.get("/<int:survey_id>/results/crosstab")
@requires(LOOK)
def crosstab_page(survey_id: int) -> ResponseReturnValue:
    """Counts of one question's options by another question's or by a resident attribute."""
    survey = _survey(survey_id)
    version = _version(survey)
    language = _language(survey)
    rows = request.args.get("rows", "")
    columns = request.args.get("columns", "")
    table = None
    problem = False
    if rows and columns:
        try:
            table = crosstab(
                request_session(),
                survey,
                version,
                rows=rows,
                columns=columns,
                language=language,
                min_cell=min_cell(),
            )
        except ResultsError:
            problem = True
    elif rows or columns:
        problem = True
    page = render_template(
        "surveys/results_crosstab.html",
        table=table,
        problem=problem,
        rows=rows,
        columns=columns,
        language=language,
        choice_questions=choice_questions(version.questions),
        attributes=crosstab_attributes(request_session(), version),
        label_of=label_of,
        **_common(survey, version),
    )
    return (page, 400) if problem else page


# -- downloads -----------------------------------------------------------------------------------


def _export_options(survey: Survey) -> tuple[str, str]:
    style = request.args.get("headers", exports.CODES)
    if style not in exports.HEADER_STYLES:
        abort(400)
    return style, _language(survey)


def _audit(survey: Survey, version: SurveyVersion, file_format: str, **detail: Any) -> None:
    record(
        request_session(),
        "survey.results_export",
        object_type="survey",
        object_id=survey.id,
        detail={"version": version.number, "format": file_format, **detail},
    )


def _rows_streamed(
    survey: Survey, version: SurveyVersion, style: str, language: str
) -> tuple[list[str], Iterator[list[Any]]]:
    """The header now, and the rows later, read while the file is sent from a session of
    their own (the request's unit of work has committed and closed by then)."""
    session = request_session()
    header = exports.export_plan(session, survey, version, style=style, language=language).header
    db: Database = current_app.extensions["db"]
    survey_id, version_id = survey.id, version.id

    def rows() -> Iterator[list[Any]]:
        with db.reading() as reader:
            fresh = reader.get(Survey, survey_id)
            fresh_version = reader.get(SurveyVersion, version_id)
            if fresh is None or fresh_version is None:  # deleted meanwhile
                return
            plan = exports.export_plan(reader, fresh, fresh_version, style=style, language=language)
            yield from exports.export_rows(reader, fresh, fresh_version, plan)

    return header, rows()


def _name(survey: Survey, version: SurveyVersion, what: str, extension: str) -> str:
    return f"survey-{survey.id}-v{version.number}-{what}.{extension}"


@bp.get("/<int:survey_id>/results.csv")
@requires(LOOK)
def export_csv(survey_id: int) -> ResponseReturnValue:
    """Every counted submission as CSV (UTF-8 with BOM), one row each, streamed."""
    survey = _survey(survey_id)
    version = _version(survey)
    style, language = _export_options(survey)
    _audit(survey, version, "csv", headers=style, language=language)
    header, rows = _rows_streamed(survey, version, style, language)
    return csv_stream_response(_name(survey, version, "responses", "csv"), csv_chunks(header, rows))


@bp.get("/<int:survey_id>/results.xlsx")
@requires(LOOK)
def export_xlsx(survey_id: int) -> ResponseReturnValue:
    """Every counted submission as an XLSX workbook, one row each."""
    survey = _survey(survey_id)
    version = _version(survey)
    style, language = _export_options(survey)
    _audit(survey, version, "xlsx", headers=style, language=language)
    header, rows = _rows_streamed(survey, version, style, language)

    def body() -> Iterator[bytes]:
        with tempfile.TemporaryFile() as spool:
            exports.write_xlsx(spool, header, rows)
            spool.seek(0)
            while chunk := spool.read(CHUNK):
                yield chunk

    return Response(
        body(),
        mimetype=XLSX,
        headers={
            "Content-Disposition": (
                f'attachment; filename="{_name(survey, version, "responses", "xlsx")}"'
            ),
            "Cache-Control": "no-store",
        },
        direct_passthrough=True,
    )


@bp.get("/<int:survey_id>/results-aggregate.csv")
@requires(LOOK)
def export_aggregate(survey_id: int) -> ResponseReturnValue:
    """Counts only (open data): no answer text, nothing about residents, small cells hidden."""
    survey = _survey(survey_id)
    version = _version(survey)
    language = _language(survey)
    _audit(survey, version, "csv", aggregate=True, language=language)
    rows = exports.aggregate_rows(
        request_session(), survey, version, language=language, min_cell=min_cell()
    )
    return csv_response(_name(survey, version, "aggregate", "csv"), exports.AGGREGATE_HEADER, rows)


# -- photos --------------------------------------------------------------------------------------


@bp.get("/<int:survey_id>/photos/<photo_id>")
@requires(LOOK)
def photo(survey_id: int, photo_id: str) -> ResponseReturnValue:
    """A submitted photo of this survey (``?thumb=1``: a small copy), for signed-in staff."""
    found = request_session().scalar(
        select(SurveyPhoto).where(
            SurveyPhoto.id == photo_id,
            SurveyPhoto.survey_id == survey_id,
            SurveyPhoto.submission_id.is_not(None),
        )
    )
    if found is None:
        abort(404)
    data, content_type = found.data, found.content_type
    if request.args.get("thumb"):
        data = _thumbnail(data, content_type)
    return Response(
        data,
        mimetype=content_type,
        headers={
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": "inline",
        },
    )


def _thumbnail(data: bytes, content_type: str) -> bytes:
    """A copy at most :data:`THUMBNAIL` pixels on its longer side (the original if it is
    small already or cannot be read)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if max(image.size) <= THUMBNAIL:
                return data
            image.thumbnail((THUMBNAIL, THUMBNAIL))
            out = io.BytesIO()
            image.save(out, format="PNG" if content_type == "image/png" else "JPEG", quality=80)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return data
