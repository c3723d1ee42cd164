"""A survey's life: created as a draft, published (frozen), changed as a new version, closed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.db import Database
from models import Resident
from models.base import utcnow
from models.surveys import Survey, SurveyQuota, SurveyStatus
from surveys.definition import Definition, DefinitionError, Question, definition_of
from surveys.services import (
    SurveyStateError,
    close,
    create_survey,
    is_open,
    open_surveys,
    publish,
    save_definition,
)
from tests.conftest import ResidentRowFactory

FIRST = Definition(
    title={"ja": "満足度調査"},
    questions=(Question("score", "range", {"ja": "満足度は？"}, required=True),),
)


def test_draft_publish_change_close(db: Database) -> None:
    now = utcnow()
    with db.unit_of_work() as session:
        survey = create_survey(session, FIRST)
        assert survey.status == SurveyStatus.DRAFT
        assert not is_open(survey, now)
        # Editing a draft replaces its one version.
        changed = replace(FIRST, title={"ja": "県民満足度調査"})
        assert save_definition(session, survey, changed).number == 1
        first = publish(session, survey, now=now)
        assert survey.status == SurveyStatus.OPEN
        assert survey.current_version is first
        assert is_open(survey, now)
        # Changing a published survey makes version 2; version 1 stays as it was.
        more = replace(
            changed, questions=(*changed.questions, Question("why", "text", {"ja": "理由"}))
        )
        second = save_definition(session, survey, more)
        assert second.number == 2
        assert second.published_at is None
        assert survey.current_version is first
        assert [q.name for q in definition_of(first, "ja").questions] == ["score"]
        publish(session, survey, now=now)
        assert survey.current_version is second
        with pytest.raises(SurveyStateError, match="no draft version"):
            publish(session, survey, now=now)
        close(session, survey, now=now)
        assert not is_open(survey, now)
        with pytest.raises(SurveyStateError, match="closed survey cannot change"):
            save_definition(session, survey, FIRST)
        with pytest.raises(SurveyStateError, match="only an open survey"):
            close(session, survey, now=now)


def test_a_new_draft_starts_from_the_published_version(db: Database) -> None:
    with db.unit_of_work() as session:
        survey = create_survey(session, FIRST)
        publish(session, survey, now=utcnow())
        from surveys.services import draft_version

        draft = draft_version(session, survey)
        assert draft.number == 2
        assert definition_of(draft, "ja") == definition_of(survey.versions[0], "ja")


def test_publishing_checks_quotas_against_the_draft(db: Database) -> None:
    with db.unit_of_work() as session:
        survey = create_survey(session, FIRST)
        survey.quotas.append(SurveyQuota(name="fans", condition="${gone} >= 4", limit=10))
        with pytest.raises(DefinitionError, match=r"fans: condition: \$\{gone\} is not a question"):
            publish(session, survey, now=utcnow())
        assert survey.status == SurveyStatus.DRAFT


def test_open_times_and_audience(db: Database, resident_row: ResidentRowFactory) -> None:
    now = utcnow()
    maebashi = resident_row(attributes={"municipality": "10201"})
    takasaki = resident_row(attributes={"municipality": "10202"})
    with db.unit_of_work() as session:
        everyone = create_survey(session, FIRST)
        local = create_survey(session, FIRST)
        local.audience = {"municipality": ["10201"]}
        later = create_survey(session, FIRST)
        later.opens_at = now + timedelta(days=1)
        ended = create_survey(session, FIRST)
        ended.closes_at = now - timedelta(seconds=1)
        ended.opens_at = now - timedelta(days=1)
        draft = create_survey(session, FIRST)
        for survey in (everyone, local, later, ended):
            publish(session, survey, now=now)
        ids = {"everyone": everyone.id, "local": local.id, "draft": draft.id}

    def visible(resident: Resident) -> set[int]:
        with db.unit_of_work() as session:
            return {s.id for s in open_surveys(session, session.merge(resident), now)}

    assert visible(maebashi) == {ids["everyone"], ids["local"]}
    assert visible(takasaki) == {ids["everyone"]}
    with db.unit_of_work() as session:
        assert session.get_one(Survey, ids["draft"]).status == SurveyStatus.DRAFT
