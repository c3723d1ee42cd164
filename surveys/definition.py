"""A survey's definition as plain values, and the checks it must pass before it is saved.

The console builder and the XLSForm reader both produce a :class:`Definition`; :func:`check`
finds every problem in it at once (each naming the question or section and the field), and
only a definition without problems is stored (:func:`store`) in a draft version. Reading a
version back (:func:`definition_of`) gives the same definition, which is what makes export
then import give the same survey.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from bot.attributes import check_attribute_name, check_attribute_value
from models.surveys import NAME_LENGTH, SurveyQuestion, SurveyVersion, Texts
from surveys import expressions
from surveys.expressions import Call, Expression, ExpressionError, Ref
from surveys.kinds import KINDS, ConfigProblem

#: What a question or section name looks like (XLSForm's rule, ASCII).
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
#: A language code (``ja``, ``en``, ``zh-TW``).
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
#: Most questions a survey may have (one LINE message each: a long survey loses residents).
MAX_QUESTIONS = 200
#: Longest texts, in characters.
MAX_TITLE = 100
MAX_LABEL = 1000
MAX_HINT = 500
MAX_INTRO = 2000
MAX_UNIT = 20
#: Control characters allowed in texts (line breaks); every other one is refused.
_ALLOWED_CONTROLS = frozenset("\n\t")
#: Kinds whose answer may set a resident attribute (their values are option codes).
ATTRIBUTE_KINDS = frozenset({"single_choice", "yes_no"})


@dataclass(frozen=True)
class Section:
    """A section (XLSForm group): its questions are shown only when its condition holds."""

    name: str
    label: Texts = field(default_factory=dict)
    relevant: str | None = None
    #: The enclosing section, if nested.
    parent: str | None = None


@dataclass(frozen=True)
class Question:
    """One question as defined (see ``models.surveys.SurveyQuestion`` for each field)."""

    name: str
    kind: str
    label: Texts = field(default_factory=dict)
    hint: Texts = field(default_factory=dict)
    required: bool = False
    relevant: str | None = None
    constraint: str | None = None
    constraint_message: Texts = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    section: str | None = None
    attribute: str | None = None


@dataclass(frozen=True)
class Definition:
    """A survey's texts and questions (one version's content)."""

    title: Texts
    intro: Texts = field(default_factory=dict)
    thanks: Texts = field(default_factory=dict)
    default_language: str = "ja"
    sections: tuple[Section, ...] = ()
    questions: tuple[Question, ...] = ()

    def question(self, name: str) -> Question | None:
        """The question called ``name``, if any."""
        return next((q for q in self.questions if q.name == name), None)

    @property
    def languages(self) -> list[str]:
        """Every language a text is given in, the default first."""
        found: set[str] = set()
        for texts in self._texts():
            found.update(texts)
        return [self.default_language, *sorted(found - {self.default_language})]

    def _texts(self) -> Iterable[Texts]:
        yield from (self.title, self.intro, self.thanks)
        for section in self.sections:
            yield section.label
        for question in self.questions:
            yield from (question.label, question.hint, question.constraint_message)
            for choice in question.config.get("choices") or ():
                if isinstance(choice, Mapping) and isinstance(choice.get("label"), Mapping):
                    yield choice["label"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition.

    :param subject: the question or section name, or None for the survey's own texts.
    :param field: what is wrong in it (``label``, ``relevant``, ``choices``...).
    """

    subject: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.subject}: " if self.subject else ""
        return f"{where}{self.field}: {self.message}"


