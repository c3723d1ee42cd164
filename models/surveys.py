"""Surveys (LINEアンケート): definitions in versions, submissions and their answers.

A survey (``Survey``) holds what staff set once (audience, anonymity, open and close times,
limits); its questions live in versions (``SurveyVersion``). The draft version is edited in the
console or replaced by an XLSForm import; publishing freezes it, and changing a published
survey starts a new draft version, so every submission keeps to the version it answered.

What a resident answers stays in their dialog (``dialogs.data``) until they submit; then one
``SurveySubmission`` and its ``SurveyAnswer`` rows are written and the pending answers are
deleted. In an anonymous survey the submission has no resident and no time of day, and
"already answered" is known only from ``SurveyParticipant``'s keyed hash, which cannot be
turned back into a LINE user id.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, Created, IntPK, Updated, str_enum

#: Longest question or section name (XLSForm's ``name`` column).
NAME_LENGTH = 64
#: Longest kind name.
KIND_LENGTH = 24
#: Longest choice code.
CODE_LENGTH = 64
#: Texts in every language, by language code (``{"ja": "...", "en": "..."}``).
Texts = dict[str, str]


def random_id() -> str:
    """A random public id (32 hex digits): it says nothing about order or time."""
    return secrets.token_hex(16)


class SurveyStatus(StrEnum):
    """Where a survey is in its life."""

    #: Never published: editable; answerable only in rehearsal.
    DRAFT = "draft"
    #: Published: residents answer its current version between its open and close times.
    OPEN = "open"
    #: Closed by staff (or by its response limit): results only.
    CLOSED = "closed"


class QuotaAction(StrEnum):
    """What happens to a resident whose answers fall into a full quota."""

    #: The survey ends politely; nothing of theirs is kept.
    STOP = "stop"
    #: The rest of the questions are skipped; the answers so far are submitted.
    SKIP = "skip"


class Survey(Base):
    """A survey: its settings and lifecycle; the questions are in its versions."""

    __tablename__ = "surveys"
    __table_args__ = (
        CheckConstraint(
            "(status = 'draft') = (published_at IS NULL)", name="published_iff_not_draft"
        ),
        CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at_iff_closed"
        ),
        CheckConstraint(
            "estimated_minutes IS NULL OR estimated_minutes > 0", name="minutes_positive"
        ),
        CheckConstraint("max_responses IS NULL OR max_responses > 0", name="max_positive"),
        CheckConstraint("reminder_hours IS NULL OR reminder_hours > 0", name="reminder_positive"),
        CheckConstraint(
            "opens_at IS NULL OR closes_at IS NULL OR opens_at < closes_at",
            name="opens_before_close",
        ),
        CheckConstraint("response_count >= 0", name="response_count_not_negative"),
    )

    id: Mapped[IntPK]
    status: Mapped[SurveyStatus] = mapped_column(str_enum(SurveyStatus), default=SurveyStatus.DRAFT)
    #: Language shown to residents whose language the survey has no text in.
    default_language: Mapped[str] = mapped_column(String(8), default="ja")
    #: Answers kept with no link to the resident (see the module's docstring).
    anonymous: Mapped[bool] = mapped_column(default=False)
    #: One submission per resident (the default), or as many as they like.
    one_answer: Mapped[bool] = mapped_column(default=True)
    #: Minutes a resident needs, shown before they start.
    estimated_minutes: Mapped[int | None]
    #: The survey closes by itself after this many submissions (tests not counted).
    max_responses: Mapped[int | None]
    #: Open from (None: as soon as published).
    opens_at: Mapped[datetime | None]
    #: Open until (None: until staff close it).
    closes_at: Mapped[datetime | None]
    #: Who is asked: accepted values by resident attribute name (``bot.attributes``);
    #: None or empty for everyone.
    audience: Mapped[dict[str, list[str]] | None] = mapped_column(JSON)
    #: One reminder this many hours after a resident started and stopped (None: none).
    reminder_hours: Mapped[int | None]
    #: Offered in the greeting when a resident adds the account (the profile survey); at
    #: most one survey at a time is (set by ``surveys.settings``).
    offer_on_follow: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    #: Submissions so far (tests not counted); raised atomically at each submission.
    response_count: Mapped[int] = mapped_column(default=0, server_default="0")
    #: The published version residents answer now (None while a draft); set by publishing.
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("survey_versions.id", use_alter=True, ondelete="SET NULL")
    )
    #: The staff member who created it.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    created_at: Mapped[Created]
    updated_at: Mapped[Updated]
    #: First published.
    published_at: Mapped[datetime | None]
    #: Set exactly while closed.
    closed_at: Mapped[datetime | None]

    versions: Mapped[list[SurveyVersion]] = relationship(
        back_populates="survey",
        foreign_keys="SurveyVersion.survey_id",
        order_by="SurveyVersion.number",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    quotas: Mapped[list[SurveyQuota]] = relationship(
        back_populates="survey", order_by="SurveyQuota.name", cascade="all, delete-orphan"
    )

    @property
    def current_version(self) -> SurveyVersion | None:
        """The published version residents answer now (None while a draft)."""
        return next((v for v in self.versions if v.id == self.current_version_id), None)

    @property
    def draft(self) -> SurveyVersion | None:
        """The version being edited, if any."""
        return next((v for v in self.versions if v.published_at is None), None)


class SurveyVersion(Base):
    """One version of a survey's texts and questions; frozen once published."""

    __tablename__ = "survey_versions"
    __table_args__ = (
        Index("uq_survey_versions_number", "survey_id", "number", unique=True),
        # At most one draft (unpublished) version per survey.
        Index(
            "uq_survey_versions_one_draft",
            "survey_id",
            unique=True,
            sqlite_where=text("published_at IS NULL"),
            postgresql_where=text("published_at IS NULL"),
        ),
        CheckConstraint("number >= 1", name="number_positive"),
    )

    id: Mapped[IntPK]
    #: The survey.
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    #: 1 for the first version, one more for each change after publishing.
    number: Mapped[int] = mapped_column(default=1)
    #: Title by language.
    title: Mapped[Texts] = mapped_column(JSON, default=dict)
    #: Shown before the first question, by language.
    intro: Mapped[Texts] = mapped_column(JSON, default=dict)
    #: Shown after submitting, by language.
    thanks: Mapped[Texts] = mapped_column(JSON, default=dict)
    #: Sections (XLSForm groups): ``[{"name", "label": Texts, "relevant", "parent"}]`` in order.
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[Created]
    #: When published: from then on nothing in this version changes. None: the draft.
    published_at: Mapped[datetime | None]

    survey: Mapped[Survey] = relationship(back_populates="versions", foreign_keys=[survey_id])
    questions: Mapped[list[SurveyQuestion]] = relationship(
        back_populates="version",
        order_by="SurveyQuestion.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class SurveyQuestion(Base):
    """One question of a version: its kind (``surveys.kinds``), texts, logic and settings."""

    __tablename__ = "survey_questions"
    __table_args__ = (
        Index("uq_survey_questions_name", "version_id", "name", unique=True),
        Index("ix_survey_questions_position", "version_id", "position"),
        CheckConstraint("position >= 0", name="position_not_negative"),
        CheckConstraint("length(name) > 0", name="name_not_empty"),
    )

    id: Mapped[IntPK]
    #: The version it belongs to.
    version_id: Mapped[int] = mapped_column(ForeignKey("survey_versions.id", ondelete="CASCADE"))
    #: Order within the version, from 0.
    position: Mapped[int]
    #: XLSForm name: recalled as ``${name}``, the column code in exports; unique per version.
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    #: Question kind (a name of ``surveys.kinds.KINDS``).
    kind: Mapped[str] = mapped_column(String(KIND_LENGTH))
    #: The section (XLSForm group) it is in, by name, if any.
    section: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    #: The question by language.
    label: Mapped[Texts] = mapped_column(JSON, default=dict)
    #: A hint under it, by language.
    hint: Mapped[Texts] = mapped_column(JSON, default=dict)
    #: An answer is needed to go on.
    required: Mapped[bool] = mapped_column(default=False)
    #: Show-if condition on earlier answers (``surveys.expressions``), if any.
    relevant: Mapped[str | None] = mapped_column(Text)
    #: A condition the answer (``.``) must meet, if any.
    constraint: Mapped[str | None] = mapped_column("constraint_expr", Text)
    #: Said when the constraint fails, by language.
    constraint_message: Mapped[Texts] = mapped_column(JSON, default=dict)
    #: The kind's settings (choices, ranges, limits), checked by the kind.
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The resident attribute the answer sets (``bot.attributes``), if any.
    attribute: Mapped[str | None] = mapped_column(String(40))

    version: Mapped[SurveyVersion] = relationship(back_populates="questions")


class SurveyQuota(Base):
    """A limit on submissions whose answers meet a condition (e.g. 100 residents in their 20s)."""

    __tablename__ = "survey_quotas"
    __table_args__ = (
        Index("uq_survey_quotas_name", "survey_id", "name", unique=True),
        CheckConstraint("quota_limit > 0", name="limit_positive"),
        CheckConstraint("filled >= 0 AND filled <= quota_limit", name="filled_in_range"),
    )

    id: Mapped[IntPK]
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    #: Staff's name for it, unique per survey.
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    #: Which submissions count (an expression on the answers).
    condition: Mapped[str] = mapped_column(Text)
    #: How many may count.
    limit: Mapped[int] = mapped_column("quota_limit")
    #: What happens to a resident whose answers meet the condition once it is full.
    action: Mapped[QuotaAction] = mapped_column(str_enum(QuotaAction), default=QuotaAction.STOP)
    #: Submissions counted so far; raised atomically, never past ``limit``.
    filled: Mapped[int] = mapped_column(default=0, server_default="0")

    survey: Mapped[Survey] = relationship(back_populates="quotas")


class SurveySubmission(Base):
    """One resident's submitted answers to one version of a survey."""

    __tablename__ = "survey_submissions"
    __table_args__ = (
        Index("ix_survey_submissions_survey", "survey_id", "test", "version_id"),
        # Anonymous: no resident, no time of day.
        CheckConstraint(
            "NOT anonymous OR (resident_id IS NULL AND submitted_at IS NULL)",
            name="anonymous_unlinked",
        ),
        CheckConstraint("anonymous OR submitted_at IS NOT NULL", name="identified_has_time"),
        CheckConstraint(
            "duration_seconds IS NULL OR duration_seconds >= 0", name="duration_not_negative"
        ),
    )

    #: Random: ids must not tell in which order residents submitted.
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    #: The version answered (results keep to it).
    version_id: Mapped[int] = mapped_column(ForeignKey("survey_versions.id", ondelete="CASCADE"))
    #: The resident (None in anonymous surveys, or once the resident is deleted).
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="SET NULL"), index=True
    )
    #: Copied from the survey when submitted: the checks above rely on it.
    anonymous: Mapped[bool] = mapped_column(default=False)
    #: A rehearsal (staff, the simulator): never counted in results.
    test: Mapped[bool] = mapped_column(default=False)
    #: The day submitted, Asia/Tokyo.
    submitted_on: Mapped[date] = mapped_column(Date)
    #: When submitted (None in anonymous surveys).
    submitted_at: Mapped[datetime | None]
    #: From the first answer to the submission, in seconds.
    duration_seconds: Mapped[int | None]
    #: The language the resident answered in.
    language: Mapped[str] = mapped_column(String(8), default="ja")

    answers: Mapped[list[SurveyAnswer]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", passive_deletes=True
    )


