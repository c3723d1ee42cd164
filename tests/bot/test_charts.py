"""Server-rendered bar charts: lengths relative to the longest bar, hidden values, bad input."""

from __future__ import annotations

import pytest
from flask import Flask, render_template_string

from bot.console.charts import Bar, bar_chart


def test_bars_are_relative_to_the_longest_and_hidden_values_have_none() -> None:
    chart = bar_chart(
        "uses", "利用回数", [("美術館", 8), ("昆虫の森", 2), ("公園", None), ("館", 0)]
    )
    assert chart.bars == [
        Bar("美術館", 8, 100.0),
        Bar("昆虫の森", 2, 25.0),
        Bar("公園", None, 0.0),
        Bar("館", 0, 0.0),
    ]
    assert bar_chart("none", "x", [("a", None), ("b", 0)]).bars[1].percent == 0.0
    assert bar_chart("empty", "x", []).bars == []


@pytest.mark.parametrize(
    ("key", "items", "message"),
    [
        ("uses", [("a", -1)], "cannot be negative"),
        ("", [], "not a plain chart key"),
        ('x" onclick="y', [], "not a plain chart key"),
    ],
)
def test_bad_charts_are_refused(key: str, items: list[tuple[str, int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bar_chart(key, "x", items)


def test_the_macro_writes_every_value_as_text(app: Flask) -> None:
    chart = bar_chart("uses", "利用回数 <b>", [("美術館 <i>", 8), ("公園", None)])
    with app.test_request_context():
        html = render_template_string(
            '{% from "console/charts.html" import bar_chart %}{{ bar_chart(chart, "非表示") }}',
            chart=chart,
        )
    assert '<figcaption id="chart-uses-title">利用回数 &lt;b&gt;</figcaption>' in html
    assert '<span class="barchart-label">美術館 &lt;i&gt;</span>' in html
    assert 'width="100.0%"' in html
    assert 'width="0.0%"' in html
    assert '<span class="barchart-value">8</span>' in html
    assert '<span class="barchart-hidden">非表示</span>' in html
    assert html.count('aria-hidden="true"') == 2
    assert "style=" not in html  # the content policy allows no inline styles
