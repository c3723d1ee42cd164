"""The coupon benchmark's functions on a tiny size, on each test database: seeded, run by
threads through the real redemption service, and checked (exactly 3 uses per person)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from flask import Flask
from sqlalchemy import update

from coupons.tokens import app_key
from models.coupons import Entitlement

_PATH = Path(__file__).resolve().parents[2] / "bench" / "coupons.py"
_SPEC = importlib.util.spec_from_file_location("bench_coupons", _PATH)
assert _SPEC is not None
assert _SPEC.loader is not None
bench = importlib.util.module_from_spec(_SPEC)
sys.modules["bench_coupons"] = bench
_SPEC.loader.exec_module(bench)


def test_the_bench_redeems_exactly_the_cap_per_person(app: Flask) -> None:
    figures, problems = bench.bench(
        app.extensions["db"], persons=6, clients=3, attempts=5, key=app_key(app)
    )
    assert problems == []
    assert figures["visits"] == 30
    assert figures["redeemed"] == 18
    assert figures["refused"] == {"over_cap": 12}
    assert figures["errors"] == 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]


def test_the_check_finds_a_person_over_the_cap(app: Flask) -> None:
    db = app.extensions["db"]
    from datetime import UTC, datetime

    from coupons.tokens import step_of

    now = datetime.now(UTC)
    seeded = bench.seed(db, 3, 2, now=now)
    outcome = bench.run(db, seeded, bench.plan(seeded, 4, first_step=step_of(now)), 2, app_key(app))
    assert bench.check(db, seeded, outcome, 4) == []
    with db.unit_of_work() as session:  # as if a bug had given someone a fourth use
        session.execute(
            update(Entitlement)
            .where(Entitlement.id == seeded.subjects[0].entitlement_id)
            .values(uses_left=1)
        )
    assert any("uses_left" in problem for problem in bench.check(db, seeded, outcome, 4))


def test_percentiles_are_nearest_rank() -> None:
    values = [n / 1000 for n in range(1, 101)]  # 1..100 ms
    assert bench.percentile(values, 0.5) == 50
    assert bench.percentile(values, 0.99) == 99
    assert bench.percentile([], 0.99) == 0.0
