"""The XLSForm expression subset: what it accepts, what it refuses by name, how it evaluates."""

from __future__ import annotations

import math

import pytest

from surveys.expressions import ExpressionError, as_value, parse, recall, recalled_names


@pytest.mark.parametrize(
    ("source", "answers", "current", "expected"),
    [
        ("${age} >= 18", {"age": 20}, None, True),
        ("${age} >= 18", {"age": 17}, None, False),
        ("${age} >= 18", {}, None, False),  # unanswered: NaN, every comparison false
        ("${age} < 18", {}, None, False),
        ("${q} = ''", {}, None, True),
        ("${q} != ''", {"q": "a"}, None, True),
        ("selected(${pets}, 'dog')", {"pets": ["cat", "dog"]}, None, True),
        ("selected(${pets}, 'do')", {"pets": ["cat", "dog"]}, None, False),
        ("selected(${one}, 'b')", {"one": "b"}, None, True),
        ("count-selected(${pets}) = 2", {"pets": ["cat", "dog"]}, None, True),
        ("count-selected(.) <= 2", {}, ["a", "b", "c"], False),
        (". >= 1 and . <= 5", {}, 3, True),
        (". >= 1 and . <= 5", {}, 6, False),
        ("string-length(.) <= 3", {}, "東京都", True),
        ("not(${a} = 'yes')", {"a": "yes"}, None, False),
        ("${a} = 'yes' or ${b} = 'yes'", {"b": "yes"}, None, True),
        ("(${a} + 2) * 3 div 2 = 6", {"a": 2}, None, True),
        ("${a} mod 3 = 1", {"a": 7}, None, True),
        ("-${a} < 0", {"a": 7}, None, True),
        ("${d} < '2024-01-01'", {"d": "2023-12-31"}, None, True),
        ("${d} > '2024-01-01'", {"d": "2023-12-31"}, None, False),
        ("${t} >= '09:00'", {"t": "10:30"}, None, True),
        ("${n} = 12.5", {"n": 12.5}, None, True),
        ("${n} = '12.5'", {"n": "12.50"}, None, False),  # both strings: compared as text
        ("${a} div 0 > 1000", {"a": 1}, None, True),  # infinity
        ("0 div 0 = 0 div 0", {}, None, False),  # NaN is equal to nothing
        ("${ok} = 'yes'", {"ok": True}, None, True),
    ],
)
def test_evaluates_like_xpath(source: str, answers: dict, current: object, expected: bool) -> None:
    assert parse(source).holds(answers, current) is expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("regex(${a}, 'x')", "function regex() is not supported"),
        ("today() > '2020-01-01'", "function today() is not supported"),
        ("if(${a}, 1, 2)", "function if() is not supported"),
        ("../a = 1", "unexpected '.'"),
        ("/data/a = 1", "unexpected '/'"),
        ("foo = 1", "'foo' at character 1 is not supported"),
        ("${a b} = 1", "is not a question name"),
        ("${a} >", "expected a value at the end"),
        ("(((1)", "expected ')' at the end"),
        ("${a} = 1 1", "unexpected '1' at character 10"),
        ("selected('a', 'b')", "needs a question"),
        ("selected(${a})", "takes 2 argument(s), 1 given"),
        ("not(1, 2)", "takes 1 argument(s), 2 given"),
        ("${a} = 'unterminated", 'unexpected "\'"'),
        ("x" * 1001, "longer than 1000"),
        ("(" * 40 + "1" + ")" * 40, "nested more than 32"),
        ("-" * 40 + "1", "nested more than 32"),
    ],
)
def test_refuses_outside_the_subset_by_name(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(source)


def test_references_and_self() -> None:
    parsed = parse("${a} > 1 and selected(${b}, 'x') and . != ''")
    assert parsed.references == {"a", "b"}
    assert parsed.reads_self
    assert not parse("${a} = 1").reads_self


def test_a_long_chain_evaluates_without_deep_recursion() -> None:
    source = "+".join(["1"] * 300) + "=300"
    assert parse(source).holds({})


def test_values_as_xpath_sees_them() -> None:
    assert as_value(None) == ""
    assert as_value(3) == 3.0
    assert as_value(["a", "b"]) == "a b"
    assert as_value({"latitude": 1.0, "longitude": 2.0}) == "answered"
    assert math.isnan(parse("${a} + 1").evaluate({"a": "x"}))  # type: ignore[arg-type]


def test_recall() -> None:
    label = "${name} さん、${ age }歳ですね"
    assert recalled_names(label) == ["name", "age"]
    shown = {"name": "花子", "age": "30"}
    assert recall(label, lambda name: shown.get(name, "")) == "花子 さん、30歳ですね"
