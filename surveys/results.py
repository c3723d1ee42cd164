"""Survey results: counts, histograms, lists, cross-tabulations and the answering funnel.

Everything is computed in SQL over ``survey_answers`` with one GROUP BY per family of
charts (``Kind.summary``: choices, numbers, moments, lists), never one query per question
and never one ORM object per answer, so a survey's results page costs the same few
statements whatever its size. Results keep to one version (question ids belong to their
version) and leave out rehearsals (test submissions): the answers of the version's few
test submissions are excluded with a ``NOT IN`` over ``ix_survey_submissions_survey``.

Anonymous surveys hide every breakdown cell counting fewer than ``k`` responses (a count of
1 to k-1 reads "fewer than k", its share is not shown), and lists (free texts, photos,
locations) of a question fewer than ``k`` residents answered; the aggregate export (open
data) hides them for every survey. Totals stay: they describe the survey, not a resident.

Functions take a session and only read.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    false,
    func,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session, aliased

from models import Dialog, DialogStatus, ResidentAttribute
from models.surveys import (
    Survey,
    SurveyAnswer,
    SurveyQuestion,
    SurveySubmission,
    SurveyVersion,
)
from surveys.answering import FLOW, QUESTION, STOPPED, SUMMARY, TEST
from surveys.kinds import SingleChoice, kind_of, localized

#: Default smallest count shown in an anonymous survey's breakdowns (``SURVEY_RESULTS_MIN_CELL``).
DEFAULT_MIN_CELL = 5
#: Most bars of a histogram of numbers.
HISTOGRAM_BARS = 10
#: Answers shown under a listed question on the results page (the rest: its own page).
PREVIEW = 5
#: Photos shown under a photo question on the results page.
PHOTO_PREVIEW = 6
#: Cross-tabulation families: questions answered with option codes.
CROSSTAB_KINDS = frozenset({"single_choice", "yes_no", "multiple_choice"})

A = SurveyAnswer
S = SurveySubmission


# -- what a page shows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One count of a breakdown, with its share of the base (percent)."""

    label: str
    count: int
    percent: float | None
    #: Fewer than k responses in an anonymous survey: neither count nor share is shown.
    hidden: bool = False
    #: The option code, the day or the bin's lower bound (exports, links).
    code: str = ""


@dataclass(frozen=True)
class QuestionResult:
    """What a question's answers add up to."""

    question: SurveyQuestion
    #: ``Kind.summary`` of the question's kind.
    family: str
    #: Submissions that answered it (for multiple choice: that chose anything or nothing).
    answered: int
    #: Counts per option, per day or hour, or per histogram bin.
    cells: list[Cell] = field(default_factory=list)
    mean: float | None = None
    median: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    #: A few free texts or locations (the question's own page lists them all).
    samples: list[str] = field(default_factory=list)
    #: A few photo ids.
    photos: list[str] = field(default_factory=list)
    #: Anonymous and fewer than k answers: lists and statistics are not shown.
    hidden: bool = False


@dataclass(frozen=True)
class Stop:
    """Where residents stopped answering: a question, the summary, or a state not known."""

    #: The question's number and text ("" for the summary and unknown states).
    label: str
    #: ``question``, ``summary`` or ``unknown``.
    where: str
    #: Dialogs that ended or timed out here.
    stopped: int
    #: Dialogs still open here (they may finish).
    answering: int
    hidden: bool = False


@dataclass(frozen=True)
class Funnel:
    """From the answering dialogs: started, completed and where the others stopped."""

    started: int
    completed: int
    stops: list[Stop]

    @property
    def completion_rate(self) -> float | None:
        """Completed dialogs per started one, in percent (None before anyone started)."""
        return 100.0 * self.completed / self.started if self.started else None


