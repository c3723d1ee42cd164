"""Question kinds: a registry, one class per kind (STYLE.md 9).

A kind knows its settings (``check_config``: choices, ranges, limits, normalised and checked
when a survey is saved or imported), how an answer of it is shown (``show``: in the summary
before sending, in ``${name}`` recall, in results) and how it is stored (``rows`` and
``value_of``: answers as ``survey_answers`` rows). Adding a kind is one class here and one line
in :data:`KINDS`.

Answer values, as they are kept in the dialog until submission (JSON) and given to
expressions (``surveys.expressions.as_value``):

==================  ===========================================================
kind                value
==================  ===========================================================
single_choice       the chosen option's code (``str``)
yes_no              ``"yes"`` or ``"no"``
multiple_choice     the chosen codes in the options' order (``list[str]``)
text                the text (``str``)
integer, range      a number (``int``; ``float`` for a range with a fractional step)
decimal             a number (``float``)
date, time,         ISO text in Asia/Tokyo: ``2026-12-03``, ``14:30``,
datetime            ``2026-12-03T14:30``
photo               ``{"photo": id}`` (a ``survey_photos`` row)
location            ``{"latitude", "longitude", "address"}``
acknowledge         ``"OK"``
note                (no answer)
==================  ===========================================================
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, ClassVar, Protocol

from flask_babel import gettext as _

from bot.incoming import Incoming, MediaUnavailable, normalise_text
from bot.messages import (
    MAX_QUICK_REPLIES,
    Action,
    Message,
    bubble,
    camera_button,
    camera_roll_button,
    carousel,
    datetime_picker_button,
    flex,
    flex_text,
    location_button,
    postback_button,
    text,
)
from bot.postback import PostbackData
from models.surveys import CODE_LENGTH

#: Most options a choice question may have (LINE shows 13 as buttons; more are paged).
MAX_CHOICES = 100
#: Longest free-text answer anyone may allow (LINE's text limit).
MAX_TEXT = 5000
#: Free-text limit when the survey sets none.
DEFAULT_TEXT = 500
#: Most values a range may offer.
MAX_RANGE_VALUES = 101
#: Largest magnitude of a number bound or answer (exact in a float, readable in a cell).
MAX_NUMBER = 1e12
#: What a choice code looks like (XLSForm's choice ``name``).
CODE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*")
#: The acknowledge kind's one value.
ACKNOWLEDGED = "OK"


class QuestionLike(Protocol):
    """A stored question (``SurveyQuestion``) or one being defined (``definition.Question``)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def config(self) -> Mapping[str, Any]: ...


class ConfigProblem(ValueError):
    """A kind's setting is wrong; ``field`` names it (``choices``, ``min``...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class AnswerRow:
    """The columns of one ``survey_answers`` row (see models/surveys.py)."""

    option: str | None = None
    number: float | None = None
    text: str | None = None
    extra: dict[str, Any] | None = None


#: The postback actions of a survey question's buttons (the flow routes them to the step).
ANSWER, TOGGLE, DONE, PICK = "survey.answer", "survey.toggle", "survey.done", "survey.pick"
#: Options per Flex bubble when a list is longer than LINE's quick replies.
PER_BUBBLE = 10
#: Control characters a typed answer may contain (line breaks, tabs).
_ALLOWED_CONTROLS = frozenset("\n\t")


class InvalidAnswer(ValueError):
    """The resident's input is not an answer to this question; ``message`` says why (shown
    to them, in their language), and the question is asked again."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Asking:
    """What a kind's prompt needs besides the question: the text, buttons, language."""

    #: The question as the resident reads it (progress, label with recall, hint).
    body: str
    language: str
    #: The survey's default language.
    default: str
    #: Postback data for a button of this question: ``button(action, **params)``; in the
    #: answering flow it is bound to the dialog and its version (stale taps are recognised).
    button: Callable[..., PostbackData]
    #: The answer given so far (a multiple choice's toggled options; a previous answer).
    current: Any = None
    #: Buttons added after the kind's own where there is room (戻る, スキップ, やめる).
    navigation: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Parsed:
    """A parsed input: the value, and whether the answer is final (a toggle is not)."""

    value: Any
    done: bool = True


