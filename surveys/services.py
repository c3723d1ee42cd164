"""Surveys' lifecycle: create, edit the draft, publish, change after publishing, close.

Verb-first functions that take a session, flush and never commit (docs/features.md). The
console builder, the XLSForm import and the CLI all go through them, so the rules live here
once: only a draft version changes; publishing freezes it and makes it the one residents
answer; changing a published survey starts a new draft version from the current one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.attributes import select_segment
from models import Resident, ResidentAttribute
from models.surveys import Survey, SurveyQuestion, SurveyStatus, SurveyVersion
from surveys.definition import (
    Definition,
    DefinitionError,
    Problem,
    check,
    check_condition,
    definition_of,
    store,
)

if TYPE_CHECKING:
    from surveys.xlsform import SurveyFile


class SurveyStateError(ValueError):
    """The survey is not in a state that allows this (e.g. publishing a closed survey)."""


def create_survey(
    session: Session,
    definition: Definition,
    *,
    created_by_id: int | None = None,
    anonymous: bool = False,
    one_answer: bool = True,
) -> Survey:
    """A new draft survey whose first version holds ``definition``.

    :raises DefinitionError: the definition has problems; nothing is stored.
    """
    problems = check(definition, anonymous=anonymous)
    if problems:
        raise DefinitionError(problems)
    survey = Survey(
        created_by_id=created_by_id,
        default_language=definition.default_language,
        anonymous=anonymous,
        one_answer=one_answer,
    )
    version = SurveyVersion(number=1)
    survey.versions.append(version)
    session.add(survey)
    session.flush()
    store(session, version, definition, anonymous=anonymous)
    return survey


def draft_version(session: Session, survey: Survey) -> SurveyVersion:
    """The survey's draft version, started from the current one if there is none yet.

    :raises SurveyStateError: the survey is closed.
    """
    if survey.status == SurveyStatus.CLOSED:
        raise SurveyStateError("a closed survey cannot change")
    if survey.draft is not None:
        return survey.draft
    current = survey.current_version
    if current is None:  # pragma: no cover - a survey has a draft until it is published
        raise SurveyStateError("the survey has no version")
    draft = SurveyVersion(number=max(v.number for v in survey.versions) + 1)
    survey.versions.append(draft)
    session.flush()
    store(
        session, draft, definition_of(current, survey.default_language), anonymous=survey.anonymous
    )
    return draft


def save_definition(session: Session, survey: Survey, definition: Definition) -> SurveyVersion:
    """Replace the draft's texts and questions (a published survey gets a new draft).

    :raises DefinitionError: the definition has problems; nothing changes.
    :raises SurveyStateError: the survey is closed.
    """
    problems = check(definition, anonymous=survey.anonymous)
    if problems:
        raise DefinitionError(problems)
    version = draft_version(session, survey)
    store(session, version, definition, anonymous=survey.anonymous)
    survey.default_language = definition.default_language
    return version


def publish(session: Session, survey: Survey, *, now: datetime) -> SurveyVersion:
    """Freeze the draft version and make it the one residents answer.

    Residents in the middle of an earlier version finish it; new starts get this one.

    :raises SurveyStateError: closed, or no draft to publish.
    :raises DefinitionError: the draft no longer passes the checks (a quota names a
        question it removed, say).
    """
    if survey.status == SurveyStatus.CLOSED:
        raise SurveyStateError("a closed survey cannot be published")
    draft = survey.draft
    if draft is None:
        raise SurveyStateError("there is no draft version to publish")
    definition = definition_of(draft, survey.default_language)
    problems = check(definition, anonymous=survey.anonymous) + _quota_problems(survey, definition)
    if problems:
        raise DefinitionError(problems)
    draft.published_at = now
    survey.current_version_id = draft.id
    if survey.status == SurveyStatus.DRAFT:
        survey.status = SurveyStatus.OPEN
        survey.published_at = now
    session.flush()
    return draft


def _quota_problems(survey: Survey, definition: Definition) -> list[Problem]:
    problems: list[Problem] = []
    for quota in survey.quotas:
        problems += check_condition(definition, quota.condition, quota.name)
    return problems


def close(session: Session, survey: Survey, *, now: datetime) -> None:
    """Close a survey: no more answers; results stay.

    :raises SurveyStateError: it was never published, or is closed already.
    """
    if survey.status != SurveyStatus.OPEN:
        raise SurveyStateError("only an open survey can be closed")
    survey.status = SurveyStatus.CLOSED
    survey.closed_at = now
    session.flush()


def is_open(survey: Survey, now: datetime) -> bool:
    """Whether residents may answer it now (published, not closed, within its times)."""
    return (
        survey.status == SurveyStatus.OPEN
        and (survey.opens_at is None or survey.opens_at <= now)
        and (survey.closes_at is None or now < survey.closes_at)
    )


def open_surveys(session: Session, resident: Resident, now: datetime) -> Sequence[Survey]:
    """The surveys open now whose audience includes the resident, newest first."""
    surveys = session.scalars(
        select(Survey)
        .where(Survey.status == SurveyStatus.OPEN)
        .where((Survey.opens_at.is_(None)) | (Survey.opens_at <= now))
        .where((Survey.closes_at.is_(None)) | (Survey.closes_at > now))
        .order_by(Survey.published_at.desc(), Survey.id.desc())
    ).all()
    return [survey for survey in surveys if in_audience(session, survey.audience, resident)]


def in_audience(
    session: Session, audience: Mapping[str, Sequence[str]] | None, resident: Resident
) -> bool:
    """Whether the resident matches every attribute condition (everyone, without any)."""
    if not audience:
        return True
    statement = select_segment(audience).where(ResidentAttribute.resident_id == resident.id)
    return session.scalar(statement) is not None


def questions_of(session: Session, version_id: int) -> Sequence[SurveyQuestion]:
    """A version's questions in order."""
    return session.scalars(
        select(SurveyQuestion)
        .where(SurveyQuestion.version_id == version_id)
        .order_by(SurveyQuestion.position)
    ).all()


def import_survey(
    session: Session, survey_file: SurveyFile, *, created_by_id: int | None = None
) -> Survey:
    """A new draft survey from an XLSForm workbook's contents (``surveys.xlsform``), with the
    settings the workbook carries.

    :raises DefinitionError: the definition has problems; nothing is stored.
    """
    options = survey_file.options
    survey = create_survey(
        session,
        survey_file.definition,
        created_by_id=created_by_id,
        anonymous=options.anonymous,
        one_answer=options.one_answer,
    )
    survey.estimated_minutes = options.estimated_minutes
    session.flush()
    return survey