@dataclass(frozen=True)
class Results:
    """The results page of one version."""

    survey: Survey
    version: SurveyVersion
    #: Submissions counted (tests left out).
    responses: int
    #: Responses per day (Asia/Tokyo), oldest first.
    by_day: list[Cell]
    #: Median seconds from the first answer to sending (None without durations).
    median_seconds: float | None
    funnel: Funnel
    questions: list[QuestionResult]
    #: The k in force (anonymous surveys; 0: nothing hidden).
    min_cell: int


@dataclass(frozen=True)
class Crosstab:
    """Counts of one question's options (columns) by another's or by an attribute (rows)."""

    rows_title: str
    columns_title: str
    #: Column headers: (code, label).
    columns: list[tuple[str, str]]
    #: (row code, row label, cells in the columns' order, row total).
    rows: list[tuple[str, str, list[Cell], int]]
    #: Submissions counted per column.
    column_totals: list[Cell]
    total: int
    min_cell: int


class ResultsError(ValueError):
    """A results request names something that is not there (a question, an attribute)."""


# -- building blocks ---------------------------------------------------------------------------


def counted(survey_id: int, version_id: int) -> ColumnElement[bool]:
    """Answer rows that count: not of a test submission of this version."""
    tests = select(S.id).where(
        S.survey_id == survey_id, S.test == true(), S.version_id == version_id
    )
    return A.submission_id.not_in(tests)


def _submissions(survey_id: int, version_id: int) -> list[ColumnElement[bool]]:
    return [S.survey_id == survey_id, S.test == false(), S.version_id == version_id]


def _percent(count: int, base: int) -> float | None:
    return 100.0 * count / base if base else None


def cell(label: str, count: int, base: int, min_cell: int, code: str = "") -> Cell:
    """A count and its share, hidden when it is a small cell (see the module docstring)."""
    hidden = 0 < count < min_cell
    return Cell(label, count, None if hidden else _percent(count, base), hidden, code)


def label_of(question: SurveyQuestion, language: str, default: str) -> str:
    """A question's text in the language (its name if it has none)."""
    return localized(question.label, language, default) or question.name


def option_label(question: SurveyQuestion, code: str | None, language: str, default: str) -> str:
    """An option's label (its code for an option the version does not know)."""
    kind = kind_of(question)
    if code is None:
        return ""
    if isinstance(kind, SingleChoice):
        return kind.option_label(question, code, language, default)
    return code


def questions_of(session: Session, version_id: int) -> list[SurveyQuestion]:
    """A version's questions in order."""
    return list(
        session.scalars(
            select(SurveyQuestion)
            .where(SurveyQuestion.version_id == version_id)
            .order_by(SurveyQuestion.position)
        )
    )


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# -- the results page ----------------------------------------------------------------------------


def compute_results(
    session: Session,
    survey: Survey,
    version: SurveyVersion,
    *,
    language: str,
    min_cell: int = DEFAULT_MIN_CELL,
) -> Results:
    """Everything the results page shows for one version of a survey.

    :param language: the language of labels (the survey's default where it has none).
    :param min_cell: the k of anonymous surveys (ignored for identified ones).
    """
    k = min_cell if survey.anonymous else 0
    questions = questions_of(session, version.id)
    default = survey.default_language
    by_day_rows = session.execute(
        select(S.submitted_on, func.count())
        .where(*_submissions(survey.id, version.id))
        .group_by(S.submitted_on)
        .order_by(S.submitted_on)
    ).all()
    responses = sum(count for _day, count in by_day_rows)
    by_day = [
        cell(day.isoformat(), count, responses, k, day.isoformat()) for day, count in by_day_rows
    ]
    results = [
        result
        for result in summarize(session, survey, version, questions, language=language, k=k)
        if result.family != "none"
    ]
    return Results(
        survey=survey,
        version=version,
        responses=responses,
        by_day=by_day,
        median_seconds=median_duration(session, survey.id, version.id),
        funnel=funnel(session, version.id, questions, language, default, k),
        questions=results,
        min_cell=k,
    )


