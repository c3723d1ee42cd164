"""Rehearsal: staff answer a draft survey in LINE before publishing it (stored as tests)."""

from __future__ import annotations

from bot.dialog import Arrival, Start


def start(arrival: Arrival) -> Start | None:
    """Start a rehearsal (not yet available: declined)."""
    return None