class SurveyAnswer(Base):
    """One value of one answer: a choice, a number, a text, or a location or photo.

    A multiple choice answer is one row per chosen option (``ordinal`` 0, 1, ...); a multiple
    choice answered with no option is one row whose ``option`` is NULL. Unanswered and hidden
    questions have no row.
    """

    __tablename__ = "survey_answers"
    __table_args__ = (
        # Results count choices and numbers per question from these indexes alone (an
        # index-only scan in order; the submission is there to leave out rehearsals).
        Index(
            "ix_survey_answers_question_option",
            "question_id",
            "option",
            postgresql_include=["submission_id", "ordinal"],
        ),
        Index(
            "ix_survey_answers_question_number",
            "question_id",
            "number",
            postgresql_include=["submission_id"],
        ),
        CheckConstraint("ordinal >= 0", name="ordinal_not_negative"),
    )

    submission_id: Mapped[str] = mapped_column(
        ForeignKey("survey_submissions.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[int] = mapped_column(
        ForeignKey("survey_questions.id", ondelete="CASCADE"), primary_key=True
    )
    #: The value's place among a multiple choice answer's options (0 otherwise).
    ordinal: Mapped[int] = mapped_column(primary_key=True, default=0)
    #: A choice's code (single and multiple choice, yes/no, acknowledge).
    option: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    #: A number (integer, decimal, range).
    number: Mapped[float | None] = mapped_column(Float)
    #: Text: free text, or a date, time or date-time in ISO form (Asia/Tokyo).
    text: Mapped[str | None] = mapped_column(Text)
    #: A location (``latitude``, ``longitude``, ``address``) or a photo (``photo``: its id).
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    submission: Mapped[SurveySubmission] = relationship(back_populates="answers")


class SurveyPhoto(Base):
    """A photo a resident sent as an answer: stored when answered, bound at submission.

    A photo still unbound when its dialog ended is deleted by the retention job.
    """

    __tablename__ = "survey_photos"
    __table_args__ = (
        CheckConstraint("byte_size > 0", name="size_positive"),
        CheckConstraint("content_type IN ('image/jpeg', 'image/png')", name="content_type_image"),
    )

    #: Random, used in the staff's link to it.
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    #: The submission it belongs to (None until submitted).
    submission_id: Mapped[str | None] = mapped_column(
        ForeignKey("survey_submissions.id", ondelete="CASCADE"), index=True
    )
    #: ``image/jpeg`` or ``image/png``, judged from the bytes, never from LINE's header.
    content_type: Mapped[str] = mapped_column(String(32))
    byte_size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
    #: The day it was received (no time of day: anonymous surveys have photos too).
    received_on: Mapped[date] = mapped_column(Date)


class SurveyParticipant(Base):
    """Someone has submitted this survey: a keyed hash, never the resident.

    The key is HMAC-SHA256 of the LINE user id under a server secret and the survey id, so it
    enforces one answer per resident without linking to them or to their answers.
    """

    __tablename__ = "survey_participants"

    survey_id: Mapped[int] = mapped_column(
        ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True
    )
    #: Hex HMAC-SHA256.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)


class SurveyRehearser(Base):
    """A staff member's LINE account, linked to rehearse draft surveys in LINE.

    The staff member makes a short-lived one-time code on their account page and sends it
    to the bot; only the code's keyed hash is stored, and it is forgotten once used.
    """

    __tablename__ = "survey_rehearsers"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    #: The linked resident (the staff member's own LINE account); None until linked.
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), unique=True
    )
    #: Keyed hash (HMAC-SHA256, hex) of the pending code; None once used.
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    code_expires_at: Mapped[datetime | None]
    linked_at: Mapped[datetime | None]
