"""The console's preview: a survey's conversation as LINE shows it.

:func:`question_messages` is the one place that turns a question into the LINE messages the
resident gets (LINE's JSON, built with ``bot.messages``). The preview page renders any LINE
message (:func:`bubbles`: text bubbles, quick-reply buttons, the buttons of a Flex message), so
when the kinds' own ``prompt()`` (the answering flow's) is there, ``question_messages``
returns what it returns and the preview shows exactly what residents see.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from bot.messages import (
    MAX_QUICK_REPLIES,
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
from surveys import expressions
from surveys.definition import Definition, Question
from surveys.kinds import KINDS, Range, SingleChoice, localized

#: The postback the preview's buttons carry (never sent: the preview is not a dialog).
_PREVIEW = PostbackData("survey.preview")
#: Options per Flex bubble when a list is longer than LINE's quick replies.
_PER_BUBBLE = 10


def _recalled(label: str) -> str:
    """A text with each ``${name}`` shown as ‹name› (the answer is not known yet)."""
    return expressions.recall(label, lambda name: f"‹{name}›")


def question_messages(
    question: Question, position: int, total: int, language: str, default: str
) -> list[Message]:
    """The messages a resident gets for ``question`` (number ``position`` of ``total``)."""
    label = _recalled(localized(question.label, language, default))
    hint = _recalled(localized(question.hint, language, default)) if question.hint else ""
    body = f"({position}/{total}) {label}" if KINDS[question.kind].answered else label
    if hint:
        body += f"\n{hint}"
    kind = KINDS[question.kind]
    config = question.config
    if isinstance(kind, SingleChoice):
        options = [localized(choice["label"], language, default) for choice in config["choices"]]
        if len(options) > MAX_QUICK_REPLIES:
            return [text(body), _option_list(options)]
        return [text(body, [postback_button(option, _PREVIEW) for option in options])]
    if isinstance(kind, Range):
        values = [str(value) for value in kind.values(question)]
        if len(values) > MAX_QUICK_REPLIES:
            return [text(body), _option_list(values)]
        return [text(body, [postback_button(value, _PREVIEW) for value in values])]
    buttons = {
        "acknowledge": lambda: [postback_button("OK", _PREVIEW)],
        "date": lambda: [_picker(question, "date")],
        "time": lambda: [_picker(question, "time")],
        "datetime": lambda: [_picker(question, "datetime")],
        "photo": lambda: [camera_button(_("Camera")), camera_roll_button(_("Photos"))],
        "location": lambda: [location_button(_("Send location"))],
    }.get(question.kind)
    return [text(body, buttons() if buttons else [])]


def _picker(question: Question, mode: str) -> dict[str, Any]:
    config = question.config
    return datetime_picker_button(
        _("Choose"),
        _PREVIEW,
        mode,  # type: ignore[arg-type]
        min_value=config.get("min") or None,
        max_value=config.get("max") or None,
    )


def _option_list(options: Sequence[str]) -> Message:
    """More options than quick replies hold: a carousel of Flex bubbles of buttons."""
    pages = [options[i : i + _PER_BUBBLE] for i in range(0, len(options), _PER_BUBBLE)]
    bubbles = [
        bubble(
            [flex_text(_("Choose one"), bold=True)],
            buttons=[postback_button(option, _PREVIEW) for option in page],
        )
        for page in pages
    ]
    return flex(_("Choose one"), carousel(bubbles) if len(bubbles) > 1 else bubbles[0])


# -- rendering LINE messages as chat bubbles ---------------------------------------------------


@dataclass(frozen=True)
class Bubble:
    """One message as the preview draws it: its text and the buttons under it."""

    text: str
    buttons: list[str] = field(default_factory=list)
    #: True for a Flex message (drawn as a card).
    card: bool = False


def _action_labels(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        action = node.get("action")
        if isinstance(action, Mapping) and isinstance(action.get("label"), str):
            yield action["label"]
        for key, value in node.items():
            if key != "action":
                yield from _action_labels(value)
    elif isinstance(node, list):
        for item in node:
            yield from _action_labels(item)


def _texts(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        if node.get("type") == "text" and isinstance(node.get("text"), str):
            yield node["text"]
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _texts(item)


def bubbles(messages: Sequence[Message]) -> list[Bubble]:
    """LINE messages as the preview draws them (text, quick replies, Flex buttons)."""
    drawn = []
    for message in messages:
        quick = [item["action"]["label"] for item in message.get("quickReply", {}).get("items", [])]
        if message.get("type") == "flex":
            contents = message.get("contents")
            heading = next(_texts(contents), message.get("altText", ""))
            drawn.append(Bubble(heading, list(_action_labels(contents)) + quick, card=True))
        else:
            drawn.append(Bubble(str(message.get("text", "")), quick))
    return drawn


@dataclass(frozen=True)
class Step:
    """A question's place in the preview: its messages and when it is asked."""

    question: Question
    bubbles: list[Bubble]
    #: When it is asked (its own and its sections' show-if conditions); empty: always.
    condition: str


def conversation(definition: Definition, language: str) -> list[Step]:
    """Every question of a survey as the resident would get it, in order."""
    default = definition.default_language
    sections = {section.name: section for section in definition.sections}
    answered = [q for q in definition.questions if KINDS[q.kind].answered]
    steps = []
    for question in definition.questions:
        position = answered.index(question) + 1 if question in answered else 0
        try:
            drawn = bubbles(question_messages(question, position, len(answered), language, default))
        except ValueError as error:  # LINE would refuse the message: say so in place
            drawn = [Bubble(_("LINE cannot show this question: %(error)s", error=str(error)))]
        conditions = [question.relevant] if question.relevant else []
        section = sections.get(question.section or "")
        while section is not None:
            if section.relevant:
                conditions.insert(0, section.relevant)
            section = sections.get(section.parent or "")
        condition = " and ".join(f"({c})" if len(conditions) > 1 else c for c in conditions)
        steps.append(Step(question, drawn, condition))
    return steps
