"""Survey results as files: one row per submission (CSV or XLSX), and aggregate counts (CSV).

The per-submission export has its columns from the version's questions, in order, each kind
with its own (:func:`layout`): a choice is its code or label; a multiple choice is a combined
column (codes separated by spaces, or labels by 、) and one 0/1 column per option (empty when
the question was not answered, which is not the same as "none chosen"); a location is
latitude, longitude and address; a photo is its id; numbers are numbers. Headers are the
questions' codes (``age``, ``pets/dog``) or their labels in a chosen language.

It streams: rows come from one ordered statement over a server-side cursor (``yield_per``)
and are pivoted in one pass, a submission at a time, so memory stays flat whatever the size.
CSV goes through ``bot.csvexport`` (formula cells defused, BOM); XLSX through XlsxWriter in
``constant_memory`` mode, with every text written as a text cell (never a formula or a link).

The aggregate export (open data) holds counts only, no answer text and nothing about
residents, and hides every count below k (``surveys.results``) whatever the survey.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

import xlsxwriter
from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from models.surveys import Survey, SurveyAnswer, SurveyQuestion, SurveySubmission, SurveyVersion
from surveys.kinds import SingleChoice, kind_of, localized
from surveys.results import DEFAULT_MIN_CELL, label_of, questions_of, summarize

#: Header styles.
CODES = "codes"
LABELS = "labels"
HEADER_STYLES = (CODES, LABELS)
#: Rows fetched from the database at a time.
BATCH = 2000
TOKYO = ZoneInfo("Asia/Tokyo")
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

    Streams from one statement (a server-side cursor on PostgreSQL), a submission at a time.
    """
    statement = (
        select(
            S.id,
            S.submitted_on,
            S.submitted_at,
            S.duration_seconds,
            S.language,
            S.resident_id,
            A.question_id,
            A.option,
            A.number,
            A.text,
            A.extra,
        )
        .select_from(S)
        .outerjoin(A, A.submission_id == S.id)
        .where(S.survey_id == survey.id, S.version_id == version.id, S.test == false())
        .order_by(S.id, A.question_id, A.ordinal)
    )
    result = session.execute(statement, execution_options={"yield_per": BATCH})
    width = len(plan.header)
    slots = plan.slots
    labels = plan.labels
    row: list[Any] = []
    current = None
    for (
        submission_id,
        submitted_on,
        submitted_at,
        duration,
        language,
        resident_id,
        question_id,
        option,
        number,
        text,
        extra,
    ) in result:
        if submission_id != current:
            if row:
                yield row
            current = submission_id
            row = [None] * width
            meta: list[Any] = [submission_id, plan.version_number, submitted_on.isoformat()]
            if plan.identified:
                meta.append(_local(submitted_at))
            meta += [duration, language]
            if plan.identified:
                meta.append(resident_id)
            row[: len(meta)] = meta
        if question_id is None:
            continue
        slot = slots.get(question_id)
        if slot is None:  # pragma: no cover - answers belong to their version's questions
            continue
        _put(row, slot, labels, option, number, text, extra)
    if row:
        yield row
    result.close()


def _put(
    row: list[Any],
    slot: _Slot,
    labels: bool,
    option: str | None,
    number: float | None,
    text: str | None,
    extra: Mapping[str, Any] | None,
) -> None:
    """Write one answer row's value into the export row."""
    index = slot.index
    family = slot.family
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
    elif family == "choices":
        row[index] = slot.labels.get(option, option) if labels and option else option
    elif family == "numbers":
        row[index] = _number(number)
    elif family == "photos":
        row[index] = extra.get("photo") if extra else None
    elif family == "locations":
        if extra:
            row[index] = extra.get("latitude")
            row[index + 1] = extra.get("longitude")
            row[index + 2] = extra.get("address") or None
    else:
        row[index] = text


def _local(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M:%S")


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
