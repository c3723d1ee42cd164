"""Answering a survey in LINE: who may answer what, and the submission.

Verb-first service functions that take a session, flush and never commit (docs/features.md).
The dialog (``surveys.flow``) keeps the pending answers in ``dialogs.data`` until the resident
taps 送信; :func:`submit` then writes one ``SurveySubmission`` with its ``SurveyAnswer`` rows,
binds the photos, counts the response and the quotas, sets resident attributes, and the flow
deletes the pending answers.

A published version never changes, so its questions are read once per process into a
:class:`Form` (plain frozen values with parsed expressions); a draft (rehearsal) is read
fresh every time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from bot.attributes import set_attribute
from models import Dialog, DialogStatus, Resident
from models.surveys import (
    QuotaAction,
    Survey,
    SurveyAnswer,
    SurveyParticipant,
    SurveyPhoto,
    SurveyQuota,
    SurveyStatus,
    SurveySubmission,
    SurveyVersion,
    Texts,
)
from surveys import expressions
from surveys.expressions import Expression
from surveys.kinds import KINDS, PhotoUpload, localized
from surveys.services import in_audience, is_open, questions_of

logger = logging.getLogger(__name__)

TOKYO = ZoneInfo("Asia/Tokyo")
#: The dialog flow's name (``dialogs.flow``), and its state families: ``q:<position>`` while
#: a question is asked, ``summary`` at the summary (the results' funnel reads them too).
FLOW = "survey"
QUESTION, SUMMARY = "q", "summary"
#: Keys of ``dialogs.data`` that are not answers (question names cannot start with ``@``).
STARTED_AT = "@started_at"
SELECTING = "@selecting"
EDITING = "@editing"
TEST = "@test"
STOPPED = "@stopped"
REMINDED = "@reminded"
#: Published forms kept per process.
_FORMS_KEPT = 64


@dataclass(frozen=True)
class FormQuestion:
    """A question as the flow needs it: the stored fields, expressions parsed."""

    id: int
    position: int
    name: str
    kind: str
    label: Texts
    hint: Texts
    required: bool
    #: Its own and its sections' show-if conditions (all must hold).
    conditions: tuple[Expression, ...]
    constraint: Expression | None
    constraint_message: Texts
    config: Mapping[str, Any]
    attribute: str | None

    @property
    def answered(self) -> bool:
        """Whether the kind asks for an answer (a note does not)."""
        return KINDS[self.kind].answered


@dataclass(frozen=True)
class Form:
    """One version's texts and questions, as plain values."""

    version_id: int
    survey_id: int
    title: Texts
    intro: Texts
    thanks: Texts
    default_language: str
    #: When its survey was created (tells a reused id apart).
    survey_created_at: datetime
    published: bool
    questions: tuple[FormQuestion, ...]
    #: Answerable questions' numbers for the progress (3/8): 1-based, by position.
    numbers: Mapping[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """How many questions ask for an answer."""
        return len(self.numbers)


_forms: OrderedDict[int, Form] = OrderedDict()


def _parsed(source: str | None) -> Expression | None:
    return expressions.parse(source) if source and source.strip() else None


def survey_of(session: Session, survey_id: int) -> Survey | None:
    """The survey row, read once per unit of work (held in ``session.info``: SQLAlchemy's
    identity map holds rows weakly, so a second ``get`` in the same event would read again)."""
    held: dict[int, Survey | None] = session.info.setdefault("surveys.rows", {})
    if survey_id not in held:
        held[survey_id] = session.get(Survey, survey_id)
    return held[survey_id]


def form_of(session: Session, version_id: int) -> Form | None:
    """The form of a version (cached once published), or None if there is no such version.

    A cached form is checked against its survey's row (read once per event anyway, to know
    whether it is open): a reused id (SQLite reuses the highest id after a delete) whose
    survey is another one is read afresh.
    """
    cached = _forms.get(version_id)
    if cached is not None:
        survey = survey_of(session, cached.survey_id)
        if survey is not None and survey.created_at == cached.survey_created_at:
            _forms.move_to_end(version_id)
            return cached
        del _forms[version_id]
    version = session.get(SurveyVersion, version_id)
    if version is None:
        return None
    survey = survey_of(session, version.survey_id)
    if survey is None:
        return None
    sections = {s["name"]: s for s in version.sections or ()}
    questions = []
    for row in questions_of(session, version_id):
        conditions: list[Expression] = []
        section = sections.get(row.section or "")
        while section is not None:
            found = _parsed(section.get("relevant"))
            if found is not None:
                conditions.insert(0, found)
            section = sections.get(section.get("parent") or "")
        own = _parsed(row.relevant)
        if own is not None:
            conditions.append(own)
        questions.append(
            FormQuestion(
                id=row.id,
                position=row.position,
                name=row.name,
                kind=row.kind,
                label=dict(row.label or {}),
                hint=dict(row.hint or {}),
                required=row.required,
                conditions=tuple(conditions),
                constraint=_parsed(row.constraint),
                constraint_message=dict(row.constraint_message or {}),
                config=dict(row.config or {}),
                attribute=row.attribute,
            )
        )
    answerable = [q.position for q in questions if q.answered]
    form = Form(
        version_id=version.id,
        survey_id=version.survey_id,
        title=dict(version.title or {}),
        intro=dict(version.intro or {}),
        thanks=dict(version.thanks or {}),
        default_language=survey.default_language,
        survey_created_at=survey.created_at,
        published=version.published_at is not None,
        questions=tuple(questions),
        numbers={position: n for n, position in enumerate(answerable, start=1)},
    )
    if form.published:
        _forms[version_id] = form
        while len(_forms) > _FORMS_KEPT:
            _forms.popitem(last=False)
    return form


# -- the answers a form sees ------------------------------------------------------------------


def effective(form: Form, data: Mapping[str, Any]) -> dict[str, Any]:
    """The answers that count: those of questions shown with the answers before them.

    A question hidden by a later change of an earlier answer keeps its pending value in the
    dialog but counts as unanswered (XLSForm: a non-relevant question is blank).
    """
    answers: dict[str, Any] = {}
    for question in form.questions:
        if question.name in data and is_shown(question, answers):
            answers[question.name] = data[question.name]
    return answers


def is_shown(question: FormQuestion, answers: Mapping[str, Any]) -> bool:
    """Whether the question is asked, given the answers before it."""
    return all(condition.holds(answers) for condition in question.conditions)


def by_position(form: Form, position: int) -> FormQuestion | None:
    """The question at ``position``, if any."""
    for question in form.questions:
        if question.position == position:
            return question
    return None


def next_question(
    form: Form, data: Mapping[str, Any], after: int, *, unanswered: bool = False
) -> FormQuestion | None:
    """The first answerable question shown after position ``after`` (None: the summary).

    :param unanswered: only one without an answer yet (after 修正: back to the summary
        unless a change revealed a new question).
    """
    answers = effective(form, data)
    for question in form.questions:
        if question.position <= after or not question.answered:
            continue
        if unanswered and question.name in answers:
            continue
        if is_shown(question, answers):
            return question
    return None


def previous_question(form: Form, data: Mapping[str, Any], before: int) -> FormQuestion | None:
    """The last answerable question shown before position ``before`` (None: none)."""
    answers = effective(form, data)
    found = None
    for question in form.questions:
        if question.position >= before:
            break
        if question.answered and is_shown(question, answers):
            found = question
    return found


def notes_before(form: Form, data: Mapping[str, Any], position: int | None) -> list[FormQuestion]:
    """The shown notes between the previous answerable question and ``position`` (None: the
    end), which are said together with that question."""
    answers = effective(form, data)
    notes: list[FormQuestion] = []
    for question in form.questions:
        if position is not None and question.position >= position:
            break
        if question.answered:
            notes = []
        elif is_shown(question, answers):
            notes.append(question)
    return notes


def shown_text(form: Form, answers: Mapping[str, Any], language: str, source: Texts) -> str:
    """A text in the language with ``${name}`` replaced by the answers as they are shown."""
    names = {q.name: q for q in form.questions}

    def show(name: str) -> str:
        question = names.get(name)
        if question is None or name not in answers:
            return ""
        return KINDS[question.kind].show(question, answers[name], language, form.default_language)

    return expressions.recall(localized(source, language, form.default_language), show)


# -- who may answer ---------------------------------------------------------------------------


class Refusal(StrEnum):
    """Why a resident may not start a survey now."""

    UNKNOWN = "unknown"
    CLOSED = "closed"
    AUDIENCE = "audience"
    ANSWERED = "answered"
    FULL = "full"


def participant_key(secret: str | bytes, survey_id: int, line_user_id: str) -> str:
    """HMAC-SHA256 of the LINE user id under a key derived from the server secret and the
    survey: the same resident gives the same key, and the key cannot be turned back."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    key = hmac.new(raw, b"madoguchi.survey-participants", hashlib.sha256).digest()
    message = f"{survey_id}:{line_user_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def has_answered(session: Session, survey: Survey, resident: Resident, secret: str) -> bool:
    """Whether the resident has submitted this survey (rehearsals not counted)."""
    if survey.anonymous:
        key = participant_key(secret, survey.id, resident.line_user_id)
        return session.get(SurveyParticipant, (survey.id, key)) is not None
    return bool(
        session.scalar(
            select(
                exists().where(
                    SurveySubmission.survey_id == survey.id,
                    SurveySubmission.resident_id == resident.id,
                    SurveySubmission.test.is_(False),
                )
            )
        )
    )


def _stopped_by_quota(session: Session, survey: Survey) -> bool:
    """A full stopping quota whose condition holds before any answer (e.g. ``true()``)."""
    for quota in survey.quotas:
        if quota.action == QuotaAction.STOP and quota.filled >= quota.limit:
            try:
                if expressions.parse(quota.condition).holds({}):
                    return True
            except expressions.ExpressionError:
                continue
    return False


def refusal(
    session: Session, survey: Survey | None, resident: Resident, now: datetime, secret: str
) -> Refusal | None:
    """Why the resident may not start ``survey`` now, or None when they may."""
    if survey is None or survey.status == SurveyStatus.DRAFT:
        return Refusal.UNKNOWN
    if not is_open(survey, now) or survey.current_version_id is None:
        return Refusal.CLOSED
    if survey.max_responses is not None and survey.response_count >= survey.max_responses:
        return Refusal.FULL
    if not in_audience(session, survey.audience, resident):
        return Refusal.AUDIENCE
    if survey.one_answer and has_answered(session, survey, resident, secret):
        return Refusal.ANSWERED
    if _stopped_by_quota(session, survey):
        return Refusal.FULL
    return None


def dialogs_in_progress(session: Session, resident: Resident, now: datetime) -> dict[int, Dialog]:
    """The resident's survey dialogs that can be resumed, by survey version id."""
    rows = session.scalars(
        select(Dialog).where(
            Dialog.resident_id == resident.id,
            Dialog.flow == FLOW,
            Dialog.status.in_((DialogStatus.ACTIVE, DialogStatus.PARKED)),
        )
    ).all()
    return {
        row.subject_id: row
        for row in rows
        if row.subject_id is not None
        and (row.status == DialogStatus.ACTIVE or row.expires_at > now)
    }


# -- photos and submission --------------------------------------------------------------------


def store_photo(session: Session, survey_id: int, upload: PhotoUpload, now: datetime) -> str:
    """Keep a photo answer until submission; its id goes into the pending answers."""
    photo = SurveyPhoto(
        survey_id=survey_id,
        content_type=upload.content_type,
        byte_size=len(upload.data),
        data=upload.data,
        received_on=now.astimezone(TOKYO).date(),
    )
    session.add(photo)
    session.flush()
    return photo.id


class Outcome(StrEnum):
    """What a submission came to."""

    SUBMITTED = "submitted"
    CLOSED = "closed"
    ANSWERED = "answered"
    QUOTA = "quota"


def submit(
    session: Session,
    form: Form,
    resident: Resident,
    data: Mapping[str, Any],
    *,
    now: datetime,
    language: str,
    secret: str,
) -> Outcome:
    """Write a submission of the pending answers, or say why not (nothing is then written).

    Rehearsals (``data[TEST]``) are stored with ``test=True``: no one-answer check, no counts,
    no resident attributes. Anonymous submissions have no resident, no time of day and no
    duration; "already answered" is their participant key.
    """
    survey = survey_of(session, form.survey_id)
    if survey is None:
        return Outcome.CLOSED
    test = bool(data.get(TEST))
    answers = effective(form, data)
    if not test:
        if not is_open(survey, now):
            return Outcome.CLOSED
        if survey.one_answer and has_answered(session, survey, resident, secret):
            return Outcome.ANSWERED
        counted = _count_quotas(session, survey, answers)
        if counted is None:
            return Outcome.QUOTA
        if survey.anonymous:
            key = participant_key(secret, survey.id, resident.line_user_id)
            if session.get(SurveyParticipant, (survey.id, key)) is None:
                session.add(SurveyParticipant(survey_id=survey.id, key=key))
        _count_response(session, survey, now)
    started = data.get(STARTED_AT)
    duration = None
    if started and not survey.anonymous:
        duration = max(0, int((now - datetime.fromisoformat(started)).total_seconds()))
    submission = SurveySubmission(
        survey_id=survey.id,
        version_id=form.version_id,
        resident_id=None if survey.anonymous else resident.id,
        anonymous=survey.anonymous,
        test=test,
        submitted_on=now.astimezone(TOKYO).date(),
        submitted_at=None if survey.anonymous else now,
        duration_seconds=duration,
        language=language,
    )
    session.add(submission)
    session.flush()
    photos: list[str] = []
    for question in form.questions:
        if question.name not in answers or not question.answered:
            continue
        value = answers[question.name]
        for ordinal, row in enumerate(KINDS[question.kind].rows(value)):
            session.add(
                SurveyAnswer(
                    submission_id=submission.id,
                    question_id=question.id,
                    ordinal=ordinal,
                    option=row.option,
                    number=row.number,
                    text=row.text,
                    extra=row.extra,
                )
            )
        if question.kind == "photo":
            photos.append(value["photo"])
        if question.attribute and not survey.anonymous and not test:
            set_attribute(session, resident, question.attribute, str(value))
    if photos:
        session.execute(
            update(SurveyPhoto)
            .where(SurveyPhoto.id.in_(photos), SurveyPhoto.survey_id == survey.id)
            .values(submission_id=submission.id)
            .execution_options(synchronize_session=False)
        )
    session.flush()
    logger.info("survey submitted", extra={"survey": survey.id, "test": test})
    return Outcome.SUBMITTED


def _count_quotas(session: Session, survey: Survey, answers: Mapping[str, Any]) -> list[int] | None:
    """Count the submission in every quota whose condition it meets; None when a stopping
    quota is full (then nothing is counted)."""
    matching = [q for q in survey.quotas if _holds(q.condition, answers)]
    if any(q.action == QuotaAction.STOP and q.filled >= q.limit for q in matching):
        return None
    counted = []
    for quota in matching:
        done = session.execute(
            update(SurveyQuota)
            .where(SurveyQuota.id == quota.id, SurveyQuota.filled < SurveyQuota.limit)
            .values(filled=SurveyQuota.filled + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(done, "rowcount", 0):
            counted.append(quota.id)
        elif quota.action == QuotaAction.STOP:
            return None  # filled meanwhile (the transaction rolls the others back with it)
    for quota in matching:
        session.expire(quota, ["filled"])
    return counted


#: Whether a survey has quotas, by survey id and the time its row last changed.
_has_quotas: OrderedDict[tuple[int, datetime], bool] = OrderedDict()


def has_quotas(session: Session, survey: Survey) -> bool:
    """Whether the survey has quotas (known per process until its row changes: saving the
    settings touches it)."""
    key = (survey.id, survey.updated_at)
    if key not in _has_quotas:
        _has_quotas[key] = bool(
            session.scalar(select(exists().where(SurveyQuota.survey_id == survey.id)))
        )
        while len(_has_quotas) > _FORMS_KEPT:
            _has_quotas.popitem(last=False)
    return _has_quotas[key]


def full_quota(session: Session, survey_id: int, answers: Mapping[str, Any]) -> QuotaAction | None:
    """What a full quota the answers so far fall into does (stop first), or None."""
    survey = survey_of(session, survey_id)
    if survey is None or not has_quotas(session, survey):
        return None
    quotas = session.scalars(
        select(SurveyQuota).where(
            SurveyQuota.survey_id == survey_id, SurveyQuota.filled >= SurveyQuota.limit
        )
    ).all()
    actions = {q.action for q in quotas if _holds(q.condition, answers)}
    if QuotaAction.STOP in actions:
        return QuotaAction.STOP
    return QuotaAction.SKIP if actions else None


def _holds(condition: str, answers: Mapping[str, Any]) -> bool:
    try:
        return expressions.parse(condition).holds(answers)
    except expressions.ExpressionError:
        return False


def _count_response(session: Session, survey: Survey, now: datetime) -> None:
    """Raise the survey's count atomically; close it when it reaches its limit."""
    session.execute(
        update(Survey)
        .where(Survey.id == survey.id)
        .values(response_count=Survey.response_count + 1)
        .execution_options(synchronize_session=False)
    )
    session.expire(survey, ["response_count"])
    if survey.max_responses is not None and survey.response_count >= survey.max_responses:
        survey.status = SurveyStatus.CLOSED
        survey.closed_at = now
    session.flush()


def count_submissions(session: Session, survey_id: int) -> int:
    """Submissions of a survey (rehearsals not counted)."""
    return int(
        session.scalar(
            select(func.count()).where(
                SurveySubmission.survey_id == survey_id, SurveySubmission.test.is_(False)
            )
        )
        or 0
    )


def answers_for_submission(
    answers: Mapping[str, Any], questions: Sequence[FormQuestion]
) -> dict[str, Any]:
    """The answers of answerable questions only (what :func:`submit` stores)."""
    return {q.name: answers[q.name] for q in questions if q.answered and q.name in answers}
