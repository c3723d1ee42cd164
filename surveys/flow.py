"""The survey dialog: one question at a time, 戻る, a summary with 送信 / 修正, the thanks.

A data-driven flow (docs/dialogs.md): the family ``q`` has one state per question,
``q:<position>`` (0-based, ``SurveyQuestion.position``), then ``summary``. The dialog's
``subject_id`` is the ``SurveyVersion`` answered; ``data`` holds the pending answers keyed by
question name, and ``@``-keys of the flow's own (``@started_at``, ...: see
``surveys.answering``). Notes are said together with the question after them.

Each question's messages and parsing come from its kind (``surveys.kinds``: ``prompt`` and
``parse``); show-if conditions, constraints and ``${name}`` recall are evaluated with
``surveys.expressions``. The diagram is ``surveys/flow.mmd``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from bot.dialog import (
    END,
    STAY,
    Arrival,
    Entry,
    Flow,
    Start,
    Step,
    StepContext,
    TimeoutPolicy,
    Transition,
    state_of,
)
from bot.incoming import Incoming
from bot.messages import (
    Action,
    Message,
    bubble,
    carousel,
    flex,
    flex_text,
    postback_button,
    text,
    with_main_menu,
)
from bot.postback import PostbackData
from bot.routing import Kind, Postback, Predicate, Text
from models import Dialog, Resident
from models.surveys import QuotaAction, Survey
from surveys import answering, rehearsal
from surveys.answering import (
    EDITING,
    QUESTION,
    SELECTING,
    STARTED_AT,
    STOPPED,
    SUMMARY,
    TEST,
    Form,
    FormQuestion,
    Outcome,
)
from surveys.kinds import (
    ANSWER,
    DONE,
    KINDS,
    MAX_QUICK_REPLIES,
    PER_BUBBLE,
    PICK,
    TOGGLE,
    Asking,
    InvalidAnswer,
    PhotoUpload,
    localized,
)

#: Entry points: a resident's start (or resume) and a staff member's rehearsal of a draft.
START, REHEARSE = "survey.start", "survey.rehearse"
BACK, SKIP, SUBMIT, EDIT, FIX = (
    "survey.back",
    "survey.skip",
    "survey.submit",
    "survey.edit",
    "survey.fix",
)


@dataclass(frozen=True)
class Guarded(Predicate):
    """A postback of ``action`` that carries its dialog's id and version: a survey button
    without them was not sent by the flow (tampered), and is left to the router."""

    action: str

    def __call__(self, incoming: Incoming) -> bool:
        postback = incoming.postback
        return (
            postback is not None
            and postback.action == self.action
            and (postback.dialog_id is not None)
        )

    def literals(self) -> frozenset[Any]:
        return frozenset({("postback", self.action)})


#: Typed words that go back one question.
BACK_WORDS = Text("戻る", "もどる", "back")
#: What answers a question: any message, or one of the question buttons.
ANSWERING = Kind("message") | Guarded(ANSWER) | Guarded(TOGGLE) | Guarded(DONE) | Guarded(PICK)
#: Longest summary text (LINE allows 5,000; the rest is cut with …).
_SUMMARY_CHARS = 3000


@dataclass
class Subject:
    """What the flow loads once per event: the form, and the session for photos."""

    form: Form
    session: Session

    def store_photo(self, upload: PhotoUpload, now: datetime) -> str:
        """Keep a photo answer (bound to the submission later); its id."""
        return answering.store_photo(self.session, self.form.survey_id, upload, now)


def load_subject(session: Session, dialog: Dialog) -> Subject:
    """The form of the version the dialog answers."""
    form = answering.form_of(session, dialog.subject_id or 0)
    if form is None:
        raise LookupError(f"survey version {dialog.subject_id} is gone")
    return Subject(form, session)


# -- prompts ------------------------------------------------------------------------------------


def _question_at(ctx: StepContext) -> FormQuestion:
    question = answering.by_position(ctx.subject.form, int(ctx.key or 0))
    if question is None:
        raise LookupError(f"survey version {ctx.subject_id} has no question at {ctx.state}")
    return question


def _navigation(ctx: StepContext, question: FormQuestion) -> tuple[Action, ...]:
    form: Form = ctx.subject.form
    actions: list[Action] = []
    if answering.previous_question(form, ctx.data, question.position) is not None:
        actions.append(postback_button(_("Back"), ctx.button_data(BACK)))
    if not question.required:
        actions.append(postback_button(_("Skip"), ctx.button_data(SKIP)))
    actions.append(postback_button(_("Cancel"), PostbackData("dialog.cancel")))
    return tuple(actions)


def _notes(ctx: StepContext, position: int | None) -> str:
    form: Form = ctx.subject.form
    answers = answering.effective(form, ctx.data)
    said = [
        answering.shown_text(form, answers, ctx.language, note.label)
        for note in answering.notes_before(form, ctx.data, position)
    ]
    return "".join(f"{note}\n\n" for note in said if note)


def question_body(form: Form, question: FormQuestion, answers: Any, language: str) -> str:
    """The question as the resident reads it: progress, label with recall, hint."""
    label = answering.shown_text(form, answers, language, question.label)
    body = f"({form.numbers.get(question.position, 0)}/{form.total}) {label}"
    if question.hint:
        body += "\n" + answering.shown_text(form, answers, language, question.hint)
    return body


def prompt(ctx: StepContext) -> Sequence[Message]:
    """Asks the current question (with the notes before it), or shows the summary."""
    if ctx.family == SUMMARY:
        return _summary(ctx)
    form: Form = ctx.subject.form
    question = _question_at(ctx)
    answers = answering.effective(form, ctx.data)
    current = ctx.data.get(SELECTING, ctx.data.get(question.name))
    asking = Asking(
        body=_notes(ctx, question.position) + question_body(form, question, answers, ctx.language),
        language=ctx.language,
        default=form.default_language,
        button=ctx.button_data,
        current=current,
        navigation=_navigation(ctx, question),
    )
    return KINDS[question.kind].prompt(question, asking)


def _summary(ctx: StepContext) -> list[Message]:
    form: Form = ctx.subject.form
    answers = answering.effective(form, ctx.data)
    lines = []
    for question in form.questions:
        if not question.answered or question.name not in answers:
            continue
        label = answering.shown_text(form, answers, ctx.language, question.label)
        shown = KINDS[question.kind].show(
            question, answers[question.name], ctx.language, form.default_language
        )
        lines.append(f"・{label}\n　→ {shown}")
    listing = "\n".join(lines) or _("(no answers)")
    if len(listing) > _SUMMARY_CHARS:
        listing = listing[: _SUMMARY_CHARS - 1] + "…"
    body = (
        _notes(ctx, None)
        + _("Please check your answers.")
        + "\n\n"
        + listing
        + "\n\n"
        + _("Tap Send to submit, or Fix answers to change one.")
    )
    buttons = [
        postback_button(_("Send"), ctx.button_data(SUBMIT)),
        postback_button(_("Fix answers"), ctx.button_data(EDIT)),
    ]
    if answering.previous_question(form, ctx.data, 1 << 30) is not None:
        buttons.append(postback_button(_("Back"), ctx.button_data(BACK)))
    buttons.append(postback_button(_("Cancel"), PostbackData("dialog.cancel")))
    return [text(body, buttons)]


# -- steps ------------------------------------------------------------------------------------


def _after(ctx: StepContext, data: dict[str, Any], position: int) -> str:
    """The state after answering the question at ``position``."""
    form: Form = ctx.subject.form
    merged = {**ctx.data, **data}
    merged = {k: v for k, v in merged.items() if v is not None}
    following = answering.next_question(
        form, merged, position, unanswered=bool(merged.get(EDITING))
    )
    return SUMMARY if following is None else state_of(QUESTION, following.position)


def answer(ctx: StepContext, incoming: Incoming) -> Transition:
    """Parses the answer with the question's kind, checks it, keeps it and moves on."""
    form: Form = ctx.subject.form
    question = _question_at(ctx)
    kind = KINDS[question.kind]
    try:
        parsed = kind.parse(
            question, incoming, ctx.data.get(SELECTING, ctx.data.get(question.name))
        )
        value = parsed.value
        if not parsed.done:
            return Transition(STAY, data={SELECTING: value})
        if question.required and value in (None, "", []):
            raise InvalidAnswer(_("This question needs an answer."))
        if question.constraint is not None and not isinstance(value, PhotoUpload):
            answers = answering.effective(form, ctx.data)
            if not question.constraint.holds(answers, value):
                message = localized(
                    question.constraint_message, ctx.language, form.default_language
                )
                raise InvalidAnswer(message or _("That answer is not accepted here."))
    except InvalidAnswer as problem:
        return Transition(STAY, (text(problem.message),))
    if isinstance(value, PhotoUpload):
        value = {"photo": ctx.subject.store_photo(value, ctx.now)}
    data: dict[str, Any] = {question.name: value, SELECTING: None}
    quota = answering.full_quota(
        ctx.subject.session,
        form.survey_id,
        answering.effective(form, {**ctx.data, question.name: value}),
    )
    if quota == QuotaAction.STOP and not ctx.data.get(TEST):
        return Transition(END, data={STOPPED: "quota"})
    if quota == QuotaAction.SKIP and not ctx.data.get(TEST):
        return Transition(SUMMARY, data={**data, EDITING: True})
    return Transition(_after(ctx, data, question.position), data=data)


