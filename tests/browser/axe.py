"""axe-core in the real browser: WCAG 2.2 A/AA checks of whatever a page shows.

``assert_accessible(page)`` evaluates ``axe.min.js`` from ``frontend/node_modules`` (the npm
package pinned in frontend/package.json; ``make install`` puts it there) in the page and
runs it with the WCAG A and AA rule tags up to 2.2. The script is evaluated through the
DevTools protocol, not added as a ``<script>``, so the pages' strict content policies stay
exactly as served.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

AXE_SCRIPT = Path(__file__).parents[2] / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
#: WCAG 2.0, 2.1 and 2.2, levels A and AA (axe tags its rules this way).
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")


@functools.cache
def _source() -> str:
    if not AXE_SCRIPT.exists():
        pytest.fail(f"{AXE_SCRIPT} is missing: run `make install` (npm ci --prefix frontend)")
    return AXE_SCRIPT.read_text(encoding="utf-8")


def violations(page: Page) -> list[dict[str, Any]]:
    """Run axe on the page as it is now; its WCAG A/AA violations."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_source())
    result: dict[str, Any] = page.evaluate(
        "(tags) => axe.run(document, { runOnly: { type: 'tag', values: tags } })",
        list(WCAG_TAGS),
    )
    found: list[dict[str, Any]] = result["violations"]
    return found


def describe(found: list[dict[str, Any]]) -> str:
    """One line per violation and element, for a failing assertion."""
    lines = []
    for violation in found:
        for node in violation["nodes"]:
            lines.append(
                f"{violation['id']} ({violation['impact']}): {violation['help']} "
                f"at {', '.join(map(str, node['target']))}: {node['failureSummary']}"
            )
    return "\n".join(lines)


def assert_accessible(page: Page) -> None:
    """Fail with a readable list if axe finds WCAG 2.2 A/AA violations on the page."""
    found = violations(page)
    assert not found, f"axe found WCAG violations on {page.url}:\n{describe(found)}"