def summarize(
    session: Session,
    survey: Survey,
    version: SurveyVersion,
    questions: Sequence[SurveyQuestion],
    *,
    language: str,
    k: int,
    previews: bool = True,
) -> list[QuestionResult]:
    """Every question's result, in order (one statement per family of charts).

    :param k: hide counts from 1 to k-1 (0: show everything).
    :param previews: fetch a few texts and photos of listed questions (the page does).
    """
    default = survey.default_language
    families: dict[str, list[SurveyQuestion]] = defaultdict(list)
    for question in questions:
        families[kind_of(question).summary].append(question)
    keep = counted(survey.id, version.id)
    found: dict[int, QuestionResult] = {}
    found.update(_choices(session, families["choices"], keep, language, default, k))
    found.update(_numbers(session, families["numbers"], keep, k))
    found.update(_moments(session, families["moments"], keep, k))
    listed = families["texts"] + families["photos"] + families["locations"]
    found.update(_listed(session, listed, keep, k, previews))
    results = []
    for question in questions:
        family = kind_of(question).summary
        results.append(found.get(question.id) or QuestionResult(question, family, 0))
    return results


def _choices(
    session: Session,
    questions: Sequence[SurveyQuestion],
    keep: ColumnElement[bool],
    language: str,
    default: str,
    k: int,
) -> dict[int, QuestionResult]:
    """Counts per option; the base is the submissions that answered the question."""
    if not questions:
        return {}
    rows = session.execute(
        select(A.question_id, A.option, func.count(), func.sum(case((A.ordinal == 0, 1), else_=0)))
        .where(A.question_id.in_([q.id for q in questions]), keep)
        .group_by(A.question_id, A.option)
    ).all()
    counts: dict[int, dict[str | None, int]] = defaultdict(dict)
    answered: dict[int, int] = defaultdict(int)
    for question_id, option, count, firsts in rows:
        counts[question_id][option] = count
        answered[question_id] += int(firsts or 0)
    found = {}
    for question in questions:
        codes = _codes(question)
        mine = counts.get(question.id, {})
        base = answered.get(question.id, 0)
        extra = sorted(code for code in mine if code is not None and code not in codes)
        cells = [
            cell(option_label(question, code, language, default), mine.get(code, 0), base, k, code)
            for code in codes + extra
        ]
        found[question.id] = QuestionResult(question, "choices", base, cells)
    return found


def _codes(question: SurveyQuestion) -> list[str]:
    kind = kind_of(question)
    if isinstance(kind, SingleChoice):
        return kind.codes(question)
    return ["OK"] if question.kind == "acknowledge" else []


def _numbers(
    session: Session,
    questions: Sequence[SurveyQuestion],
    keep: ColumnElement[bool],
    k: int,
) -> dict[int, QuestionResult]:
    """Count, mean, median, range and a histogram of each numeric question.

    One statement counts each question's distinct values (an index-only scan of
    ``ix_survey_answers_question_number`` in order); everything else follows exactly from
    those counts.
    """
    if not questions:
        return {}
    values: dict[int, list[tuple[float, int]]] = defaultdict(list)
    rows = session.execute(
        select(A.question_id, A.number, func.count())
        .where(A.question_id.in_([q.id for q in questions]), A.number.is_not(None), keep)
        .group_by(A.question_id, A.number)
        .order_by(A.question_id, A.number)
    )
    for question_id, number, count in rows:
        values[question_id].append((float(number or 0), count))
    found = {}
    for question in questions:
        counted_values = values.get(question.id)
        if not counted_values:
            found[question.id] = QuestionResult(question, "numbers", 0)
            continue
        count = sum(n for _v, n in counted_values)
        low, high = counted_values[0][0], counted_values[-1][0]
        start, width, bars = _bins(question, low, high)
        histogram = [0] * bars
        for value, n in counted_values:
            histogram[min(max(math.floor((value - start) / width + 1e-9), 0), bars - 1)] += n
        cells = [
            cell(
                _bin_label(question, start, width, position),
                histogram[position],
                count,
                k,
                _number_text(start + position * width),
            )
            for position in range(bars)
        ]
        hidden = 0 < count < k
        mean = math.fsum(v * n for v, n in counted_values) / count
        found[question.id] = QuestionResult(
            question,
            "numbers",
            count,
            cells,
            mean=None if hidden else mean,
            median=None if hidden else _median(counted_values, count),
            minimum=None if hidden else low,
            maximum=None if hidden else high,
            hidden=hidden,
        )
    return found


