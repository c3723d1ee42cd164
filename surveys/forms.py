"""The survey builder's forms: what staff typed, read into definition parts and settings.

A question form has a field per language for each text (``label.ja``, ``label.en``...), and
its kind's settings: option rows (``choice.3.code``, ``choice.3.label.ja``), bounds, unit,
range. Reading never fails: what cannot be read becomes a :class:`~surveys.definition.Problem`
naming the field, beside those the definition's checks find, so every problem shows at its
field. The CSRF token is Flask-WTF's (the views validate an ``EmptyForm``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from werkzeug.datastructures import MultiDict

from bot.console.forms import ConsoleForm
from bot.console.stats import TOKYO
from models.surveys import QuotaAction
from surveys.definition import Definition, Problem, Question, Section
from surveys.kinds import KINDS, MAX_CHOICES, YesNo
from surveys.settings import Quota, Settings

#: How each kind is called in the console.
KIND_LABELS: Mapping[str, Any] = {
    "single_choice": _l("Single choice"),
    "multiple_choice": _l("Multiple choice"),
    "yes_no": _l("Yes / no"),
    "text": _l("Free text"),
    "integer": _l("Whole number"),
    "decimal": _l("Number"),
    "range": _l("Rating (range)"),
    "date": _l("Date"),
    "time": _l("Time"),
    "datetime": _l("Date and time"),
    "photo": _l("Photo"),
    "location": _l("Location"),
    "acknowledge": _l("Acknowledge (OK button)"),
    "note": _l("Note (text only)"),
}
#: Language names shown beside text fields.
LANGUAGE_LABELS: Mapping[str, str] = {"ja": "日本語", "en": "English"}
#: Empty option rows offered under the filled ones.
SPARE_ROWS = 3
#: Most rows a form may post (options, quotas).
MAX_ROWS = MAX_CHOICES + 20
#: How a kind's problem names an option row ("option 3: ...").
OPTION = re.compile(r"\boption (\d+)\b")
_AUDIENCE_LINE = re.compile(r"^\s*([^=:]+?)\s*[=:]\s*(.+?)\s*$")


#: A submitted form (``request.form``).
FormData = MultiDict[str, str]


class UploadForm(ConsoleForm):
    """An XLSForm workbook to import."""

    file = FileField(_l("XLSForm workbook (.xlsx)"), validators=[FileRequired()])


def form_languages(definition: Definition) -> list[str]:
    """The languages a form offers fields for: the default, Japanese, English, then any
    other language the survey has texts in (from an XLSForm import)."""
    return list(dict.fromkeys([definition.default_language, "ja", "en", *definition.languages]))


def _stripped(form: FormData, key: str) -> str:
    return form.get(key, "").strip()


def _optional(form: FormData, key: str) -> str | None:
    return _stripped(form, key) or None


def texts(form: FormData, name: str, languages: Sequence[str]) -> dict[str, str]:
    """A text field's values by language (empty ones left out)."""
    values = {language: _stripped(form, f"{name}.{language}") for language in languages}
    return {language: value for language, value in values.items() if value}


def _rows(form: FormData, prefix: str) -> range:
    count = form.get(f"{prefix}_rows", "0")
    return range(min(int(count), MAX_ROWS) if count.isdigit() else 0)


# -- questions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionInput:
    """A question form as read: the question, and the form row of each option."""

    question: Question
    #: ``option_rows[n]``: the form row of option n + 1 (problems say "option 3").
    option_rows: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_question(form: FormData, languages: Sequence[str], kind: str) -> QuestionInput:
    """The question a question form describes (of ``kind``; its settings as typed, for the
    kind to check)."""
    name = _stripped(form, "name")
    config: dict[str, Any] = {}
    option_rows: list[int] = []
    problems: list[Problem] = []
    if kind in ("single_choice", "multiple_choice", "yes_no"):
        config["choices"], option_rows = _choices(form, languages, kind)
    for setting in ("min", "max", "max_length", "start", "end", "step"):
        if setting in KINDS[kind].settings:
            config[setting] = _optional(form, setting)
    if "unit" in KINDS[kind].settings:
        config["unit"] = texts(form, "unit", languages)
    attribute = _optional(form, "attribute")
    question = Question(
        name=name,
        kind=kind,
        label=texts(form, "label", languages),
        hint=texts(form, "hint", languages),
        required="required" in form.getlist("required") or form.get("required") == "y",
        relevant=_optional(form, "relevant"),
        constraint=_optional(form, "constraint") if KINDS[kind].answered else None,
        constraint_message=texts(form, "constraint_message", languages),
        config=config,
        section=_optional(form, "section"),
        attribute=attribute if kind in ("single_choice", "yes_no") else None,
    )
    if attribute and question.attribute is None:
        message = "only single choice and yes/no answers can be attributes"
        problems.append(Problem(name, "attribute", message))
    return QuestionInput(question, option_rows, problems)


