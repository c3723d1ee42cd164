"""Survey results as files: one row per submission (CSV or XLSX), and aggregate counts (CSV).

The per-submission export has its columns from the version's questions, in order, each kind
with its own (:func:`layout`): a choice is its code or label; a multiple choice is a combined
column (codes separated by spaces, or labels by 、) and one 0/1 column per option (empty when
the question was not answered, which is not the same as "none chosen"); a location is
latitude, longitude and address; a photo is its id; numbers are numbers. Headers are the
questions' codes (``age``, ``pets/dog``) or their labels in a chosen language.

It streams: submissions and answers come from two ordered statements over server-side
cursors (``yield_per``) and are pivoted in one pass, a submission at a time, so memory stays
flat whatever the size.
CSV goes through ``bot.csvexport`` (formula cells defused, BOM); XLSX through XlsxWriter in
``constant_memory`` mode, with every text written as a text cell (never a formula or a link).

The aggregate export (open data) holds counts only, no answer text and nothing about
residents, and hides every count below k (``surveys.results``) whatever the survey.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from typing import IO, Any

from sqlalchemy import String, cast, false, func, select
from sqlalchemy.orm import Session

from models.surveys import Survey, SurveyAnswer, SurveyQuestion, SurveySubmission, SurveyVersion
from surveys.kinds import SingleChoice, kind_of, localized
from surveys.results import DEFAULT_MIN_CELL, counted, label_of, questions_of, summarize

#: Header styles.
CODES = "codes"
LABELS = "labels"
HEADER_STYLES = (CODES, LABELS)
#: Rows fetched from the database at a time.
BATCH = 2000
#: Labels of the columns every export starts with, and of a location's parts.
META_LABELS: Mapping[str, Mapping[str, str]] = {
    "_id": {"ja": "回答ID", "en": "Response ID"},
    "_version": {"ja": "版", "en": "Version"},
    "_submitted_on": {"ja": "回答日", "en": "Date"},
    "_submitted_at": {"ja": "回答日時", "en": "Submitted at"},
    "_duration_seconds": {"ja": "所要時間（秒）", "en": "Time taken (seconds)"},
    "_language": {"ja": "言語", "en": "Language"},
    "_resident": {"ja": "県民ID", "en": "Resident ID"},
    "latitude": {"ja": "緯度", "en": "latitude"},
    "longitude": {"ja": "経度", "en": "longitude"},
    "address": {"ja": "住所", "en": "address"},
}
#: The aggregate export's columns.
AGGREGATE_HEADER = ("question", "label", "kind", "value", "value_label", "count", "percent")

A = SurveyAnswer
S = SurveySubmission


@dataclass
class _Slot:
    """Where one question's answers go in a row."""

    question: SurveyQuestion
    family: str
    #: Its first column.
    index: int
    #: Multiple choice: the 0/1 column of each option code.
    options: dict[str, int] = field(default_factory=dict)
    #: Labels mode: the text of each option code.
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Layout:
    """The columns of a per-submission export and where each answer goes."""

    header: list[str]
    slots: dict[int, _Slot]
    identified: bool
    labels: bool
    version_number: int


def _meta(code: str, style: str, language: str) -> str:
    return localized(META_LABELS[code], language, "en") if style == LABELS else code


def layout(
    survey: Survey,
    version: SurveyVersion,
    questions: Sequence[SurveyQuestion],
    *,
    style: str,
    language: str,
) -> Layout:
    """The columns of a per-submission export.

    :param style: ``codes`` (question names, ``name/option``) or ``labels`` (texts).
    :param language: the language of labels (the survey's default where it has none).
    :raises ValueError: an unknown header style.
    """
    if style not in HEADER_STYLES:
        raise ValueError(f"headers must be one of {', '.join(HEADER_STYLES)}")
    default = survey.default_language
    identified = not survey.anonymous
    header = [_meta(code, style, language) for code in ("_id", "_version", "_submitted_on")]
    if identified:
        header.append(_meta("_submitted_at", style, language))
    header += [_meta(code, style, language) for code in ("_duration_seconds", "_language")]
    if identified:
        header.append(_meta("_resident", style, language))
    slots: dict[int, _Slot] = {}
    labels = style == LABELS
    for question in questions:
        kind = kind_of(question)
        if not kind.answered:
            continue
        title = label_of(question, language, default) if labels else question.name
        slot = _Slot(question, kind.summary, len(header))
        slots[question.id] = slot
        header.append(title)
        if isinstance(kind, SingleChoice):
            slot.labels = {
                code: kind.option_label(question, code, language, default)
                for code in kind.codes(question)
            }
        if question.kind == "multiple_choice":
            for code, text in slot.labels.items():
                slot.options[code] = len(header)
                header.append(f"{title}: {text}" if labels else f"{question.name}/{code}")
        elif question.kind == "location":
            header.pop()
            for part in ("latitude", "longitude", "address"):
                shown = f"{title} ({_meta(part, style, language)})"
                header.append(shown if labels else f"{question.name}/{part}")
    return Layout(header, slots, identified, labels, version.number)