def _median(counted_values: Sequence[tuple[float, int]], count: int) -> float:
    """The median of values given in order with their counts."""
    middle = [(count - 1) // 2, count // 2]  # the 0-based ranks of the middle value(s)
    found: list[float] = []
    seen = 0
    for value, n in counted_values:
        while middle and middle[0] < seen + n:
            found.append(value)
            middle.pop(0)
        seen += n
        if not middle:
            break
    return sum(found) / len(found)


def _bins(question: SurveyQuestion, low: float, high: float) -> tuple[float, float, int]:
    """A histogram's first bound, bar width and number of bars for values low..high."""
    config = question.config
    if question.kind == "range":
        step = float(config["step"])
        start = float(config["start"])
        count = round((float(config["end"]) - start) / step) + 1
        if count <= 2 * HISTOGRAM_BARS:
            return start, step, count
    if question.kind in ("integer", "range"):
        start = math.floor(low)
        span = math.floor(high) - start + 1
        width = max(1, math.ceil(span / HISTOGRAM_BARS))
        return float(start), float(width), max(1, math.ceil(span / width))
    if high <= low:
        return low, 1.0, 1
    return low, (high - low) / HISTOGRAM_BARS, HISTOGRAM_BARS


def _number_text(number: float) -> str:
    rounded = round(number, 6)
    return str(int(rounded)) if float(rounded).is_integer() else f"{rounded:g}"


def _bin_label(question: SurveyQuestion, start: float, width: float, position: int) -> str:
    low = start + position * width
    whole = question.kind == "integer" or (
        question.kind == "range" and float(question.config["step"]).is_integer()
    )
    if question.kind == "range" and width == float(question.config["step"]):
        return _number_text(low)
    if whole:
        high = low + width - 1
        return _number_text(low) if high <= low else f"{_number_text(low)}–{_number_text(high)}"
    return f"{_number_text(low)}–{_number_text(low + width)}"


def _moments(
    session: Session, questions: Sequence[SurveyQuestion], keep: ColumnElement[bool], k: int
) -> dict[int, QuestionResult]:
    """Dates and date-times counted per day, times per hour."""
    if not questions:
        return {}
    hours = [q.id for q in questions if q.kind == "time"]
    part = func.substr(A.text, 1, case((A.question_id.in_(hours), 2), else_=10))
    rows = session.execute(
        select(A.question_id, part, func.count())
        .where(A.question_id.in_([q.id for q in questions]), A.text.is_not(None), keep)
        .group_by(A.question_id, part)
    ).all()
    counts: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for question_id, value, count in rows:
        counts[question_id].append((value, count))
    found = {}
    for question in questions:
        mine = sorted(counts.get(question.id, []))
        total = sum(count for _v, count in mine)
        cells = [
            cell(f"{value}:00" if question.kind == "time" else value, count, total, k, value)
            for value, count in mine
        ]
        found[question.id] = QuestionResult(question, "moments", total, cells)
    return found


def _listed(
    session: Session,
    questions: Sequence[SurveyQuestion],
    keep: ColumnElement[bool],
    k: int,
    previews: bool,
) -> dict[int, QuestionResult]:
    """Free texts, photos and locations: how many answered, and a few of them."""
    if not questions:
        return {}
    totals = dict(
        session.execute(
            select(A.question_id, func.count())
            .where(A.question_id.in_([q.id for q in questions]), keep)
            .group_by(A.question_id)
        ).all()
    )
    found = {}
    for question in questions:
        family = kind_of(question).summary
        total = totals.get(question.id, 0)
        hidden = 0 < total < k
        samples: list[str] = []
        photos: list[str] = []
        if previews and total and not hidden:
            limit = PHOTO_PREVIEW if family == "photos" else PREVIEW
            values = session.execute(
                select(A.text, A.extra).where(A.question_id == question.id, keep).limit(limit)
            ).all()
            if family == "photos":
                photos = [str(extra["photo"]) for _t, extra in values if extra]
            else:
                samples = [answer_text(question, text, extra) for text, extra in values]
        found[question.id] = QuestionResult(
            question, family, total, samples=samples, photos=photos, hidden=hidden
        )
    return found


def answer_text(question: SurveyQuestion, text: str | None, extra: Mapping[str, Any] | None) -> str:
    """A listed answer as it reads: the text, or a location's address or coordinates."""
    if question.kind == "location" and extra:
        address = extra.get("address")
        if address:
            return str(address)
        return f"{float(extra['latitude']):.5f}, {float(extra['longitude']):.5f}"
    return text or ""


def median_duration(session: Session, survey_id: int, version_id: int) -> float | None:
    """Median seconds to complete (first answer to sending) of the counted submissions."""
    where = [*_submissions(survey_id, version_id), S.duration_seconds.is_not(None)]
    if _dialect(session) == "postgresql":
        value = session.scalar(
            select(func.percentile_cont(0.5).within_group(S.duration_seconds)).where(*where)
        )
        return None if value is None else float(value)
    count = session.scalar(select(func.count()).where(*where)) or 0
    if not count:
        return None
    middle = session.scalars(
        select(S.duration_seconds)
        .where(*where)
        .order_by(S.duration_seconds)
        .offset((count - 1) // 2)
        .limit(2 - count % 2)
    ).all()
    return sum(float(value or 0) for value in middle) / len(middle)


def funnel(
    session: Session,
    version_id: int,
    questions: Sequence[SurveyQuestion],
    language: str,
    default: str,
    k: int,
) -> Funnel:
    """Started and completed answering dialogs of a version, and where the rest stopped.

    The answering flow keeps ``state`` at ``q:<position>`` while a question is asked and
    ``summary`` at the summary (surveys.answering); a dialog that did not complete stopped at
    its last state. Rehearsals (``@test``) are left out; a dialog a full quota ended
    (``@stopped``) ended where it stood, without a submission: it counts as stopped there.
    """
    rehearsal = func.coalesce(Dialog.data[TEST].as_boolean(), false())
    quota_stop = Dialog.data[STOPPED].as_string().is_not(None)
    status = case((quota_stop, DialogStatus.CANCELLED.value), else_=Dialog.status)
    rows = session.execute(
        select(status, Dialog.state, func.count())
        .where(Dialog.flow == FLOW, Dialog.subject_id == version_id, rehearsal.is_(false()))
        .group_by(status, Dialog.state)
    ).all()
    started = completed = 0
    stopped: dict[int | None, int] = defaultdict(int)
    answering: dict[int | None, int] = defaultdict(int)
    for status, state, count in rows:
        started += count
        if status == DialogStatus.COMPLETED:
            completed += count
            continue
        position = _position(state)
        target = answering if status == DialogStatus.ACTIVE else stopped
        target[position] += count
    stops = []
    for question in questions:
        if not kind_of(question).answered and question.position not in stopped:
            continue
        stops.append(
            _stop(
                f"{question.position + 1}. {label_of(question, language, default)}",
                "question",
                stopped.pop(question.position, 0),
                answering.pop(question.position, 0),
                k,
            )
        )
    stops.append(_stop("", "summary", stopped.pop(-1, 0), answering.pop(-1, 0), k))
    if stopped or answering:  # states not known (a flow that changed): kept visible, not lost
        stops.append(_stop("", "unknown", sum(stopped.values()), sum(answering.values()), k))
    return Funnel(started, completed, stops)


def _stop(label: str, where: str, stopped: int, answering: int, k: int) -> Stop:
    hidden = 0 < stopped < k or 0 < answering < k
    return Stop(label, where, stopped, answering, hidden)


def _position(state: str) -> int | None:
    """A dialog state's question position; -1 for the summary; None if unknown."""
    if state == SUMMARY:
        return -1
    family, _colon, position = state.partition(":")
    if family == QUESTION and position.isdigit():
        return int(position)
    return None


# -- lists of one question -----------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """One page of a listed question's answers."""

    values: list[tuple[str, date, str]]  # (text, day submitted, photo id or "")
    total: int
    page: int
    more: bool
    hidden: bool


def list_answers(
    session: Session,
    survey: Survey,
    version: SurveyVersion,
    question: SurveyQuestion,
    *,
    search: str = "",
    page: int = 1,
    per_page: int = 50,
    min_cell: int = DEFAULT_MIN_CELL,
) -> Listing:
    """A page of a free-text, location or photo question's answers, newest day first.

    :param search: keep answers containing it (case-insensitive; texts and addresses).
    """
    keep = counted(survey.id, version.id)
    where: list[Any] = [A.question_id == question.id, keep]
    total = session.scalar(select(func.count()).select_from(A).where(*where)) or 0
    hidden = survey.anonymous and 0 < total < min_cell
    if hidden:
        return Listing([], total, 1, False, True)
    if search and question.kind == "text":
        where.append(A.text.icontains(search, autoescape=True))
    page = max(1, page)
    rows = session.execute(
        select(A.text, A.extra, S.submitted_on)
        .join(S, S.id == A.submission_id)
        .where(*where)
        .order_by(S.submitted_on.desc(), A.submission_id)
        .offset((page - 1) * per_page)
        .limit(per_page + 1)
    ).all()
    values = [
        (
            answer_text(question, text, extra),
            day,
            str(extra.get("photo", "")) if question.kind == "photo" and extra else "",
        )
        for text, extra, day in rows[:per_page]
    ]
    return Listing(values, total, page, len(rows) > per_page, False)


# -- cross-tabulation ----------------------------------------------------------------------------


def crosstab_attributes(session: Session, version: SurveyVersion) -> list[str]:
    """Attribute names a version's results can be broken down by: those its questions set,
    and those residents have (an anonymous survey has none: no link to residents)."""
    if version.survey.anonymous:
        return []
    names = {q.attribute for q in version.questions if q.attribute}
    names.update(name for name in session.scalars(_ATTRIBUTE_NAMES) if name is not None)
    return sorted(names)


#: The distinct attribute names, one index lookup per name (a "loose index scan" over
#: ``ix_resident_attributes_name_value``): a plain DISTINCT would read every row.
_ATTRIBUTE_NAMES = text(
    "WITH RECURSIVE names(name) AS ("
    " SELECT min(name) FROM resident_attributes"
    " UNION ALL"
    " SELECT (SELECT min(a.name) FROM resident_attributes a WHERE a.name > names.name)"
    " FROM names WHERE names.name IS NOT NULL"
    ") SELECT name FROM names"
)


def crosstab(
    session: Session,
    survey: Survey,
    version: SurveyVersion,
    *,
    columns: str,
    rows: str,
    language: str,
    min_cell: int = DEFAULT_MIN_CELL,
) -> Crosstab:
    """Counts of the ``columns`` question's options by ``rows``: ``q:<name>`` (another
    question's options) or ``a:<name>`` (a resident attribute's values).

    :raises ResultsError: an unknown question or attribute, or one that cannot be used.
    """
    k = min_cell if survey.anonymous else 0
    default = survey.default_language
    by_name = {q.name: q for q in version.questions}
    column_question = by_name.get(columns)
    if column_question is None or column_question.kind not in CROSSTAB_KINDS:
        raise ResultsError(f"no choice question {columns!r} in this version")
    b = aliased(SurveyAnswer)
    keep = b.submission_id.not_in(
        select(S.id).where(S.survey_id == survey.id, S.test == true(), S.version_id == version.id)
    )
    row_labels: dict[str, str]
    if rows.startswith("q:"):
        row_question = by_name.get(rows[2:])
        if row_question is None or row_question.kind not in CROSSTAB_KINDS:
            raise ResultsError(f"no choice question {rows[2:]!r} in this version")
        if row_question.id == column_question.id:
            raise ResultsError("choose two different questions")
        a = aliased(SurveyAnswer)
        statement = (
            select(a.option, b.option, func.count())
            .select_from(b)
            .join(a, and_(a.submission_id == b.submission_id, a.question_id == row_question.id))
            .where(b.question_id == column_question.id, b.option.is_not(None), keep)
            .where(a.option.is_not(None))
            .group_by(a.option, b.option)
        )
        row_codes = _codes(row_question)
        row_labels = {c: option_label(row_question, c, language, default) for c in row_codes}
        rows_title = label_of(row_question, language, default)
    elif rows.startswith("a:"):
        name = rows[2:]
        if survey.anonymous:
            raise ResultsError("an anonymous survey has no link to residents' attributes")
        if name not in crosstab_attributes(session, version):
            raise ResultsError(f"no resident attribute {name!r}")
        statement = (
            select(ResidentAttribute.value, b.option, func.count())
            .select_from(b)
            .join(S, S.id == b.submission_id)
            .join(
                ResidentAttribute,
                and_(
                    ResidentAttribute.resident_id == S.resident_id, ResidentAttribute.name == name
                ),
            )
            .where(b.question_id == column_question.id, b.option.is_not(None), keep)
            .group_by(ResidentAttribute.value, b.option)
        )
        setter = next((q for q in version.questions if q.attribute == name), None)
        row_codes = _codes(setter) if setter is not None else []
        row_labels = {
            c: option_label(setter, c, language, default) for c in row_codes if setter is not None
        }
        rows_title = name
    else:
        raise ResultsError("rows must be q:<question> or a:<attribute>")
    counts: dict[tuple[str, str], int] = {}
    for row_code, column_code, count in session.execute(statement):
        counts[(str(row_code), str(column_code))] = count
    column_codes = _codes(column_question)
    column_codes += sorted({c for _r, c in counts if c not in column_codes})
    row_codes = row_codes + sorted({r for r, _c in counts if r not in row_codes})
    table = []
    for row_code in row_codes:
        values = [counts.get((row_code, c), 0) for c in column_codes]
        row_total = sum(values)
        cells = [
            cell(column_code, value, row_total, k, column_code)
            for column_code, value in zip(column_codes, values, strict=True)
        ]
        table.append((row_code, row_labels.get(row_code, row_code), cells, row_total))
    total = sum(row[3] for row in table)
    column_totals = [
        cell(c, sum(counts.get((r, c), 0) for r in row_codes), total, k, c) for c in column_codes
    ]
    return Crosstab(
        rows_title=rows_title,
        columns_title=label_of(column_question, language, default),
        columns=[(c, option_label(column_question, c, language, default)) for c in column_codes],
        rows=table,
        column_totals=column_totals,
        total=total,
        min_cell=k,
    )


def choice_questions(questions: Iterable[SurveyQuestion]) -> list[SurveyQuestion]:
    """The questions a cross-tabulation can use."""
    return [q for q in questions if q.kind in CROSSTAB_KINDS]
