"""A survey's settings, which are not versioned: who answers how often, limits, quotas,
audience, open and close times, the reminder.

:func:`settings_of` reads them; :func:`update_settings` checks them all at once (every problem
names its field, like ``surveys.definition.check``) and writes them, or changes nothing.
Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.attributes import MAX_SEGMENT_VALUES, check_attribute_name, check_attribute_value
from models.base import utcnow
from models.surveys import NAME_LENGTH, QuotaAction, Survey, SurveyQuota, SurveyStatus
from surveys.definition import NAME, Definition, DefinitionError, Problem, check, check_condition
from surveys.definition import definition_of as _definition_of

#: Longest estimate a survey may give (a LINE survey is short).
MAX_MINUTES = 120
#: Most responses a limit may name, and longest a reminder may wait (a week).
MAX_RESPONSES = 1_000_000
MAX_REMINDER_HOURS = 7 * 24
#: Most quotas a survey may have.
MAX_QUOTAS = 20


@dataclass(frozen=True)
class Quota:
    """A quota as staff set it (``models.surveys.SurveyQuota``)."""

    name: str
    condition: str
    limit: int
    action: QuotaAction = QuotaAction.STOP


@dataclass(frozen=True)
class Settings:
    """Everything about a survey that is not its questions (see ``models.surveys.Survey``)."""

    one_answer: bool = True
    anonymous: bool = False
    estimated_minutes: int | None = None
    max_responses: int | None = None
    #: Aware datetimes (shown and entered in Asia/Tokyo by the console).
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    reminder_hours: int | None = None
    #: Accepted values by resident attribute; empty for everyone.
    audience: Mapping[str, Sequence[str]] = field(default_factory=dict)
    quotas: tuple[Quota, ...] = ()
    #: Offered in the greeting when a resident adds the account (one survey at a time).
    offer_on_follow: bool = False


def settings_of(survey: Survey) -> Settings:
    """A survey's settings as they are stored."""
    return Settings(
        one_answer=survey.one_answer,
        anonymous=survey.anonymous,
        estimated_minutes=survey.estimated_minutes,
        max_responses=survey.max_responses,
        opens_at=survey.opens_at,
        closes_at=survey.closes_at,
        reminder_hours=survey.reminder_hours,
        audience={name: list(values) for name, values in (survey.audience or {}).items()},
        quotas=tuple(Quota(q.name, q.condition, q.limit, q.action) for q in survey.quotas),
        offer_on_follow=survey.offer_on_follow,
    )


def latest_definition(survey: Survey) -> Definition:
    """The definition being edited (the draft), else the published one."""
    version = survey.draft or survey.current_version or survey.versions[-1]
    return _definition_of(version, survey.default_language)


def _positive(problems: list[Problem], name: str, value: int | None, limit: int) -> None:
    if value is not None and not 1 <= value <= limit:
        problems.append(Problem(None, name, f"must be between 1 and {limit}"))


def check_settings(survey: Survey, settings: Settings) -> list[Problem]:
    """Every problem of ``settings`` for ``survey`` (empty when they can be saved)."""
    problems: list[Problem] = []
    published = survey.status != SurveyStatus.DRAFT
    if published and settings.anonymous != survey.anonymous:
        problems.append(
            Problem(None, "anonymous", "cannot change once published: residents answered it so")
        )
    definition = latest_definition(survey)
    if settings.anonymous and not survey.anonymous:
        problems += [
            Problem(None, "anonymous", f"{p.subject}: {p.message}")
            for p in check(definition, anonymous=True)
            if p.field == "attribute"
        ]
    _positive(problems, "estimated_minutes", settings.estimated_minutes, MAX_MINUTES)
    _positive(problems, "max_responses", settings.max_responses, MAX_RESPONSES)
    _positive(problems, "reminder_hours", settings.reminder_hours, MAX_REMINDER_HOURS)
    if settings.max_responses is not None and settings.max_responses < survey.response_count:
        problems.append(
            Problem(None, "max_responses", f"is below the {survey.response_count} responses so far")
        )
    for name in ("opens_at", "closes_at"):
        moment = getattr(settings, name)
        if moment is not None and moment.tzinfo is None:
            problems.append(Problem(None, name, "needs a time zone"))
    if (
        settings.opens_at is not None
        and settings.closes_at is not None
        and settings.closes_at <= settings.opens_at
    ):
        problems.append(Problem(None, "closes_at", "must be after the opening time"))
    problems += _audience_problems(settings.audience)
    problems += _quota_problems(survey, settings.quotas, definition)
    return problems