def _number(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def export_rows(
    session: Session, survey: Survey, version: SurveyVersion, plan: Layout
) -> Iterator[list[Any]]:
    """One row per counted submission (tests left out), in the order of their ids.

    Two ordered statements stream side by side on the session's connection (server-side
    cursors on PostgreSQL, fetched :data:`BATCH` rows at a time): the submissions, and their
    answers in the order of the answers' primary key (submission, question, ordinal), which
    the index gives without a sort. They are merged a submission at a time; no ORM object is
    made, and times are written as Japan time by the database.
    """
    connection = session.connection()
    dialect = connection.dialect.name
    where = (S.survey_id == survey.id, S.version_id == version.id, S.test == false())
    submissions = select(
        S.id,
        cast(S.submitted_on, String),
        _tokyo_text(S.submitted_at, dialect),
        S.duration_seconds,
        S.language,
        S.resident_id,
    )
    answers = select(A.submission_id, A.question_id, A.option, A.number, A.text, A.extra)
    with (
        _streamed(session, submissions.where(*where).order_by(S.id)) as submission_rows,
        _streamed(
            session,
            answers.where(
                A.question_id.in_(list(plan.slots)), counted(survey.id, version.id)
            ).order_by(A.submission_id, A.question_id, A.ordinal),
        ) as answer_rows,
    ):
        yield from _merged(plan, submission_rows, answer_rows)


@contextmanager
def _streamed(session: Session, statement: Any) -> Iterator[Iterator[tuple[Any, ...]]]:
    """A statement's rows as plain tuples, fetched :data:`BATCH` at a time.

    On PostgreSQL a server-side (named) cursor of the session's own connection and
    transaction, read directly: a million answer rows cost the driver's C row maker only,
    not a SQLAlchemy row each. Elsewhere (SQLite: development, tests) SQLAlchemy streams.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        result = connection.execution_options(stream_results=True, yield_per=BATCH).execute(
            statement
        )
        try:
            yield (tuple(row) for row in result)
        finally:
            result.close()
        return
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    raw = connection.connection.dbapi_connection
    assert raw is not None  # an open connection  # noqa: S101
    cursor = raw.cursor(name=f"export_{secrets.token_hex(6)}")
    try:
        cursor.execute(str(compiled), compiled.params)
        yield chain.from_iterable(iter(lambda: cursor.fetchmany(BATCH), []))
    finally:
        cursor.close()


def _tokyo_text(column: Any, dialect: str) -> Any:
    """A UTC time column as Japan time text ``2026-12-03 14:30:05`` (Japan keeps no DST)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("Asia/Tokyo", column), "YYYY-MM-DD HH24:MI:SS")
    return func.strftime("%Y-%m-%d %H:%M:%S", column, "+9 hours")  # SQLite


def _merged(
    plan: Layout, submissions: Iterable[Any], answers: Iterable[Any]
) -> Iterator[list[Any]]:
    """Pivot the answers into their submissions' rows (both streams ordered by submission
    id; ids are hex, so Python orders them as the database does).

    The loop is the export's hot path (a million answers for 100,000 submissions): plain
    values are written inline, the rest by :func:`_put`.
    """
    width = len(plan.header)
    labels = plan.labels
    identified = plan.identified
    version_number = plan.version_number
    fast = {
        question_id: (_MODES.get(slot.family, _OTHER) if not slot.options else _OTHER, slot)
        for question_id, slot in plan.slots.items()
    }
    pending = iter(answers)
    answer = next(pending, None)
    for submission_id, submitted_on, submitted_at, duration, language, resident_id in submissions:
        row: list[Any] = [None] * width
        if identified:
            row[0:7] = (
                submission_id,
                version_number,
                submitted_on,
                submitted_at,
                duration,
                language,
                resident_id,
            )
        else:
            row[0:5] = (submission_id, version_number, submitted_on, duration, language)
        while answer is not None and answer[0] < submission_id:  # no such submission: skip
            answer = next(pending, None)
        while answer is not None and answer[0] == submission_id:
            _sid, question_id, option, number, text, extra = answer
            mode, slot = fast[question_id]
            if mode == _TEXT:
                row[slot.index] = text
            elif mode == _CHOICE:
                row[slot.index] = slot.labels.get(option, option) if labels else option
            elif mode == _NUMBER:
                row[slot.index] = _number(number)
            else:
                _put(row, slot, labels, option, extra)
            answer = next(pending, None)
        yield row