class DefinitionError(ValueError):
    """A definition with problems; nothing was stored."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = list(problems)


# -- checking -----------------------------------------------------------------------------------


class _Checker:
    def __init__(self, definition: Definition, anonymous: bool) -> None:
        self.definition = definition
        self.anonymous = anonymous
        self.problems: list[Problem] = []
        #: Questions by name, in order; a condition may read only those before it.
        self.order = {q.name: index for index, q in enumerate(definition.questions)}

    def add(self, subject: str | None, field_: str, message: str) -> None:
        self.problems.append(Problem(subject, field_, message))

    # texts

    def texts(
        self,
        subject: str | None,
        field_: str,
        texts: object,
        limit: int,
        *,
        needed: bool,
        what: str = "",
    ) -> None:
        """Check texts by language; ``what`` starts each message (``option 2: ``)."""
        if not isinstance(texts, Mapping):
            self.add(subject, field_, f"{what}must be texts by language")
            return
        for language, value in texts.items():
            if not isinstance(language, str) or not LANGUAGE.fullmatch(language):
                self.add(
                    subject, field_, f"{what}{language!r} is not a language code (ja, en, ...)"
                )
            if not isinstance(value, str):
                self.add(subject, field_, f"{what}must be text")
                continue
            if len(value) > limit:
                self.add(subject, field_, f"{what}is longer than {limit} characters ({language})")
            if any(
                unicodedata.category(char) in ("Cc", "Cs") and char not in _ALLOWED_CONTROLS
                for char in value
            ):
                self.add(subject, field_, f"{what}contains a control character ({language})")
        if needed and not (texts.get(self.definition.default_language) or "").strip():
            self.add(
                subject,
                field_,
                f"is missing in the default language ({self.definition.default_language})",
            )

    # expressions

    def expression(
        self, subject: str | None, field_: str, source: str | None, *, before: int, dot: bool
    ) -> None:
        """Check a condition: well formed, in the subset, reading only questions before
        position ``before`` (all of them for a quota), ``.`` only where ``dot``."""
        if source is None:
            return
        try:
            parsed = expressions.parse(source)
        except ExpressionError as error:
            self.add(subject, field_, str(error))
            return
        if parsed.reads_self and not dot:
            self.add(subject, field_, "'.' (this answer) may be used only in a constraint")
        for name in sorted(parsed.references):
            self.reference(subject, field_, name, before=before)
        self.choice_functions(subject, field_, parsed)

    def reference(self, subject: str | None, field_: str, name: str, *, before: int) -> None:
        position = self.order.get(name)
        if position is None:
            self.add(subject, field_, f"${{{name}}} is not a question of this survey")
        elif position >= before:
            self.add(subject, field_, f"${{{name}}} is not an earlier question")
        elif not KINDS[self.definition.questions[position].kind].answered:
            self.add(subject, field_, f"${{{name}}} is a note: it has no answer")

    def choice_functions(self, subject: str | None, field_: str, parsed: Expression) -> None:
        for node in expressions._walk(parsed.tree):
            if not (isinstance(node, Call) and node.name in ("selected", "count-selected")):
                continue
            ref = node.args[0]
            target_name = (ref.name if isinstance(ref, Ref) else None) or subject
            target = self.definition.question(target_name) if target_name else None
            if target is not None and target.kind in KINDS and not KINDS[target.kind].choice:
                self.add(subject, field_, f"{node.name}() needs a choice question")

    def recall(
        self, subject: str | None, field_: str, texts: Mapping[str, str], before: int
    ) -> None:
        for value in texts.values():
            if isinstance(value, str):
                for name in expressions.recalled_names(value):
                    if not NAME.fullmatch(name):
                        self.add(subject, field_, f"${{{name}}} is not a question name")
                    else:
                        self.reference(subject, field_, name, before=before)

    # the parts

    def survey(self) -> None:
        definition = self.definition
        if not LANGUAGE.fullmatch(definition.default_language or ""):
            self.add(None, "default_language", "is not a language code (ja, en, ...)")
        self.texts(None, "title", definition.title, MAX_TITLE, needed=True)
        self.texts(None, "intro", definition.intro, MAX_INTRO, needed=False)
        self.texts(None, "thanks", definition.thanks, MAX_INTRO, needed=False)
        everything = len(definition.questions)
        self.recall(None, "thanks", definition.thanks, everything)
        if not any(q.kind in KINDS and KINDS[q.kind].answered for q in definition.questions):
            self.add(None, "questions", "a survey needs at least one question to answer")
        if everything > MAX_QUESTIONS:
            self.add(None, "questions", f"a survey may have at most {MAX_QUESTIONS} questions")

    def names(self) -> None:
        seen: set[str] = set()
        for name in [s.name for s in self.definition.sections] + [
            q.name for q in self.definition.questions
        ]:
            if not isinstance(name, str) or not NAME.fullmatch(name) or len(name) > NAME_LENGTH:
                self.add(
                    str(name),
                    "name",
                    f"must start with a letter or _ and have only letters, digits, _ . - "
                    f"(at most {NAME_LENGTH})",
                )
            elif name in seen:
                self.add(name, "name", "is used twice")
            seen.add(name)

    def sections(self) -> None:
        """Sections exist, nest without cycles, and hold one unbroken run of questions."""
        known: dict[str, Section] = {}
        for section in self.definition.sections:
            if section.parent is not None and section.parent not in known:
                self.add(section.name, "parent", f"{section.parent!r} is not an earlier section")
            known[section.name] = section
            self.texts(section.name, "label", section.label, MAX_LABEL, needed=False)
        closed: set[str] = set()
        open_path: list[str] = []
        for question in self.definition.questions:
            if question.section is not None and question.section not in known:
                self.add(question.name, "section", f"{question.section!r} is not a section")
                continue
            path = self._path(question.section, known)
            for name in open_path[len(_common(open_path, path)) :]:
                closed.add(name)
            for name in path:
                if name in closed:
                    self.add(question.name, "section", f"section {name!r} is split in two")
                    closed.discard(name)
            open_path = path
        first: dict[str, int] = {}
        for index, question in enumerate(self.definition.questions):
            for name in self._path(question.section, known):
                first.setdefault(name, index)
        for section in self.definition.sections:
            if section.name not in first:
                self.add(section.name, "questions", "the section has no questions")
            self.expression(
                section.name,
                "relevant",
                section.relevant,
                before=first.get(section.name, 0),
                dot=False,
            )

    def _path(self, name: str | None, known: Mapping[str, Section]) -> list[str]:
        path: list[str] = []
        while name is not None and name in known and name not in path:
            path.insert(0, name)
            name = known[name].parent
        return path

    def question(self, index: int, question: Question) -> None:
        name = question.name
        kind = KINDS.get(question.kind)
        if kind is None:
            self.add(name, "kind", f"{question.kind!r} is not a question kind")
            return
        self.texts(name, "label", question.label, MAX_LABEL, needed=True)
        self.texts(name, "hint", question.hint, MAX_HINT, needed=False)
        self.texts(name, "constraint_message", question.constraint_message, MAX_HINT, needed=False)
        try:
            kind.check_config(question.config)
        except ConfigProblem as problem:
            self.add(name, problem.field, problem.message)
        self.setting_texts(name, question.config)
        self.recall(name, "label", question.label, index)
        self.recall(name, "hint", question.hint, index)
        self.recall(name, "constraint_message", question.constraint_message, index + 1)
        self.expression(name, "relevant", question.relevant, before=index, dot=False)
        if question.constraint is not None and not kind.answered:
            self.add(name, "constraint", "a note has no answer to check")
        else:
            self.expression(name, "constraint", question.constraint, before=index, dot=True)
        if question.attribute is not None:
            self.attribute(question)

    def setting_texts(self, name: str, config: Mapping[str, Any]) -> None:
        """Options' labels and a unit are texts residents read: the same checks."""
        choices = config.get("choices")
        if isinstance(choices, Sequence) and not isinstance(choices, str):
            for number, choice in enumerate(choices, start=1):
                label = choice.get("label") if isinstance(choice, Mapping) else None
                if isinstance(label, Mapping):
                    self.texts(
                        name, "choices", label, MAX_LABEL, needed=False, what=f"option {number}: "
                    )
        if isinstance(config.get("unit"), Mapping):
            self.texts(name, "unit", config["unit"], MAX_UNIT, needed=False)

    def attribute(self, question: Question) -> None:
        name = question.name
        try:
            check_attribute_name(question.attribute)
        except ValueError as error:
            self.add(name, "attribute", str(error))
            return
        if self.anonymous:
            self.add(name, "attribute", "an anonymous survey cannot set resident attributes")
        if question.kind not in ATTRIBUTE_KINDS:
            self.add(name, "attribute", "only single choice and yes/no answers can be attributes")
            return
        for choice in question.config.get("choices") or ():
            try:
                check_attribute_value(str(question.attribute), choice.get("code"))
            except (ValueError, AttributeError) as error:
                self.add(name, "attribute", str(error))