def _audience_problems(audience: Mapping[str, Sequence[str]]) -> list[Problem]:
    problems = []
    for name, values in audience.items():
        try:
            check_attribute_name(name)
            if isinstance(values, str) or not values:
                raise ValueError(f"attribute {name!r} needs at least one value")
            if len(values) > MAX_SEGMENT_VALUES:
                raise ValueError(f"attribute {name!r} lists more than {MAX_SEGMENT_VALUES} values")
            for value in values:
                check_attribute_value(name, value)
        except ValueError as error:
            problems.append(Problem(None, "audience", str(error)))
    return problems


def _quota_problems(
    survey: Survey, quotas: Sequence[Quota], definition: Definition
) -> list[Problem]:
    problems: list[Problem] = []
    if len(quotas) > MAX_QUOTAS:
        problems.append(Problem(None, "quotas", f"a survey may have at most {MAX_QUOTAS} quotas"))
    filled = {q.name: q.filled for q in survey.quotas}
    seen: set[str] = set()
    for quota in quotas:
        if not NAME.fullmatch(quota.name) or len(quota.name) > NAME_LENGTH:
            message = "must start with a letter or _ and have only letters, digits, _ . -"
            problems.append(Problem(quota.name, "name", message))
        elif quota.name in seen:
            problems.append(Problem(quota.name, "name", "is used twice"))
        seen.add(quota.name)
        if not 1 <= quota.limit <= MAX_RESPONSES:
            problems.append(Problem(quota.name, "limit", f"must be between 1 and {MAX_RESPONSES}"))
        elif quota.limit < filled.get(quota.name, 0):
            problems.append(
                Problem(quota.name, "limit", f"is below the {filled[quota.name]} counted so far")
            )
        if not quota.condition.strip():
            problems.append(Problem(quota.name, "condition", "is needed"))
        else:
            problems += check_condition(definition, quota.condition, quota.name)
    return problems


def update_settings(session: Session, survey: Survey, settings: Settings) -> None:
    """Save a survey's settings; a quota keeps its count while its name stays.

    :raises DefinitionError: the settings have problems; nothing changes.
    """
    problems = check_settings(survey, settings)
    if problems:
        raise DefinitionError(problems)
    survey.one_answer = settings.one_answer
    survey.anonymous = settings.anonymous
    survey.estimated_minutes = settings.estimated_minutes
    survey.max_responses = settings.max_responses
    survey.opens_at = settings.opens_at
    survey.closes_at = settings.closes_at
    survey.reminder_hours = settings.reminder_hours
    survey.audience = {name: list(values) for name, values in settings.audience.items()} or None
    if settings.offer_on_follow and not survey.offer_on_follow:
        session.execute(
            update(Survey)
            .where(Survey.id != survey.id, Survey.offer_on_follow.is_(True))
            .values(offer_on_follow=False)
            .execution_options(synchronize_session=False)
        )
    survey.offer_on_follow = settings.offer_on_follow
    existing = {quota.name: quota for quota in survey.quotas}
    kept = []
    for quota in settings.quotas:
        row = existing.get(quota.name) or SurveyQuota(name=quota.name, filled=0)
        row.condition = quota.condition.strip()
        row.limit = quota.limit
        row.action = quota.action
        kept.append(row)
    survey.quotas = kept
    # Quotas are rows of their own: touch the survey too, so what is read from it
    # (``surveys.answering.has_quotas``) is read again.
    survey.updated_at = utcnow()
    session.flush()