#: How :func:`_merged` writes each family's answers.
_TEXT, _CHOICE, _NUMBER, _OTHER = range(4)
_MODES = {"texts": _TEXT, "moments": _TEXT, "choices": _CHOICE, "numbers": _NUMBER}


def _put(
    row: list[Any],
    slot: _Slot,
    labels: bool,
    option: str | None,
    extra: Mapping[str, Any] | None,
) -> None:
    """Write a multiple choice, photo or location answer row into the export row."""
    index = slot.index
    if slot.options:  # multiple choice: combined column, and 0/1 per option
        if row[index] is None:
            row[index] = ""
            for column in slot.options.values():
                row[column] = 0
        if option is None:
            return
        chosen = slot.options.get(option)
        if chosen is not None:
            row[chosen] = 1
        shown = slot.labels.get(option, option) if labels else option
        separator = "、" if labels else " "
        row[index] = f"{row[index]}{separator}{shown}" if row[index] else shown
    elif slot.family == "photos":
        row[index] = extra.get("photo") if extra else None
    elif slot.family == "locations" and extra:
        row[index] = extra.get("latitude")
        row[index + 1] = extra.get("longitude")
        row[index + 2] = extra.get("address") or None


def export_plan(
    session: Session, survey: Survey, version: SurveyVersion, *, style: str, language: str
) -> Layout:
    """The layout of a version's per-submission export (see :func:`layout`)."""
    return layout(
        survey, version, questions_of(session, version.id), style=style, language=language
    )


def write_xlsx(out: IO[bytes], header: Sequence[str], rows: Iterator[Sequence[Any]]) -> int:
    """Write an XLSX workbook with one sheet (``responses``): header, then rows.

    XlsxWriter's ``constant_memory`` mode keeps one row in memory (the sheet goes to a
    temporary file first); texts are text cells, numbers are numbers.

    :return: the number of rows written (the header not counted).
    """
    import xlsxwriter  # when an export is made: webhook workers never carry it

    workbook = xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    try:
        sheet = workbook.add_worksheet("responses")
        sheet.freeze_panes(1, 0)
        write_string = sheet.write_string
        write_number = sheet.write_number
        for column, title in enumerate(header):
            write_string(0, column, title)
        count = 0
        for count, values in enumerate(rows, start=1):
            for column, value in enumerate(values):
                if value is None:
                    continue
                if isinstance(value, int | float) and not isinstance(value, bool):
                    write_number(count, column, value)
                else:
                    write_string(count, column, str(value))
    finally:
        workbook.close()
    return count


def aggregate_rows(
    session: Session,
    survey: Survey,
    version: SurveyVersion,
    *,
    language: str,
    min_cell: int = DEFAULT_MIN_CELL,
) -> Iterator[list[Any]]:
    """The aggregate export's rows (under :data:`AGGREGATE_HEADER`): counts per option, day,
    hour or histogram bar, statistics of numbers, and how many answered each question.

    No answer text, no photo, nothing about residents; counts below ``min_cell`` read
    ``<k`` whatever the survey (the file is meant for publication).
    """
    questions = questions_of(session, version.id)
    default = survey.default_language
    results = summarize(
        session, survey, version, questions, language=language, k=min_cell, previews=False
    )
    total = session.scalar(
        select(func.count()).where(
            S.survey_id == survey.id, S.version_id == version.id, S.test == false()
        )
    )
    yield ["_responses", "", "", "", "", total or 0, ""]
    for result in results:
        question = result.question
        if result.family == "none":
            continue
        label = label_of(question, language, default)
        answered: Any = f"<{min_cell}" if 0 < result.answered < min_cell else result.answered
        yield [question.name, label, question.kind, "_answered", "", answered, ""]
        for item in result.cells:
            count: Any = f"<{min_cell}" if item.hidden else item.count
            percent = "" if item.percent is None else round(item.percent, 1)
            yield [question.name, label, question.kind, item.code, item.label, count, percent]
        if result.family == "numbers" and not result.hidden:
            for name, value in (
                ("_mean", result.mean),
                ("_median", result.median),
                ("_min", result.minimum),
                ("_max", result.maximum),
            ):
                if value is not None:
                    yield [question.name, label, question.kind, name, "", round(value, 4), ""]