def skip(ctx: StepContext, incoming: Incoming) -> Transition:
    """Leaves an optional question unanswered."""
    question = _question_at(ctx)
    if question.required:
        return Transition(STAY, (text(_("This question needs an answer.")),))
    data: dict[str, Any] = {question.name: None, SELECTING: None}
    return Transition(_after(ctx, data, question.position), data=data)


def back(ctx: StepContext, incoming: Incoming) -> Transition:
    """Goes to the previous question shown (its answer is kept until changed)."""
    form: Form = ctx.subject.form
    position = 1 << 30 if ctx.family == SUMMARY else int(ctx.key or 0)
    previous = answering.previous_question(form, ctx.data, position)
    if previous is None:
        return Transition(STAY, (text(_("This is the first question.")),))
    return Transition(state_of(QUESTION, previous.position), data={SELECTING: None})


def submit(ctx: StepContext, incoming: Incoming) -> Transition:
    """送信: the dialog ends and ``complete`` writes the submission."""
    return Transition(END)


def edit(ctx: StepContext, incoming: Incoming) -> Transition:
    """修正: a list of the answered questions; a tap on one asks it again."""
    form: Form = ctx.subject.form
    answers = answering.effective(form, ctx.data)
    buttons = []
    for question in form.questions:
        if question.answered and answering.is_shown(question, answers):
            number = form.numbers[question.position]
            label = answering.shown_text(form, answers, ctx.language, question.label)
            buttons.append(
                postback_button(
                    f"{number}. {label}"[:40],
                    ctx.button_data(FIX, q=str(question.position)),
                    display_text=f"{number}. {label}"[:300],
                )
            )
    buttons = buttons[: PER_BUBBLE * 12]
    heading = _("Which answer do you want to change?")
    pages = [buttons[i : i + PER_BUBBLE] for i in range(0, len(buttons), PER_BUBBLE)]
    bubbles = [bubble([flex_text(heading, bold=True)], buttons=page) for page in pages]
    if not bubbles:
        return Transition(STAY, (text(_("There is nothing to change.")),))
    contents = carousel(bubbles) if len(bubbles) > 1 else bubbles[0]
    return Transition(STAY, (flex(heading, contents),))