@dataclass(frozen=True)
class PhotoUpload:
    """A checked photo, to be stored as a ``survey_photos`` row by the flow."""

    data: bytes
    content_type: str


def _with_room(own: Sequence[Action], navigation: Sequence[Action]) -> list[Action]:
    """The kind's buttons, then as many navigation buttons as LINE's 13 leave room for."""
    return [*own, *navigation[: max(0, MAX_QUICK_REPLIES - len(own))]]


def option_list(
    heading: str, labels: Sequence[str], buttons: Sequence[Action], navigation: Sequence[Action]
) -> Message:
    """More options than quick replies hold: a carousel of Flex bubbles of buttons (pages of
    10; 12 bubbles hold every option a question may have)."""
    pages = [buttons[i : i + PER_BUBBLE] for i in range(0, len(buttons), PER_BUBBLE)]
    bubbles = [
        bubble(
            [
                flex_text(
                    f"{heading} ({n + 1}/{len(pages)})" if len(pages) > 1 else heading, bold=True
                )
            ],
            buttons=page,
        )
        for n, page in enumerate(pages)
    ]
    alt = heading + "\n" + "\n".join(labels)
    return flex(
        alt[:1500],
        carousel(bubbles) if len(bubbles) > 1 else bubbles[0],
        list(navigation[:MAX_QUICK_REPLIES]),
    )


def typed_text(incoming: Incoming, what: str) -> str:
    """The typed text of a text message, stripped.

    :raises InvalidAnswer: another kind of message (``what`` says what is expected),
        an empty text or one with control characters.
    """
    if incoming.message_type != "text" or incoming.text is None:
        raise InvalidAnswer(what)
    value = incoming.text.strip()
    if not value:
        raise InvalidAnswer(what)
    if any(
        (unicodedata.category(char) in ("Cc", "Cs") and char not in _ALLOWED_CONTROLS)
        or char == "\ufffd"
        for char in value
    ):
        raise InvalidAnswer(_("Your answer contains a character that cannot be used."))
    return value


def tapped_index(incoming: Incoming, action: str, count: int) -> int | None:
    """The option index a tapped button of ``action`` carries, if it is one of ``count``.

    :raises InvalidAnswer: a button of this action whose index is missing or out of range
        (tampered data).
    """
    postback = incoming.postback
    if postback is None or postback.action != action:
        return None
    index = postback.get_int("i")
    if index is None or not 0 <= index < count:
        raise InvalidAnswer(_("That button is not one of this question's options."))
    return index


def localized(texts: Mapping[str, str], language: str, default: str) -> str:
    """A text in ``language``, else in ``default``, else in any language it has."""
    return texts.get(language) or texts.get(default) or next(iter(texts.values()), "")


# -- helpers for settings ---------------------------------------------------------------------


