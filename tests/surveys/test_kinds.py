"""Question kinds: settings checked and normalised, answers stored as rows and read back."""

from __future__ import annotations

from typing import Any

import pytest

from surveys.definition import Question
from surveys.kinds import KINDS, ConfigProblem, Range, kind_of

CHOICES = [
    {"code": "a", "label": {"ja": "あ", "en": "A"}},
    {"code": "b", "label": {"ja": "い"}},
]


@pytest.mark.parametrize(
    ("kind", "config", "field", "message"),
    [
        ("note", {"min": 1}, "min", "is not a setting of note questions"),
        ("single_choice", {}, "choices", "needs at least one option"),
        ("single_choice", {"choices": "a b"}, "choices", "needs at least one option"),
        ("single_choice", {"choices": [{"code": "a b", "label": {"ja": "x"}}]}, "choices", "code"),
        ("single_choice", {"choices": [CHOICES[0], CHOICES[0]]}, "choices", "used twice"),
        ("single_choice", {"choices": [{"code": "a", "label": {}}]}, "choices", "has no label"),
        (
            "single_choice",
            {"choices": [{"code": f"c{i}", "label": {"ja": "x"}} for i in range(101)]},
            "choices",
            "at most 100",
        ),
        ("yes_no", {"choices": CHOICES}, "choices", "the options yes and no"),
        ("multiple_choice", {"choices": CHOICES, "max": 3}, "max", "between 0 and the 2 options"),
        ("multiple_choice", {"choices": CHOICES, "min": 2, "max": 1}, "max", "not be below"),
        ("text", {"max_length": 0}, "max_length", "between 1 and 5000"),
        ("text", {"max_length": 5001}, "max_length", "between 1 and 5000"),
        ("integer", {"min": 1.5}, "min", "whole number"),
        ("integer", {"min": "x"}, "min", "must be a number"),
        ("integer", {"max": float("inf")}, "max", "must be a number between"),
        ("integer", {"min": True}, "min", "must be a number"),
        ("decimal", {"min": 2, "max": 1}, "max", "not be below"),
        ("range", {"start": 5, "end": 1}, "end", "above the start"),
        ("range", {"start": 0, "end": 10, "step": 3}, "step", "evenly"),
        ("range", {"start": 0, "end": 1000, "step": 1}, "step", "at most 101"),
        ("range", {"step": 0}, "step", "above 0"),
        ("date", {"min": "2026/01/01"}, "min", "written 2026-04-01"),
        ("date", {"min": "2026-02-01", "max": "2026-01-01"}, "max", "not be before"),
        ("time", {"max": "25:00"}, "max", "written 09:30"),
        ("datetime", {"min": "2026-04-01 09:30"}, "min", "written 2026-04-01T09:30"),
        ("photo", {"max_bytes": 1}, "max_bytes", "not a setting"),
    ],
)
def test_bad_settings_are_named(kind: str, config: dict, field: str, message: str) -> None:
    with pytest.raises(ConfigProblem, match=message) as raised:
        KINDS[kind].check_config(config)
    assert raised.value.field == field


@pytest.mark.parametrize(
    ("kind", "config", "normalised"),
    [
        ("note", {}, {}),
        ("text", {}, {"max_length": 500}),
        ("integer", {"min": "0", "max": 120.0}, {"min": 0, "max": 120, "unit": {}}),
        (
            "decimal",
            {"min": 0.5, "unit": {"ja": "kg"}},
            {"min": 0.5, "max": None, "unit": {"ja": "kg"}},
        ),
        ("range", {}, {"start": 1, "end": 5, "step": 1}),
        ("range", {"start": 0, "end": 1, "step": 0.25}, {"start": 0, "end": 1, "step": 0.25}),
        (
            "yes_no",
            {},
            {
                "choices": [
                    {"code": "yes", "label": {"ja": "はい", "en": "Yes"}},
                    {"code": "no", "label": {"ja": "いいえ", "en": "No"}},
                ]
            },
        ),
        (
            "multiple_choice",
            {"choices": CHOICES, "min": 1},
            {"choices": CHOICES, "min": 1, "max": None},
        ),
        ("date", {"min": "2026-01-01"}, {"min": "2026-01-01", "max": None}),
    ],
)
def test_settings_are_normalised(kind: str, config: dict, normalised: dict) -> None:
    assert KINDS[kind].check_config(config) == normalised
    # Normalising is stable: a stored setting checks to itself.
    assert KINDS[kind].check_config(normalised) == normalised


@pytest.mark.parametrize(
    ("kind", "config", "value"),
    [
        ("single_choice", {"choices": CHOICES}, "b"),
        ("yes_no", {}, "no"),
        ("multiple_choice", {"choices": CHOICES}, ["a", "b"]),
        ("multiple_choice", {"choices": CHOICES}, []),
        ("text", {}, "前橋市大手町"),
        ("integer", {}, 42),
        ("decimal", {}, 36.5),
        ("range", {"start": 0, "end": 1, "step": 0.5}, 0.5),
        ("date", {}, "2026-12-03"),
        ("time", {}, "14:30"),
        ("datetime", {}, "2026-12-03T14:30"),
        ("photo", {}, {"photo": "0123abcd"}),
        ("location", {}, {"latitude": 36.39, "longitude": 139.06, "address": "前橋市"}),
        ("acknowledge", {}, "OK"),
    ],
)
def test_values_are_stored_as_rows_and_read_back(kind: str, config: dict, value: Any) -> None:
    question = Question("q", kind, {"ja": "?"}, config=KINDS[kind].check_config(config))
    handler = kind_of(question)
    rows = handler.rows(value)
    assert rows
    assert handler.value_of(rows) == value


def test_a_note_stores_nothing() -> None:
    assert KINDS["note"].rows(None) == []
    assert not KINDS["note"].answered


def test_answers_are_shown_in_the_residents_language() -> None:
    choice = Question("q", "multiple_choice", {"ja": "?"}, config={"choices": CHOICES})
    assert KINDS["multiple_choice"].show(choice, ["a", "b"], "en", "ja") == "A、い"
    weight = Question("w", "decimal", {"ja": "?"}, config={"unit": {"ja": "キロ", "en": "kg"}})
    assert KINDS["decimal"].show(weight, 60.0, "en", "ja") == "60kg"
    place = Question("p", "location", {"ja": "?"})
    assert KINDS["location"].show(place, {"latitude": 36.1, "longitude": 139.2}, "ja", "ja") == (
        "36.10000, 139.20000"
    )
    scale = Question("r", "range", {"ja": "?"}, config={"start": 0, "end": 10, "step": 1})
    assert Range().values(scale) == list(range(11))