def _common(a: Sequence[str], b: Sequence[str]) -> list[str]:
    common: list[str] = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common.append(x)
    return common


def check(definition: Definition, *, anonymous: bool = False) -> list[Problem]:
    """Every problem of a definition (empty when it can be saved).

    :param anonymous: the survey is anonymous (its answers cannot set resident attributes).
    """
    checker = _Checker(definition, anonymous)
    checker.survey()
    checker.names()
    checker.sections()
    for index, question in enumerate(definition.questions):
        checker.question(index, question)
    return checker.problems


def check_condition(definition: Definition, source: str, subject: str) -> list[Problem]:
    """Problems of a condition on a whole survey's answers (a quota's)."""
    checker = _Checker(definition, anonymous=False)
    checker.expression(subject, "condition", source, before=len(definition.questions), dot=False)
    return checker.problems


def normalised(definition: Definition) -> Definition:
    """The definition with every question's settings normalised by its kind.

    :raises DefinitionError: the definition has problems.
    """
    problems = check(definition)
    if problems:
        raise DefinitionError(problems)
    questions = tuple(
        replace(q, config=KINDS[q.kind].check_config(q.config)) for q in definition.questions
    )
    return replace(definition, questions=questions)


# -- storing and reading ---------------------------------------------------------------------


def store(
    session: Session, version: SurveyVersion, definition: Definition, *, anonymous: bool
) -> None:
    """Replace a draft version's texts and questions with ``definition``.

    :raises DefinitionError: the definition has problems; nothing is changed.
    :raises ValueError: the version is published (frozen).
    """
    if version.published_at is not None:
        raise ValueError("a published version cannot change; start a new version")
    problems = check(definition, anonymous=anonymous)
    if problems:
        raise DefinitionError(problems)
    version.title = dict(definition.title)
    version.intro = dict(definition.intro)
    version.thanks = dict(definition.thanks)
    version.sections = [
        {
            "name": s.name,
            "label": dict(s.label),
            "relevant": s.relevant,
            "parent": s.parent,
        }
        for s in definition.sections
    ]
    version.questions.clear()
    session.flush()  # the old rows go before new ones take their names
    version.questions.extend(
        SurveyQuestion(
            position=position,
            name=q.name,
            kind=q.kind,
            section=q.section,
            label=dict(q.label),
            hint=dict(q.hint),
            required=q.required,
            relevant=q.relevant,
            constraint=q.constraint,
            constraint_message=dict(q.constraint_message),
            config=KINDS[q.kind].check_config(q.config),
            attribute=q.attribute,
        )
        for position, q in enumerate(definition.questions)
    )
    session.flush()


def definition_of(version: SurveyVersion, default_language: str) -> Definition:
    """A stored version as a definition."""
    return Definition(
        title=dict(version.title),
        intro=dict(version.intro),
        thanks=dict(version.thanks),
        default_language=default_language,
        sections=tuple(
            Section(
                name=s["name"],
                label=dict(s.get("label") or {}),
                relevant=s.get("relevant"),
                parent=s.get("parent"),
            )
            for s in version.sections
        ),
        questions=tuple(
            Question(
                name=q.name,
                kind=q.kind,
                label=dict(q.label),
                hint=dict(q.hint),
                required=q.required,
                relevant=q.relevant,
                constraint=q.constraint,
                constraint_message=dict(q.constraint_message),
                config=dict(q.config),
                section=q.section,
                attribute=q.attribute,
            )
            for q in version.questions
        ),
    )