def _choices(
    form: FormData, languages: Sequence[str], kind: str
) -> tuple[list[dict[str, Any]], list[int]]:
    """The option rows that have anything in them; an option without a code gets the first
    free number (1, 2, ...), so staff need not invent codes."""
    rows = []
    for row in _rows(form, "choice"):
        code = _stripped(form, f"choice.{row}.code")
        label = texts(form, f"choice.{row}.label", languages)
        if code or label:
            rows.append((row, code, label))
    if kind == YesNo.name:  # the codes are fixed; only the labels change
        defaults = {c["code"]: c["label"] for c in YesNo.DEFAULT_CHOICES}
        return [
            {"code": code, "label": label or defaults[code]}
            for code, (_, _, label) in zip(("yes", "no"), rows, strict=False)
        ], [row for row, _, _ in rows]
    taken = {code for _, code, _ in rows if code}
    numbers = (str(n) for n in range(1, MAX_ROWS * 2) if str(n) not in taken)
    choices = [{"code": code or next(numbers), "label": label} for _, code, label in rows]
    return choices, [row for row, _, _ in rows]


def choice_rows(question: Question | None, kind: str) -> list[dict[str, Any]]:
    """The option rows a question form shows: the options, then spare empty rows."""
    if kind == YesNo.name:
        return list((question.config.get("choices") if question else None) or YesNo.DEFAULT_CHOICES)
    choices = list((question.config.get("choices") if question else None) or [])
    return choices + [{"code": "", "label": {}}] * SPARE_ROWS


def place_question(definition: Definition, question: Question, old_name: str | None) -> Definition:
    """The definition with ``question`` added (``old_name`` None) or in place of the question
    ``old_name``. A question whose section changes goes after its new section's last question,
    so sections stay in one piece; a new one without a section goes last."""
    questions = list(definition.questions)
    old = next((i for i, q in enumerate(questions) if q.name == old_name), None)
    if old is not None and questions[old].section == question.section:
        questions[old] = question
        return replace(definition, questions=tuple(questions))
    if old is not None:
        del questions[old]
    members = [
        i for i, q in enumerate(questions) if _within(definition, q.section, question.section)
    ]
    at = members[-1] + 1 if question.section is not None and members else len(questions)
    questions.insert(at, question)
    return replace(definition, questions=tuple(questions))


def _within(definition: Definition, section: str | None, outer: str | None) -> bool:
    """Whether a question of ``section`` is in ``outer`` (or one nested in it)."""
    parents = {s.name: s.parent for s in definition.sections}
    seen: set[str] = set()
    while section is not None and section not in seen:
        if section == outer:
            return True
        seen.add(section)
        section = parents.get(section)
    return False


def without_question(definition: Definition, name: str) -> Definition:
    """The definition without question ``name``; sections left with no question go too."""
    questions = tuple(q for q in definition.questions if q.name != name)
    parents = {s.name: s.parent for s in definition.sections}
    used: set[str] = set()
    for question in questions:
        section = question.section
        while section is not None and section not in used:
            used.add(section)
            section = parents.get(section)
    sections = tuple(s for s in definition.sections if s.name in used)
    return replace(definition, questions=questions, sections=sections)


def move(definition: Definition, name: str, offset: int) -> Definition:
    """The definition with question ``name`` moved up (-1) or down (+1) one place."""
    questions = list(definition.questions)
    index = next(i for i, q in enumerate(questions) if q.name == name)
    target = index + offset
    if 0 <= target < len(questions):
        questions[index], questions[target] = questions[target], questions[index]
    return replace(definition, questions=tuple(questions))


def reorder(definition: Definition, names: Sequence[str]) -> Definition | None:
    """The definition with its questions in the order ``names`` gives (None if ``names`` is
    not exactly the survey's questions)."""
    by_name = {q.name: q for q in definition.questions}
    if sorted(names) != sorted(by_name) or len(set(names)) != len(names):
        return None
    return replace(definition, questions=tuple(by_name[name] for name in names))


# -- sections -----------------------------------------------------------------------------------


def read_section(form: FormData, languages: Sequence[str]) -> tuple[Section, list[str]]:
    """A section form: the section, and the questions chosen to be in it."""
    section = Section(
        name=_stripped(form, "name"),
        label=texts(form, "label", languages),
        relevant=_optional(form, "relevant"),
        parent=_optional(form, "parent"),
    )
    return section, [name for name in form.getlist("questions") if name]