def fix(ctx: StepContext, incoming: Incoming) -> Transition:
    """Asks the chosen question again; after it, back to the summary."""
    form: Form = ctx.subject.form
    position = incoming.postback.get_int("q") if incoming.postback is not None else None
    question = answering.by_position(form, position) if position is not None else None
    answers = answering.effective(form, ctx.data)
    if question is None or not question.answered or not answering.is_shown(question, answers):
        return Transition(STAY, (text(_("That question cannot be changed here.")),))
    return Transition(state_of(QUESTION, question.position), data={EDITING: True})


def complete(session: Session, dialog: Dialog, ctx: StepContext) -> Sequence[Message]:
    """Writes the submission (or says why it could not be), deletes the pending answers and
    thanks the resident."""
    form: Form = ctx.subject.form
    data = dict(dialog.data)
    # The pending answers go; what the results' funnel needs stays: a rehearsal is not a
    # resident's (surveys.results.funnel leaves it out), a quota stop is not a completion.
    dialog.data = {key: data[key] for key in (TEST, STOPPED) if data.get(key)}
    if data.get(STOPPED):
        return [
            with_main_menu(
                _(
                    "Thank you. This survey has all the answers it needs from "
                    "residents like you, so it ends here. Nothing was kept."
                )
            )
        ]
    resident = session.get(Resident, dialog.resident_id)
    if resident is None:
        return []
    outcome = answering.submit(
        session,
        form,
        resident,
        data,
        now=ctx.now,
        language=ctx.language,
        secret=current_app.config["SECRET_KEY"],
    )
    if outcome == Outcome.CLOSED:
        return [with_main_menu(_("This survey has closed. Your answers were not sent."))]
    if outcome == Outcome.ANSWERED:
        return [with_main_menu(_("You have already answered this survey."))]
    if outcome == Outcome.QUOTA:
        return [
            with_main_menu(
                _(
                    "Thank you. This survey has all the answers it needs from "
                    "residents like you, so it ends here. Nothing was kept."
                )
            )
        ]
    thanks = localized(form.thanks, ctx.language, form.default_language)
    closing = thanks or _("Thank you for answering.")
    if data.get(TEST):
        closing = _("(Rehearsal: stored as a test, not counted in results.)") + "\n" + closing
    return [with_main_menu(closing)]


