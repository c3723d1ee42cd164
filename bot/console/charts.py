"""Server-rendered bar charts for console pages: no script, no canvas, readable as text.

A chart is a list of bars, each with its label and its value written out; the bar itself
is an SVG rectangle hidden from assistive technology (the text says everything it shows).
Widths are SVG attributes, not inline styles, so the console's content policy holds. Pages
show the same figures in a data table beside the chart.

Use: build a :class:`BarChart` with :func:`bar_chart`, render it with the macro of
``console/charts.html``::

    {% from "console/charts.html" import bar_chart %}
    {{ bar_chart(chart, hidden_text=_("hidden")) }}

A value of ``None`` is a hidden figure (a small cell kept back): it has no bar and reads
``hidden_text``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value (``None``: hidden) and its length (percent of the
    longest)."""

    label: str
    value: int | None
    percent: float


@dataclass(frozen=True)
class BarChart:
    """A titled list of bars; ``key`` makes the element ids of the chart unique on a page."""

    key: str
    title: str
    bars: list[Bar]


def bar_chart(key: str, title: str, items: Iterable[tuple[str, int | None]]) -> BarChart:
    """A chart of ``(label, value)`` pairs, in the order given.

    :param key: an identifier unique on the page (letters, digits, ``-``, ``_``).
    :raises ValueError: a negative value, or a ``key`` that is not a plain identifier.
    """
    if not key or not all(c.isascii() and (c.isalnum() or c in "-_") for c in key):
        raise ValueError(f"not a plain chart key: {key!r}")
    pairs = list(items)
    if any(value is not None and value < 0 for _label, value in pairs):
        raise ValueError("bar chart values cannot be negative")
    longest = max((value for _label, value in pairs if value is not None), default=0)
    bars = [
        Bar(
            label,
            value,
            0.0 if value is None or longest == 0 else round(100 * value / longest, 1),
        )
        for label, value in pairs
    ]
    return BarChart(key, title, bars)