def place_section(
    definition: Definition, section: Section, old_name: str | None, members: Sequence[str]
) -> Definition:
    """The definition with ``section`` added or in place of ``old_name``, holding exactly the
    questions ``members`` (moved together, where the first of them is). Questions it no
    longer holds go to its parent; sections nested in a renamed one follow the new name."""
    sections = [s for s in definition.sections if s.name != old_name]
    if old_name is not None:
        sections = [
            replace(s, parent=section.name) if s.parent == old_name else s for s in sections
        ]
        at = next(i for i, s in enumerate(definition.sections) if s.name == old_name)
        sections.insert(at, section)
    else:
        sections.append(section)
    chosen = set(members)
    questions = []
    for question in definition.questions:
        if question.name in chosen:
            question = replace(question, section=section.name)
        elif old_name is not None and question.section == old_name:
            question = replace(question, section=section.parent)
        questions.append(question)
    first = next((i for i, q in enumerate(questions) if q.name in chosen), len(questions))
    inside = [q for q in questions if q.name in chosen]
    before = [q for q in questions[:first] if q.name not in chosen]
    after = [q for q in questions[first:] if q.name not in chosen]
    return replace(definition, sections=tuple(sections), questions=tuple(before + inside + after))


def remove_section(definition: Definition, name: str) -> Definition:
    """The definition without section ``name``: its questions and sections go to its parent."""
    gone = next(s for s in definition.sections if s.name == name)
    sections = tuple(
        replace(s, parent=gone.parent) if s.parent == name else s
        for s in definition.sections
        if s.name != name
    )
    questions = tuple(
        replace(q, section=gone.parent) if q.section == name else q for q in definition.questions
    )
    return replace(definition, sections=sections, questions=questions)


# -- settings ------------------------------------------------------------------------------------


def _whole(form: FormData, name: str, problems: list[Problem]) -> int | None:
    value = _stripped(form, name)
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        problems.append(Problem(None, name, "must be a whole number"))
        return None
    return int(value)


def _moment(form: FormData, name: str, problems: list[Problem]) -> datetime | None:
    value = _stripped(form, name)
    if not value:
        return None
    try:
        moment = datetime.strptime(value[:16], "%Y-%m-%dT%H:%M")
    except ValueError:
        problems.append(Problem(None, name, "must be a date and time (2026-04-01T09:00)"))
        return None
    return moment.replace(tzinfo=TOKYO)


def read_settings(form: FormData) -> tuple[Settings, list[Problem]]:
    """A settings form: the settings, and what could not be read."""
    problems: list[Problem] = []
    audience: dict[str, list[str]] = {}
    for line in form.get("audience", "").splitlines():
        if not line.strip():
            continue
        found = _AUDIENCE_LINE.match(line)
        if not found:
            problems.append(
                Problem(None, "audience", f"{line.strip()[:40]!r}: write attribute = value, value")
            )
            continue
        values = [v.strip() for v in re.split(r"[,、]", found.group(2)) if v.strip()]
        audience.setdefault(found.group(1), []).extend(values)
    quotas = []
    for row in _rows(form, "quota"):
        name = _stripped(form, f"quota.{row}.name")
        condition = _stripped(form, f"quota.{row}.condition")
        limit = _stripped(form, f"quota.{row}.limit")
        if not (name or condition or limit):
            continue
        number = int(limit) if limit.isdigit() and len(limit) <= 9 else 0
        if not limit.isdigit():
            problems.append(Problem(name or None, "limit", "must be a whole number"))
        action = form.get(f"quota.{row}.action")
        quotas.append(
            Quota(
                name,
                condition,
                number,
                QuotaAction(action) if action in set(QuotaAction) else QuotaAction.STOP,
            )
        )
    settings = Settings(
        one_answer=form.get("answers") != "many",
        anonymous=form.get("anonymous") == "y",
        estimated_minutes=_whole(form, "estimated_minutes", problems),
        max_responses=_whole(form, "max_responses", problems),
        opens_at=_moment(form, "opens_at", problems),
        closes_at=_moment(form, "closes_at", problems),
        reminder_hours=_whole(form, "reminder_hours", problems),
        audience=audience,
        quotas=tuple(quotas),
        offer_on_follow=form.get("offer_on_follow") == "y",
    )
    return settings, problems


def audience_text(audience: Mapping[str, Sequence[str]]) -> str:
    """An audience as the settings form shows it: ``attribute = value, value`` lines."""
    return "\n".join(f"{name} = {', '.join(values)}" for name, values in audience.items())


def local_input(moment: datetime | None) -> str:
    """A stored time as a ``datetime-local`` field shows it (Asia/Tokyo)."""
    return moment.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M") if moment else ""