# -- starting ---------------------------------------------------------------------------------


def start_for(form: Form, now: datetime, language: str, *, test: bool) -> Start:
    """How a dialog on ``form`` starts: the intro, then the first question."""
    first = answering.next_question(form, {}, -1)
    state = SUMMARY if first is None else state_of(QUESTION, first.position)
    title = localized(form.title, language, form.default_language)
    intro = localized(form.intro, language, form.default_language)
    opening = "\n\n".join(part for part in (f"【{title}】", intro) if part.strip("【】"))
    opening += "\n\n" + _(
        "%(count)d questions. Send キャンセル to stop at any time.", count=form.total
    )
    if test:
        opening = _("Rehearsal of a draft: answers are stored as tests.") + "\n" + opening
    data: dict[str, Any] = {STARTED_AT: now.isoformat()}
    if test:
        data[TEST] = True
    return Start(state, data=data, subject_id=form.version_id, replies=(text(opening[:4900]),))


def _tapped(arrival: Arrival) -> Survey | None:
    """The survey a start or rehearse button names (its ``id``)."""
    postback = arrival.incoming.postback
    survey_id = postback.get_int("id") if postback is not None else None
    return arrival.session.get(Survey, survey_id) if survey_id is not None else None


def start(arrival: Arrival) -> Start | None:
    """A resident's tap on a survey of the list (``surveys.guard`` has said why not already
    when they may not; this declines then too)."""
    survey = _tapped(arrival)
    secret = current_app.config["SECRET_KEY"]
    if survey is None or answering.refusal(
        arrival.session, survey, arrival.resident, arrival.now, secret
    ):
        return None
    form = answering.form_of(arrival.session, survey.current_version_id or 0)
    if form is None:
        return None
    return start_for(form, arrival.now, arrival.resident.language, test=False)


def rehearse(arrival: Arrival) -> Start | None:
    """A linked staff member (or the simulator) answering a survey's draft: stored as a
    test (declined for anyone else)."""
    session = arrival.session
    survey = _tapped(arrival)
    if survey is None or survey.draft is None:
        return None
    if not rehearsal.may_rehearse(session, arrival.resident):
        return None
    form = answering.form_of(session, survey.draft.id)
    if form is None:
        return None
    return start_for(form, arrival.now, arrival.resident.language, test=True)


SURVEY_FLOW = Flow(
    name=answering.FLOW,
    entry_points=(Entry(Postback(START), start), Entry(Postback(REHEARSE), rehearse)),
    states={
        QUESTION: (
            Step(Guarded(BACK) | BACK_WORDS, back),
            Step(Guarded(SKIP), skip),
            Step(ANSWERING, answer),
        ),
        SUMMARY: (
            Step(Guarded(SUBMIT), submit),
            Step(Guarded(EDIT), edit),
            Step(Guarded(FIX), fix),
            Step(Guarded(BACK) | BACK_WORDS, back),
        ),
    },
    transitions={QUESTION: (QUESTION, SUMMARY, STAY, END), SUMMARY: (QUESTION, STAY, END)},
    prompt=prompt,
    on_complete=complete,
    load_subject=load_subject,
    on_timeout=TimeoutPolicy.PARK,
    timeout=timedelta(minutes=30),
    park_for=timedelta(days=30),
    prompt_size=2,
    cancel_text=_l("Cancelled. Your answers were not sent."),
)

__all__ = ["MAX_QUICK_REPLIES", "SURVEY_FLOW"]
