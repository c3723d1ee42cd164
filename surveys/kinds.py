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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, ClassVar, Protocol

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


def _bad() -> Any:
    raise ValueError("not of the expected shape")


class Photo(Kind):
    """An image message (JPEG or PNG), stored as a ``survey_photos`` row."""

    name = "photo"
    summary = "photos"

    def show(self, question: QuestionLike, value: Any, language: str, default: str) -> str:
        return "" if value is None else "📷"

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
