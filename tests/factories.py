"""Row factories: residents stored directly, without LINE events (for console, segment and
attribute tests). Import the fixtures into a folder's conftest.py to use them there."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import pytest
from flask import Flask

from bot.attributes import set_attribute
from bot.residents import lock_resident

ResidentFactory = Callable[..., int]


@pytest.fixture
def create_resident(app: Flask) -> ResidentFactory:
    """Store a resident: ``create_resident(attributes={"age_band": "30-39"})`` returns its id."""
    numbers = itertools.count(1)

    def make(
        *, attributes: Mapping[str, str] | None = None, display_name: str | None = None
    ) -> int:
        with app.extensions["db"].unit_of_work() as session:
            resident = lock_resident(session, f"U{next(numbers):032x}")
            resident.display_name = display_name
            for name, value in (attributes or {}).items():
                set_attribute(session, resident, name, value)
            return resident.id

    return make
