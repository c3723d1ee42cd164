"""Real-browser tests (Playwright driving Debian's chromium) and the helpers they share.

The fixtures are in ``tests/browser/conftest.py``. The helpers here are plain functions so
that other test packages can serve an app over real HTTP too (``serve``), and so that a test
can save a screenshot of any state it reaches (``screenshot``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask

from simulator.server import ServedApp

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: Screenshots land here (ignored by git) so a person can look at every page.
ARTIFACTS = Path(__file__).parents[1] / "artifacts"


@contextmanager
def serve(app: Flask, *, workers: int = 1) -> Iterator[ServedApp]:
    """Serve ``app`` on a free local port in a thread until the block ends, with its event
    workers running (webhooks are answered as in production: by the workers, afterwards)."""
    events = app.extensions.get("workers")  # a plain Flask app (a stand-in) has none
    if events is not None:
        events.start(workers)
    try:
        with ServedApp(app, name="live-app") as served:
            yield served
    finally:
        if events is not None:
            events.stop()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as ``tests/artifacts/<name>.png`` and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name).strip('-')}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
