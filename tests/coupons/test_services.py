"""The services' one-time transitions hold under concurrent transactions, and the rate limit
says when the next attempt is allowed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.residents import lock_resident
from coupons import services
from models.base import utcnow
from models.coupons import Campaign, CampaignStatus, Verification, VerificationStatus


def _attempt(app: Flask, status: VerificationStatus) -> int:
    now = utcnow()
    with app.extensions["db"].unit_of_work() as session:
        resident = lock_resident(session, "U" + "c" * 32)
        row = Verification(
            resident_id=resident.id,
            status=status,
            link_expires_at=now + timedelta(minutes=10),
            state_hash=None if status == VerificationStatus.LINK_SENT else "a" * 64,
            started_at=None if status == VerificationStatus.LINK_SENT else now,
        )
        session.add(row)
        session.flush()
        return row.id


def _race(app: Flask, step: Callable[[Session], bool]) -> list[bool]:
    """Run ``step`` in one transaction, and again in a second one that starts while the first
    is still open (it waits for the first's lock); both results."""
    results: list[bool] = []
    with app.extensions["db"].unit_of_work() as first:
        results.append(step(first))

        def second() -> None:
            with app.extensions["db"].unit_of_work() as other:
                results.append(step(other))

        racer = threading.Thread(target=second)
        racer.start()
        time.sleep(0.3)  # the second transaction is waiting on the first by now
    racer.join()
    return results


def test_an_answer_is_taken_once_by_concurrent_transactions(app: Flask) -> None:
    attempt = _attempt(app, VerificationStatus.STARTED)
    assert _race(app, lambda session: services.take_answer(session, attempt)) == [True, False]


def test_a_link_is_spent_once_by_concurrent_transactions(app: Flask) -> None:
    attempt = _attempt(app, VerificationStatus.LINK_SENT)

    def spend(session: Session) -> bool:
        return services.start_verification(
            session, attempt, state_hash=f"{time.monotonic_ns():064d}"[-64:], now=utcnow()
        )

    assert _race(app, spend) == [True, False]


def test_the_rate_limit_says_when_to_come_back(app: Flask) -> None:
    now = utcnow()
    with app.extensions["db"].unit_of_work() as session:
        resident = lock_resident(session, "U" + "d" * 32)
        for minutes_ago in (50, 40, 30):
            issued = services.issue_verification(
                session,
                resident,
                now=now - timedelta(minutes=minutes_ago),
                lifetime=timedelta(minutes=10),
                per_hour=3,
            )
            assert isinstance(issued, Verification)
        refused = services.issue_verification(
            session, resident, now=now, lifetime=timedelta(minutes=10), per_hour=3
        )
    assert isinstance(refused, services.TooManyAttempts)
    assert refused.retry_at == now - timedelta(minutes=50) + timedelta(hours=1)


def test_only_published_current_campaigns_within_budget_are_open(
    app: Flask, campaign: Callable[..., Campaign]
) -> None:
    today = utcnow().date()
    is_open = campaign(code="open")
    campaign(code="later", starts=(today + timedelta(days=3)).isoformat())
    campaign(code="over", starts="2020-01-01", ends=(today - timedelta(days=2)).isoformat())
    for code, values in (
        ("draft", {"status": CampaignStatus.DRAFT}),
        ("withdrawn", {"status": CampaignStatus.WITHDRAWN}),
        ("spent", {"budget_uses": 10, "uses_redeemed": 10}),
    ):
        made = campaign(code=code)
        with app.extensions["db"].unit_of_work() as session:
            session.execute(update(Campaign).where(Campaign.id == made.id).values(**values))
    with app.extensions["db"].sessions() as session:
        assert [c.code for c in services.open_campaigns(session, utcnow())] == [is_open.code]
