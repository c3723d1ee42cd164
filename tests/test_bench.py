"""The webhook benchmark's bookkeeping: per-round ratios and the summary over rounds."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from typing import Any

import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "webhook.py"
_SPEC = importlib.util.spec_from_file_location("bench_webhook", _PATH)
assert _SPEC is not None
assert _SPEC.loader is not None
bench = importlib.util.module_from_spec(_SPEC)
sys.modules["bench_webhook"] = bench
_SPEC.loader.exec_module(bench)


def _run(target: str, rps: float, *, p99: float = 50.0, once: bool = True) -> dict[str, Any]:
    return {
        "target": target,
        "requests_per_second": rps,
        "events_answered_per_second": rps * 0.9,
        "p50_ms": p99 / 2,
        "p95_ms": p99 * 0.9,
        "p99_ms": p99,
        "answer_p50_ms": 40.0,
        "answer_p99_ms": 90.0,
        "machine_cpu_busy_percent": 90.0,
        "peak_worker_rss_mb": 100.0 + rps / 100,
        "errors": 0 if once else 1,
        "cpu_ms_per_event": {"workers": 1000 / rps, "postgresql_server": None},
        "verification": {
            "exactly_once": once,
            "events": 100,
            "answered": 100 if once else 99,
            "unanswered_by_kind": {} if once else {"text": 1},
            "answered_more_than_once": 0,
            "refused_reply_attempts": 0,
            "other_deliveries": 0,
        },
    }


def test_ratios_compare_within_a_round() -> None:
    results = [_run("echo", 500), _run("echo-tx", 300), _run("madoguchi-postgresql", 240)]
    bench.add_ratios(results)
    echo, echo_tx, madoguchi = results
    assert echo["ratio_to_echo"] is None
    assert echo["ratio_to_echo_tx"] is None
    assert echo_tx["ratio_to_echo"] == pytest.approx(0.6)
    assert echo_tx["ratio_to_echo_tx"] is None
    assert madoguchi["ratio_to_echo"] == pytest.approx(0.48)
    assert madoguchi["ratio_to_echo_tx"] == pytest.approx(0.8)


def test_without_a_baseline_there_is_no_ratio() -> None:
    results = [_run("madoguchi-postgresql", 240)]
    bench.add_ratios(results)
    assert results[0]["ratio_to_echo"] is None


def test_summary_takes_the_median_of_each_rounds_ratio_and_the_worst_checks() -> None:
    # The machine drifts: round 2 is twice as fast for both, the ratio stays put.
    rounds = [
        [_run("echo", 400), _run("madoguchi-postgresql", 200)],
        [_run("echo", 800), _run("madoguchi-postgresql", 400, p99=150.0, once=False)],
        [_run("echo", 500), _run("madoguchi-postgresql", 300)],
    ]
    for results in rounds:
        bench.add_ratios(results)
    runs = [results[1] for results in rounds]
    summary = bench.summarise(runs)
    assert summary["ratio_to_echo"] == pytest.approx(0.5)  # median of 0.5, 0.5, 0.6
    assert summary["requests_per_second"] == 300
    assert summary["peak_worker_rss_mb"] == pytest.approx(104.0)  # the largest
    assert summary["errors"] == 1
    assert summary["verification"]["exactly_once"] is False
    assert summary["verification"]["events"] == 300
    assert summary["verification"]["unanswered_by_kind"] == {"text": 1}
    assert summary["cpu_ms_per_event"]["postgresql_server"] is None
    checks = dict(bench.evaluate(summary))
    assert checks["acknowledgements 0.50x echo (>= 1.0x)"] is False
    assert checks["end to end - echo-tx (>= 0.8x)"] is False  # echo-tx was not run
    assert summary["passed"] is False


def _report(spent: list[str], pushes: list[str]) -> dict[str, Any]:
    return {
        "spent": [(token, f"r{n}", 0.0) for n, token in enumerate(spent)],
        "deliveries": [{"userId": user, "method": "push"} for user in pushes],
        "refused": [],
    }


def test_an_event_is_answered_by_its_reply_or_by_one_push() -> None:
    sent = {"t1": "U1", "t2": "U1", "t3": "U2"}
    ok = bench.verify_answers(sent, _report(["t1", "t3"], ["U1"]))
    assert ok["exactly_once"] is True
    assert (ok["replied"], ok["pushed"]) == (2, 1)
    missing = bench.verify_answers(sent, _report(["t1"], ["U1"]))
    assert (missing["exactly_once"], missing["unanswered"]) == (False, 1)
    doubled = bench.verify_answers(sent, _report(["t1", "t2", "t3"], ["U2"]))
    assert (doubled["exactly_once"], doubled["answered_more_than_once"]) == (False, 1)
    unknown = bench.verify_answers(sent, _report(["t1", "t2", "t3", "x"], []))
    assert (unknown["exactly_once"], unknown["replies_with_unknown_tokens"]) == (False, 1)


def test_answer_latency_is_measured_by_token_for_replies_and_in_order_for_pushes() -> None:
    sent_at = {"t1": 10.0, "t2": 11.0, "t3": 12.0}
    users = {"t1": "U1", "t2": "U1", "t3": "U2"}
    report = {
        "spent": [("t1", "r1", 10.5), ("t1", "r9", 30.0)],  # a second spend is not an answer
        "deliveries": [
            {"userId": "U2", "method": "push", "at": 15.0},
            {"userId": "U1", "method": "push", "at": 14.0},
            {"userId": "U1", "method": "reply", "at": 10.5},
        ],
    }
    assert bench.answer_latencies(sent_at, users, report) == [0.5, 3.0, 3.0]


def test_a_burst_is_planned_in_requests_of_1_to_100_events() -> None:
    requests = bench.plan_requests(random.Random(7), 5000, ["U1", "U2", "U3"])
    assert sum(map(len, requests)) == 5000
    assert {len(r) for r in requests[:-1]} <= set(range(1, 101))
    assert len({len(r) for r in requests}) > 10  # sizes vary


def _burst(
    *, kill: bool, statuses: dict[str, int], slow: int = 0, once: bool = True
) -> dict[str, Any]:
    return {
        "kill": kill,
        "statuses": statuses,
        "requests_over_limit": slow,
        "request_max_ms": 2500.0 if slow else 300.0,
        "drained_s": 40.0,
        "verification": {"exactly_once": once, "unanswered": 0, "answered_more_than_once": 0},
    }


def test_a_burst_fails_on_a_slow_or_refused_request_or_a_doubled_answer() -> None:
    passed = _burst(kill=False, statuses={"200": 9})
    bench.evaluate_burst(passed)
    assert passed["passed"] is True
    for failing in (
        _burst(kill=False, statuses={"200": 8, "500": 1}),
        _burst(kill=False, statuses={"200": 9}, slow=1),
        _burst(kill=True, statuses={"200": 9}, once=False),
    ):
        bench.evaluate_burst(failing)
        assert failing["passed"] is False
    killed = _burst(kill=True, statuses={"200": 9}, slow=3)  # resends after the kill take time
    bench.evaluate_burst(killed)
    assert killed["passed"] is True


def test_the_survey_mix_publishes_its_survey(tmp_path: Path) -> None:
    """The survey mix's seeding runs in its own process, as the benchmark runs it (a script
    run from bench/ once found bench/surveys.py instead of the surveys package)."""
    from bot.migrate import upgrade_database

    url = f"sqlite:///{tmp_path / 'bench.db'}"
    upgrade_database(url)
    env = bench.server_env("http://127.0.0.1:9", "secret", "token")
    env["DATABASE_URL"] = url
    assert bench.seed_survey(env, tmp_path / "seed.log") == 1
