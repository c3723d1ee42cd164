"""The console's preview: a survey's conversation as LINE shows it.

:func:`question_messages` asks each question's kind for its ``prompt()``, the same one the
answering flow (``surveys.flow``) sends, so the preview shows exactly what residents see:
the page renders any LINE message (:func:`bubbles`: text bubbles, quick-reply buttons, the
buttons of a Flex message). The preview is no dialog: its buttons carry a postback that
nothing answers, and it shows no navigation buttons (戻る, スキップ, やめる).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from bot.i18n import resident_locale
from bot.messages import Message
from bot.postback import PostbackData
from surveys import expressions
from surveys.definition import Definition, Question
from surveys.kinds import KINDS, Asking, localized

#: The postback the preview's buttons carry (never sent: the preview is not a dialog).
_PREVIEW = PostbackData("survey.preview")


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
    asking = Asking(body, language, default, lambda action, **params: _PREVIEW)
    with resident_locale(language):  # the bot's own words, as this resident reads them
        return KINDS[question.kind].prompt(question, asking)


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