def _texts(value: object, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigProblem(field, "must be texts by language")
    return {k: v.strip() for k, v in value.items() if v.strip()}


def _number(config: Mapping[str, Any], field: str, *, integer: bool = False) -> float | None:
    value = config.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigProblem(field, "must be a number")
    try:
        number = float(value)
    except ValueError:
        raise ConfigProblem(field, "must be a number") from None
    if not math.isfinite(number) or abs(number) > MAX_NUMBER:
        raise ConfigProblem(field, f"must be a number between {-MAX_NUMBER:g} and {MAX_NUMBER:g}")
    if integer and not number.is_integer():
        raise ConfigProblem(field, "must be a whole number")
    return number


def _bounds(config: Mapping[str, Any], *, integer: bool) -> tuple[float | None, float | None]:
    low = _number(config, "min", integer=integer)
    high = _number(config, "max", integer=integer)
    if low is not None and high is not None and low > high:
        raise ConfigProblem("max", "must not be below the minimum")
    return low, high


def _plain(number: float | None) -> int | float | None:
    """A number as JSON keeps it: whole numbers as int."""
    if number is None:
        return None
    number = float(number)
    return int(number) if number.is_integer() else number


# -- the kinds --------------------------------------------------------------------------------


class Kind:
    """What every kind has; subclasses set :attr:`name` and override what differs."""

    #: The registry name (stored in ``survey_questions.kind``).
    name: ClassVar[str]
    #: False for kinds that ask nothing (a note).
    answered: ClassVar[bool] = True
    #: True for kinds whose answer is option codes (``selected()`` applies).
    choice: ClassVar[bool] = False
    #: True when the answer is numeric (arithmetic and histograms apply).
    numeric: ClassVar[bool] = False
    #: The settings (``config`` keys) this kind accepts.
    settings: ClassVar[frozenset[str]] = frozenset()
    #: How results sum it up (``surveys.results``): ``choices`` (counts per option),
    #: ``numbers`` (histogram, mean, median), ``moments`` (counts per day or hour),
    #: ``texts``, ``photos`` and ``locations`` (listed), ``none`` (nothing to sum up).
    summary: ClassVar[str] = "texts"

    def check_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The settings, normalised.

        :raises ConfigProblem: a setting is wrong (the first one found).
        """
        self._refuse_unknown(config)
        return {}

    def _refuse_unknown(self, config: Mapping[str, Any]) -> None:
        extra = set(config) - self.settings
        if extra:
            raise ConfigProblem(sorted(extra)[0], f"is not a setting of {self.name} questions")

    def show(self, question: QuestionLike, value: Any, language: str, default: str) -> str:
        """The answer as a resident or staff member reads it."""
        return "" if value is None else str(value)

    def rows(self, value: Any) -> list[AnswerRow]:
        """The ``survey_answers`` rows storing ``value`` (in order)."""
        return [AnswerRow(text=str(value))]

    def value_of(self, rows: Sequence[AnswerRow]) -> Any:
        """The value stored in ``rows`` (the inverse of :meth:`rows`)."""
        return rows[0].text if rows else None

    def prompt(self, question: QuestionLike, asking: Asking) -> list[Message]:
        """The LINE messages asking the question (at most two: the text, then a list)."""
        return [text(asking.body, list(asking.navigation))]

    def parse(self, question: QuestionLike, incoming: Incoming, current: Any = None) -> Parsed:
        """The answer the resident's input gives.

        :param current: the answer so far (a multiple choice's toggled options).
        :raises InvalidAnswer: the input does not answer the question (the message says why).
        :raises bot.incoming.MediaRequired: a photo's bytes are not loaded yet (the pipeline
            loads them and runs the event again).
        """
        raise InvalidAnswer(_("This question takes no answer."))


class Note(Kind):
    """Text only: nothing to answer."""

    name = "note"
    answered = False
    summary = "none"

    def rows(self, value: Any) -> list[AnswerRow]:
        return []


class Acknowledge(Kind):
    """One OK button (consent, "I have read this")."""

    name = "acknowledge"
    summary = "choices"

    def rows(self, value: Any) -> list[AnswerRow]:
        return [AnswerRow(option=ACKNOWLEDGED)]

    def value_of(self, rows: Sequence[AnswerRow]) -> Any:
        return ACKNOWLEDGED if rows else None

    def prompt(self, question: QuestionLike, asking: Asking) -> list[Message]:
        own = [postback_button("OK", asking.button(ANSWER, i="0"))]
        return [text(asking.body, _with_room(own, asking.navigation))]

    def parse(self, question: QuestionLike, incoming: Incoming, current: Any = None) -> Parsed:
        if tapped_index(incoming, ANSWER, 1) is not None:
            return Parsed(ACKNOWLEDGED)
        if incoming.folded_text in ("ok", "はい"):
            return Parsed(ACKNOWLEDGED)
        raise InvalidAnswer(_("Please tap OK to go on."))


class SingleChoice(Kind):
    """One option of a list: ``{"choices": [{"code": "a", "label": {"ja": ...}}]}``."""

    name = "single_choice"
    choice = True
    summary = "choices"
    settings = frozenset({"choices"})

    def check_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        self._refuse_unknown(config)
        choices = config.get("choices")
        if not isinstance(choices, Sequence) or isinstance(choices, str) or not choices:
            raise ConfigProblem("choices", "needs at least one option")
        if len(choices) > MAX_CHOICES:
            raise ConfigProblem("choices", f"may have at most {MAX_CHOICES} options")
        checked: list[dict[str, Any]] = []
        seen: set[str] = set()
        for number, choice in enumerate(choices, start=1):
            if not isinstance(choice, Mapping):
                raise ConfigProblem("choices", f"option {number} must have a code and a label")
            code = choice.get("code")
            if not isinstance(code, str) or not CODE.fullmatch(code) or len(code) > CODE_LENGTH:
                raise ConfigProblem(
                    "choices",
                    f"option {number}: the code must be letters, digits, _ . : - "
                    f"(at most {CODE_LENGTH})",
                )
            if code in seen:
                raise ConfigProblem("choices", f"option {number}: the code {code!r} is used twice")
            seen.add(code)
            label = _texts(choice.get("label"), "choices")
            if not label:
                raise ConfigProblem("choices", f"option {number} ({code}) has no label")
            checked.append({"code": code, "label": label})
        return {"choices": checked, **self._check_settings(config, len(checked))}

    def _check_settings(self, config: Mapping[str, Any], count: int) -> dict[str, Any]:
        return {}

    def codes(self, question: QuestionLike) -> list[str]:
        """The option codes, in order."""
        return [choice["code"] for choice in question.config["choices"]]

    def option_label(self, question: QuestionLike, code: str, language: str, default: str) -> str:
        """An option's label in the language (its code if the option is unknown)."""
        for choice in question.config["choices"]:
            if choice["code"] == code:
                return localized(choice["label"], language, default)
        return code

    def show(self, question: QuestionLike, value: Any, language: str, default: str) -> str:
        return "" if value is None else self.option_label(question, value, language, default)

    def rows(self, value: Any) -> list[AnswerRow]:
        return [AnswerRow(option=value)]

    def value_of(self, rows: Sequence[AnswerRow]) -> Any:
        return rows[0].option if rows else None

    def labels(self, question: QuestionLike, language: str, default: str) -> list[str]:
        """The options' labels in the language, in order."""
        return [localized(c["label"], language, default) for c in question.config["choices"]]

    def prompt(self, question: QuestionLike, asking: Asking) -> list[Message]:
        labels = self.labels(question, asking.language, asking.default)
        buttons = [
            postback_button(label, asking.button(ANSWER, i=str(n)))
            for n, label in enumerate(labels)
        ]
        if len(buttons) > MAX_QUICK_REPLIES:
            heading = _("Choose one")
            return [text(asking.body), option_list(heading, labels, buttons, asking.navigation)]
        return [text(asking.body, _with_room(buttons, asking.navigation))]

    def parse(self, question: QuestionLike, incoming: Incoming, current: Any = None) -> Parsed:
        codes = self.codes(question)
        index = tapped_index(incoming, ANSWER, len(codes))
        if index is not None:
            return Parsed(codes[index])
        if incoming.message_type == "text" and incoming.folded_text:
            for choice in question.config["choices"]:
                if incoming.folded_text in {normalise_text(v) for v in choice["label"].values()}:
                    return Parsed(choice["code"])
        raise InvalidAnswer(_("Please choose one of the options."))


class YesNo(SingleChoice):
    """はい / いいえ: a single choice whose options are exactly ``yes`` and ``no``."""

    name = "yes_no"
    #: Labels used where the survey gives none.
    DEFAULT_CHOICES: ClassVar[list[dict[str, Any]]] = [
        {"code": "yes", "label": {"ja": "はい", "en": "Yes"}},
        {"code": "no", "label": {"ja": "いいえ", "en": "No"}},
    ]

    def check_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        checked = super().check_config({"choices": self.DEFAULT_CHOICES, **config})
        if [choice["code"] for choice in checked["choices"]] != ["yes", "no"]:
            raise ConfigProblem("choices", "a yes/no question has the options yes and no")
        return checked


class MultipleChoice(SingleChoice):
    """Any number of options, optionally between ``min`` and ``max`` of them."""

    name = "multiple_choice"
    settings = frozenset({"choices", "min", "max"})

    def _check_settings(self, config: Mapping[str, Any], count: int) -> dict[str, Any]:
        low, high = _bounds(config, integer=True)
        for field, bound in (("min", low), ("max", high)):
            if bound is not None and not 0 <= bound <= count:
                raise ConfigProblem(field, f"must be between 0 and the {count} options")
        return {"min": _plain(low), "max": _plain(high)}

    def show(self, question: QuestionLike, value: Any, language: str, default: str) -> str:
        if not value:
            return ""
        return "、".join(self.option_label(question, code, language, default) for code in value)

    def rows(self, value: Any) -> list[AnswerRow]:
        return [AnswerRow(option=code) for code in value] or [AnswerRow()]

    def prompt(self, question: QuestionLike, asking: Asking) -> list[Message]:
        chosen = set(asking.current or ())
        labels = self.labels(question, asking.language, asking.default)
        marked = [
            ("☑ " if code in chosen else "☐ ") + label
            for code, label in zip(self.codes(question), labels, strict=True)
        ]
        toggles = [
            postback_button(label, asking.button(TOGGLE, i=str(n)))
            for n, label in enumerate(marked)
        ]
        done = postback_button(_("Done"), asking.button(DONE))
        body = asking.body + "\n" + self._limits(question)
        if asking.current:
            body += "\n" + _(
                "Chosen: %(options)s",
                options=self.show(question, asking.current, asking.language, asking.default),
            )
        if len(toggles) + 1 > MAX_QUICK_REPLIES:
            navigation = [done, *asking.navigation]
            return [text(body), option_list(_("Choose"), marked, toggles, navigation)]
        return [text(body, _with_room([*toggles, done], asking.navigation))]

    def _limits(self, question: QuestionLike) -> str:
        low, high = question.config.get("min"), question.config.get("max")
        if low and high:
            return _("Choose %(low)d to %(high)d, then tap Done.", low=low, high=high)
        if high:
            return _("Choose up to %(high)d, then tap Done.", high=high)
        if low:
            return _("Choose at least %(low)d, then tap Done.", low=low)
        return _("Choose all that apply, then tap Done.")

    def parse(self, question: QuestionLike, incoming: Incoming, current: Any = None) -> Parsed:
        codes = self.codes(question)
        chosen = set(current or ())
        index = tapped_index(incoming, TOGGLE, len(codes))
        if index is not None:
            chosen ^= {codes[index]}
            return Parsed([code for code in codes if code in chosen], done=False)
        if incoming.postback is not None and incoming.postback.action == DONE:
            selection = [code for code in codes if code in chosen]
            low, high = question.config.get("min"), question.config.get("max")
            if low and len(selection) < low:
                raise InvalidAnswer(_("Please choose at least %(low)d.", low=low))
            if high and len(selection) > high:
                raise InvalidAnswer(_("Please choose at most %(high)d.", high=high))
            return Parsed(selection)
        raise InvalidAnswer(_("Please tap the options, then Done."))

    def value_of(self, rows: Sequence[AnswerRow]) -> Any:
        return [row.option for row in rows if row.option is not None]


class FreeText(Kind):
    """Typed text, at most ``max_length`` characters."""

    name = "text"
    settings = frozenset({"max_length"})

    def check_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        self._refuse_unknown(config)
        limit = _number(config, "max_length", integer=True)
        if limit is not None and not 1 <= limit <= MAX_TEXT:
            raise ConfigProblem("max_length", f"must be between 1 and {MAX_TEXT}")
        return {"max_length": int(limit) if limit is not None else DEFAULT_TEXT}

    def prompt(self, question: QuestionLike, asking: Asking) -> list[Message]:
        limit = question.config.get("max_length") or DEFAULT_TEXT
        body = asking.body + "\n" + _("(at most %(limit)d characters)", limit=limit)
        return [text(body, list(asking.navigation))]

    def parse(self, question: QuestionLike, incoming: Incoming, current: Any = None) -> Parsed:
        value = typed_text(incoming, _("Please type your answer as a message."))
        limit = question.config.get("max_length") or DEFAULT_TEXT
        if len(value) > limit:
            raise InvalidAnswer(
                _(
                    "Please answer in at most %(limit)d characters (yours has %(count)d).",
                    limit=limit,
                    count=len(value),
                )
            )
        return Parsed(value)


class Integer(Kind):
    """A whole number between ``min`` and ``max``, shown with its ``unit``."""

    name = "integer"
    numeric = True
    summary = "numbers"
    settings = frozenset({"min", "max", "unit"})
    _integer = True

    def check_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        self._refuse_unknown(config)
        low, high = _bounds(config, integer=self._integer)
        return {"min": _plain(low), "max": _plain(high), "unit": _texts(config.get("unit"), "unit")}

    def show(self, question: QuestionLike, value: Any, language: str, default: str) -> str:
        if value is None:
            return ""
        unit = localized(question.config.get("unit") or {}, language, default)
        return f"{_plain(float(value))}{unit}"

    def rows(self, value: Any) -> list[AnswerRow]:
        return [AnswerRow(number=float(value))]

    def value_of(self, rows: Sequence[AnswerRow]) -> Any:
        if not rows or rows[0].number is None:
            return None
        return _plain(rows[0].number) if self._integer else rows[0].number

    def _range_text(self, question: QuestionLike, language: str, default: str) -> str:
        config = question.config
        unit = localized(config.get("unit") or {}, language, default)
        low, high = config.get("min"), config.get("max")
        if low is not None and high is not None:
            return _("(%(low)s to %(high)s%(unit)s)", low=low, high=high, unit=unit)
        if low is not None:
            return _("(%(low)s%(unit)s or more)", low=low, unit=unit)
        if high is not None:
            return _("(up to %(high)s%(unit)s)", high=high, unit=unit)
        return f"({unit})" if unit else ""

    def prompt(self, question: QuestionLike, asking: Asking) -> list[Message]:
        extra = self._range_text(question, asking.language, asking.default)
        body = asking.body + ("\n" + extra if extra else "")
        return [text(body, list(asking.navigation))]

    def parse(self, question: QuestionLike, incoming: Incoming, current: Any = None) -> Parsed:
        wanted = _("Please send a whole number.") if self._integer else _("Please send a number.")
        typed = unicodedata.normalize("NFKC", typed_text(incoming, wanted)).replace(",", "")
        for unit in (question.config.get("unit") or {}).values():
            if unit and typed.endswith(unicodedata.normalize("NFKC", unit)):
                typed = typed[: -len(unicodedata.normalize("NFKC", unit))]
        typed = typed.strip().replace("−", "-")
        pattern = r"-?\d{1,13}" if self._integer else r"-?\d{1,13}(\.\d{1,9})?"
        if not re.fullmatch(pattern, typed):
            raise InvalidAnswer(wanted)
        number = float(typed)
        low, high = question.config.get("min"), question.config.get("max")
        if (low is not None and number < low) or (high is not None and number > high):
            raise InvalidAnswer(_out_of_range(low, high))
        return Parsed(int(number) if self._integer else number)


class Decimal(Integer):
    """A number with a fractional part allowed."""

    name = "decimal"
    _integer = False


class Range(Kind):
    """A value from ``start`` to ``end`` in ``step`` s (a 1-5 rating, a 0-10 scale)."""

    name = "range"
    numeric = True
    summary = "numbers"
    settings = frozenset({"start", "end", "step"})

    def check_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        self._refuse_unknown(config)
        start = _number(config, "start")
        end = _number(config, "end")
        step = _number(config, "step")
        start = 1.0 if start is None else start
        end = 5.0 if end is None else end
        step = 1.0 if step is None else step
        if step <= 0:
            raise ConfigProblem("step", "must be above 0")
        if end <= start:
            raise ConfigProblem("end", "must be above the start")
        count = (end - start) / step
        if abs(count - round(count)) > 1e-9:
            raise ConfigProblem("step", "must divide the range evenly")
        if round(count) + 1 > MAX_RANGE_VALUES:
            raise ConfigProblem("step", f"may give at most {MAX_RANGE_VALUES} values")
        return {"start": _plain(start), "end": _plain(end), "step": _plain(step)}

    def values(self, question: QuestionLike) -> list[int | float]:
        """Every value the range offers, in order."""
        config = question.config
        count = round((config["end"] - config["start"]) / config["step"])
        values = (round(config["start"] + index * config["step"], 9) for index in range(count + 1))
        return [int(v) if float(v).is_integer() else v for v in values]

    def show(self, question: QuestionLike, value: Any, language: str, default: str) -> str:
        return "" if value is None else str(_plain(float(value)))

    def prompt(self, question: QuestionLike, asking: Asking) -> list[Message]:
        labels = [str(value) for value in self.values(question)]
        buttons = [
            postback_button(label, asking.button(ANSWER, i=str(n)))
            for n, label in enumerate(labels)
        ]
        if len(buttons) > MAX_QUICK_REPLIES:
            return [
                text(asking.body),
                option_list(_("Choose one"), labels, buttons, asking.navigation),
            ]
        return [text(asking.body, _with_room(buttons, asking.navigation))]

    def parse(self, question: QuestionLike, incoming: Incoming, current: Any = None) -> Parsed:
        values = self.values(question)
        index = tapped_index(incoming, ANSWER, len(values))
        if index is not None:
            return Parsed(values[index])
        if incoming.message_type == "text" and incoming.folded_text:
            for value in values:
                if incoming.folded_text == str(value):
                    return Parsed(value)
        first, last = values[0], values[-1]
        raise InvalidAnswer(
            _("Please choose a value from %(first)s to %(last)s.", first=first, last=last)
        )

    def rows(self, value: Any) -> list[AnswerRow]:
        return [AnswerRow(number=float(value))]

    def value_of(self, rows: Sequence[AnswerRow]) -> Any:
        return _plain(rows[0].number) if rows and rows[0].number is not None else None


class _Moment(Kind):
    """A date, time or date-time from LINE's picker, between ``min`` and ``max``."""

    settings = frozenset({"min", "max"})
    summary = "moments"
    #: The value's ISO shape.
    pattern: ClassVar[str]

    def parse_value(self, value: str) -> date | time | datetime:
        """The value as a Python date, time or datetime (naive: Asia/Tokyo).

        :raises ValueError: not of this kind's shape.
        """
        return datetime.strptime(value, self.pattern)

    def check_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        self._refuse_unknown(config)
        checked: dict[str, Any] = {}
        for field in ("min", "max"):
            value = config.get(field) or None
            if value is not None:
                try:
                    self.parse_value(str(value))
                except ValueError:
                    raise ConfigProblem(field, f"must be written {self.example}") from None
            checked[field] = value
        low, high = checked["min"], checked["max"]
        if low and high and self.parse_value(low) > self.parse_value(high):  # type: ignore[operator]
            raise ConfigProblem("max", "must not be before the minimum")
        return checked

    @property
    def example(self) -> str:
        return datetime(2026, 4, 1, 9, 30).strftime(self.pattern)

    def prompt(self, question: QuestionLike, asking: Asking) -> list[Message]:
        picker = datetime_picker_button(
            _("Choose"),
            asking.button(PICK),
            self.name,  # type: ignore[arg-type]
            min_value=question.config.get("min") or None,
            max_value=question.config.get("max") or None,
        )
        return [text(asking.body, _with_room([picker], asking.navigation))]

    def parse(self, question: QuestionLike, incoming: Incoming, current: Any = None) -> Parsed:
        wanted = _(
            "Please use the button to choose, or type it like %(example)s.", example=self.example
        )
        postback = incoming.postback
        if postback is not None and postback.action == PICK:
            raw = incoming.postback_params.get(self.name)
        elif incoming.message_type == "text" and incoming.text:
            raw = unicodedata.normalize("NFKC", incoming.text).strip()
        else:
            raise InvalidAnswer(wanted)
        try:
            value = self.parse_value(raw or "")
        except ValueError:
            raise InvalidAnswer(wanted) from None
        low, high = question.config.get("min"), question.config.get("max")
        if (low and value < self.parse_value(low)) or (high and value > self.parse_value(high)):  # type: ignore[operator]
            raise InvalidAnswer(
                _("Please choose between %(low)s and %(high)s.", low=low or "…", high=high or "…")
            )
        return Parsed(raw)


class Date(_Moment):
    name = "date"
    pattern = "%Y-%m-%d"

    def parse_value(self, value: str) -> date:
        return date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else _bad()


class Time(_Moment):
    name = "time"
    pattern = "%H:%M"

    def parse_value(self, value: str) -> time:
        return time.fromisoformat(value) if re.fullmatch(r"\d{2}:\d{2}", value) else _bad()


class DateTime(_Moment):
    name = "datetime"
    pattern = "%Y-%m-%dT%H:%M"

    def parse_value(self, value: str) -> datetime:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", value):
            return _bad()
        return datetime.fromisoformat(value)


def _out_of_range(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return _("Please send a number from %(low)s to %(high)s.", low=low, high=high)
    if low is not None:
        return _("Please send a number of %(low)s or more.", low=low)
    return _("Please send a number of %(high)s or less.", high=high)


#: Largest photo answer kept (LINE's own images are far smaller).
MAX_PHOTO_BYTES = 5 * 1024 * 1024


def image_type(data: bytes) -> str | None:
    """``image/jpeg`` or ``image/png`` judged from the bytes (never a header); else None."""
    if data.startswith(b"\xff\xd8\xff") and len(data) > 4:
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 8:
        return "image/png"
    return None


def _bad() -> Any:
    raise ValueError("not of the expected shape")


class Photo(Kind):
    """An image message (JPEG or PNG), stored as a ``survey_photos`` row."""

    name = "photo"
    summary = "photos"

    def show(self, question: QuestionLike, value: Any, language: str, default: str) -> str:
        return "" if value is None else "📷"

    def prompt(self, question: QuestionLike, asking: Asking) -> list[Message]:
        own = [camera_button(_("Camera")), camera_roll_button(_("Photos"))]
        return [text(asking.body, _with_room(own, asking.navigation))]

    def parse(self, question: QuestionLike, incoming: Incoming, current: Any = None) -> Parsed:
        if incoming.message_type != "image":
            raise InvalidAnswer(_("Please send a photo (JPEG or PNG)."))
        try:
            content = incoming.require_media()
        except MediaUnavailable as error:
            if error.reason == "too-large":
                raise InvalidAnswer(
                    _("That photo is too large. Please send a smaller one.")
                ) from None
            raise InvalidAnswer(
                _("That photo could not be received. Please send it again.")
            ) from None
        if len(content.data) > MAX_PHOTO_BYTES:
            raise InvalidAnswer(_("That photo is too large. Please send a smaller one."))
        content_type = image_type(content.data)
        if content_type is None:
            raise InvalidAnswer(_("Please send a photo (JPEG or PNG)."))
        return Parsed(PhotoUpload(content.data, content_type))

    def rows(self, value: Any) -> list[AnswerRow]:
        return [AnswerRow(extra={"photo": value["photo"]})]

    def value_of(self, rows: Sequence[AnswerRow]) -> Any:
        return dict(rows[0].extra) if rows and rows[0].extra else None


class Location(Kind):
    """A location sent with LINE's location action."""

    name = "location"
    summary = "locations"

    def show(self, question: QuestionLike, value: Any, language: str, default: str) -> str:
        if value is None:
            return ""
        return value.get("address") or f"{value['latitude']:.5f}, {value['longitude']:.5f}"

    def rows(self, value: Any) -> list[AnswerRow]:
        return [AnswerRow(extra=dict(value))]

    def prompt(self, question: QuestionLike, asking: Asking) -> list[Message]:
        own = [location_button(_("Send location"))]
        return [text(asking.body, _with_room(own, asking.navigation))]

    def parse(self, question: QuestionLike, incoming: Incoming, current: Any = None) -> Parsed:
        place = incoming.location
        if incoming.message_type != "location" or place is None:
            raise InvalidAnswer(_("Please send a location with the button below."))
        address = (place.address or place.title or "")[:200] or None
        return Parsed(
            {"latitude": place.latitude, "longitude": place.longitude, "address": address}
        )

    def value_of(self, rows: Sequence[AnswerRow]) -> Any:
        return dict(rows[0].extra) if rows and rows[0].extra else None


def _registry(*kinds: Kind) -> dict[str, Kind]:
    registry: dict[str, Kind] = {}
    for kind in kinds:
        if kind.name in registry:
            raise RuntimeError(f"question kind {kind.name!r} registered twice")
        registry[kind.name] = kind
    return registry


#: Every question kind by name.
KINDS: Mapping[str, Kind] = _registry(
    Note(),
    Acknowledge(),
    SingleChoice(),
    YesNo(),
    MultipleChoice(),
    FreeText(),
    Integer(),
    Decimal(),
    Range(),
    Date(),
    Time(),
    DateTime(),
    Photo(),
    Location(),
)


def kind_of(question: QuestionLike) -> Kind:
    """The kind of a stored question."""
    return KINDS[question.kind]
