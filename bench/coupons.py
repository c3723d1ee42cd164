"""Coupon redemption benchmark: many clerks redeeming at once, on PostgreSQL (docs/coupons.md).

The workload (defaults): 1,000 verified persons, each holding the pilot's coupon (3 uses),
8 facilities, 16 clerks. Every person comes 5 times (more than the cap), each time at one
of the campaign's facilities, showing the code of a new 30-second step; the 5,000 visits are
shuffled (fixed seed) and 16 client threads, each a clerk with its own database connection,
take them from one queue as fast as they can. Each visit is what the facility page's
confirm does: one unit of work that reads the QR token (``coupons.redemption.read_scan``)
and redeems it (``redeem_coupon``: the coupon's row lock, the rules, the conditional
updates, the use and the attempt's log row), then commits.

This drives the real redemption service in threads, in one process (not the HTTP endpoint
under gunicorn: its cost is the console's session and CSRF checks, which
bench/webhook.py's kind of measurement covers for the web tier). Time is each visit's,
from the start of its transaction to its commit. Visits of one person run concurrently in
different threads (the shuffle puts them anywhere), so the row lock and the cap are
exercised, and so is the campaign's shared budget counter.

It prints visits and redemptions per second and p50/p99 latency, checks that every person
has exactly 3 uses, 2 refusals ``over_cap`` and nothing else (no error, no other reason),
and says PASS or FAIL against the target (p99 under 50 ms). It writes
``bench/results/coupons-<timestamp>.json``. Exit status 0 when the run finished (target
met or not), 1 when the checks failed or the run broke, 2 for bad arguments.

    .venv/bin/python bench/coupons.py                      # the full run
    .venv/bin/python bench/coupons.py --persons 50 --clients 4   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import html
import http.client
import json
import math
import os
import platform
import queue
import random
import re
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, insert, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.db import Database  # noqa: E402
from bot.migrate import upgrade_database  # noqa: E402
from coupons import redemption  # noqa: E402
from coupons.redemption import Redeemed, Refused  # noqa: E402
from coupons.tokens import STEP_SECONDS, Subject, derive_key, qr_token, step_of  # noqa: E402
from models import Facility, Role, Staff, StaffRole  # noqa: E402
from models.coupons import (  # noqa: E402
    Campaign,
    CampaignStatus,
    CardHolder,
    Entitlement,
    Redemption,
    RedemptionAttempt,
    RefusalReason,
    campaign_facilities,
)

RESULTS = ROOT / "bench" / "results"
DEFAULT_BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/madoguchi_cpuse"
#: The target.
MAX_P99_MS = 50.0
USES = 3
FACILITIES = 8
SECRET_KEY = "coupon-bench-secret-key-of-some-length"


@dataclass(frozen=True)
class Seeded:
    """What the run works on."""

    campaign_id: int
    facility_ids: list[int]
    staff_ids: list[int]
    #: One per person: (entitlement, holder, campaign) as the codes are made of.
    subjects: list[Subject]


@dataclass(frozen=True)
class Visit:
    """One person at one facility, showing the code of one step."""

    subject: Subject
    facility_id: int
    step: int


@dataclass
class Outcome:
    """What the run did and measured."""

    visits: int = 0
    redeemed: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    #: Seconds per visit, from the start of its transaction to its commit.
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    #: CPU seconds this process (all its threads) used during the run.
    cpu_seconds: float = 0.0


def seed(db: Database, persons: int, clients: int, *, now: datetime) -> Seeded:
    """A published campaign (3 uses, no other limit) at 8 facilities, ``clients`` clerks,
    and ``persons`` card holders each granted it, in bulk."""
    with db.unit_of_work() as session:
        facilities = [
            Facility(code=f"bench-{n}", name_ja=f"施設{n}", name_en=f"Facility {n}")
            for n in range(FACILITIES)
        ]
        session.add_all(facilities)
        campaign = Campaign(
            code="bench",
            name_ja="ベンチマーク",
            name_en="Benchmark",
            benefit_ja="入館無料",
            benefit_en="Free entry",
            status=CampaignStatus.PUBLISHED,
            uses_per_person=USES,
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=30),
        )
        session.add(campaign)
        session.flush()
        session.execute(
            insert(campaign_facilities),
            [{"campaign_id": campaign.id, "facility_id": f.id} for f in facilities],
        )
        staff = [
            Staff(
                email=f"clerk{n}@bench.example.jp",
                display_name=f"clerk {n}",
                password_hash="x",
            )
            for n in range(clients)
        ]
        session.add_all(staff)
        session.flush()
        session.execute(
            insert(StaffRole), [{"staff_id": s.id, "role": Role.FACILITY} for s in staff]
        )
        session.execute(
            insert(CardHolder),
            [{"person_key": f"{n:064x}", "verified_at": now} for n in range(1, persons + 1)],
        )
        holders = list(session.scalars(select(CardHolder.id).order_by(CardHolder.id)))
        session.execute(
            insert(Entitlement),
            [
                {
                    "campaign_id": campaign.id,
                    "holder_id": holder,
                    "uses_total": USES,
                    "uses_left": USES,
                }
                for holder in holders
            ],
        )
        rows = session.execute(
            select(Entitlement.id, Entitlement.holder_id).order_by(Entitlement.id)
        ).all()
        return Seeded(
            campaign.id,
            [f.id for f in facilities],
            [s.id for s in staff],
            [Subject(row.id, row.holder_id, campaign.id) for row in rows],
        )


def plan(seeded: Seeded, attempts: int, *, first_step: int, seed_value: int = 7) -> list[Visit]:
    """Every person ``attempts`` times, each at a new step and the next facility; shuffled."""
    visits = [
        Visit(subject, seeded.facility_ids[(n + k) % len(seeded.facility_ids)], first_step + k)
        for n, subject in enumerate(seeded.subjects)
        for k in range(attempts)
    ]
    random.Random(seed_value).shuffle(visits)
    return visits


def visit(db: Database, key: bytes, one: Visit, staff_id: int, serial: int) -> Redeemed | Refused:
    """What the facility page's confirm does for one scan: read it, redeem it, commit."""
    token = qr_token(key, one.subject, one.step)  # the resident's page made it
    now = datetime.fromtimestamp(one.step * STEP_SECONDS + 1, UTC)
    with db.unit_of_work() as session:
        scanned = redemption.read_scan(session, token, key=key, now=now)
        if isinstance(scanned, Refused):
            return scanned
        return redemption.redeem_coupon(
            session,
            scanned,
            facility_id=one.facility_id,
            staff_id=staff_id,
            idempotency_key=f"bench-{serial:012d}-{one.subject.entitlement_id:08d}",
            now=now,
        )


def run(db: Database, seeded: Seeded, visits: list[Visit], clients: int, key: bytes) -> Outcome:
    """``clients`` threads take the visits from one queue; every visit timed."""
    work: queue.SimpleQueue[tuple[int, Visit]] = queue.SimpleQueue()
    for serial, one in enumerate(visits):
        work.put((serial, one))
    outcome = Outcome(visits=len(visits))
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def clerk(staff_id: int) -> None:
        mine: list[float] = []
        redeemed = 0
        refused: Counter[str] = Counter()
        errors: list[str] = []
        start.wait()
        while True:
            try:
                serial, one = work.get_nowait()
            except queue.Empty:
                break
            began = time.perf_counter()
            try:
                result = visit(db, key, one, staff_id, serial)
            except Exception as error:  # counted, and the run fails its checks
                errors.append(f"{type(error).__name__}: {error}"[:300])
                continue
            mine.append(time.perf_counter() - began)
            if isinstance(result, Redeemed):
                redeemed += 1
            else:
                refused[result.reason.value] += 1
        with lock:
            outcome.latencies += mine
            outcome.redeemed += redeemed
            outcome.refused.update(refused)
            outcome.errors += errors

    threads = [
        threading.Thread(target=clerk, args=(seeded.staff_ids[n % len(seeded.staff_ids)],))
        for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    outcome.seconds = time.perf_counter() - began
    outcome.cpu_seconds = time.process_time() - cpu
    return outcome


def check(db: Database, seeded: Seeded, outcome: Outcome, attempts: int) -> list[str]:
    """What is wrong with the stored result (empty: exactly 3 uses per person, the rest
    refused ``over_cap``, counters consistent)."""
    persons = len(seeded.subjects)
    uses = min(USES, attempts)
    problems = []
    if outcome.errors:
        problems.append(f"{len(outcome.errors)} visits failed: {outcome.errors[0]}")
    if outcome.redeemed != persons * uses:
        problems.append(f"{outcome.redeemed} redeemed, expected {persons * uses}")
    expected_refusals = {RefusalReason.OVER_CAP.value: persons * (attempts - uses)}
    if dict(+outcome.refused) != {k: v for k, v in expected_refusals.items() if v}:
        problems.append(f"refusals {dict(outcome.refused)}, expected {expected_refusals}")
    with db.reading() as session:
        per_person = Counter(
            dict(
                session.execute(
                    select(Redemption.entitlement_id, func.count())
                    .where(Redemption.undone_at.is_(None))
                    .group_by(Redemption.entitlement_id)
                ).all()
            )
        )
        wrong = [s.entitlement_id for s in seeded.subjects if per_person[s.entitlement_id] != uses]
        if wrong:
            problems.append(f"{len(wrong)} persons without exactly {uses} uses (e.g. {wrong[0]})")
        left = session.scalar(select(func.count()).where(Entitlement.uses_left != USES - uses))
        if left:
            problems.append(f"{left} entitlements with uses_left != {USES - uses}")
        counted = session.scalar(
            select(Campaign.uses_redeemed).where(Campaign.id == seeded.campaign_id)
        )
        if counted != persons * uses:
            problems.append(f"the campaign counted {counted} uses, expected {persons * uses}")
        logged = Counter(
            dict(
                session.execute(
                    select(RedemptionAttempt.outcome, func.count()).group_by(
                        RedemptionAttempt.outcome
                    )
                ).all()
            )
        )
        if sum(logged.values()) != outcome.visits:
            problems.append(f"{sum(logged.values())} attempts logged, {outcome.visits} made")
    return problems


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank), in milliseconds."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank] * 1000


def summary(outcome: Outcome) -> dict[str, Any]:
    """The figures printed and stored."""
    seconds = outcome.seconds or 1e-9
    return {
        "visits": outcome.visits,
        "redeemed": outcome.redeemed,
        "refused": dict(outcome.refused),
        "errors": len(outcome.errors),
        "seconds": round(outcome.seconds, 3),
        "visits_per_second": round(outcome.visits / seconds, 1),
        "redemptions_per_second": round(outcome.redeemed / seconds, 1),
        "p50_ms": round(percentile(outcome.latencies, 0.50), 2),
        "p99_ms": round(percentile(outcome.latencies, 0.99), 2),
        "max_ms": round(max(outcome.latencies, default=0.0) * 1000, 2),
        "mean_ms": round(statistics.fmean(outcome.latencies) * 1000, 2)
        if outcome.latencies
        else 0.0,
        # The clients' own CPU (Python: the service, the ORM, the driver) per visit: with
        # every client in one process, throughput cannot pass 1000 / this per second.
        "client_cpu_ms_per_visit": round(outcome.cpu_seconds / max(1, outcome.visits) * 1000, 2),
    }


@contextlib.contextmanager
def fresh_database(base_url: str) -> Iterator[str]:
    """A new database beside ``base_url``'s (its name + ``_bench``), dropped afterwards."""
    base = make_url(base_url)
    name = f"{base.database}_bench"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench(
    db: Database, *, persons: int, clients: int, attempts: int, key: bytes
) -> tuple[dict[str, Any], list[str]]:
    """Seed, run and check on ``db`` (empty tables); the figures and the problems found."""
    now = datetime.now(UTC)
    seeded = seed(db, persons, clients, now=now)
    visits = plan(seeded, attempts, first_step=step_of(now))
    outcome = run(db, seeded, visits, clients, key)
    return summary(outcome), check(db, seeded, outcome, attempts)


# -- over HTTP, under gunicorn ----------------------------------------------------------------

#: The clerks' password (their accounts exist only in the bench's database).
PASSWORD = "bench-clerk-password-1234"
TOKEN_FIELD = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
SCAN_FIELD = re.compile(r'name="scan" type="hidden" value="([^"]+)"')
REASON = re.compile(r"(?:理由コード|Reason code)[:：]\s*([a-z_]+)")


class Browser:
    """One clerk's phone: a keep-alive connection and the console's cookies (sent as they
    are: the bench speaks plain HTTP to a production-mode server, whose cookies say Secure)."""

    def __init__(self, port: int) -> None:
        self.address = ("127.0.0.1", port)
        self.connection = http.client.HTTPConnection(*self.address, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        except (ConnectionError, http.client.HTTPException):
            # The server closed the idle keep-alive connection (between rounds): again, once,
            # on a new one. A confirm sent twice still counts once (its idempotency key).
            self.connection.close()
            self.connection = http.client.HTTPConnection(*self.address, timeout=30)
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        text_ = response.read().decode()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, cookie = pair.partition("=")
                self.cookies[key.strip()] = cookie.strip()
        return response.status, text_

    def sign_in(self, email: str) -> None:
        _status, page = self.request("GET", "/admin/signin")
        token = TOKEN_FIELD.search(page)
        if token is None:
            raise RuntimeError("no sign-in form")
        status, _page = self.request(
            "POST",
            "/admin/signin",
            {"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        if status != 302:
            raise RuntimeError(f"sign-in answered {status}")

    def visit(self, facility_id: int, code: str, token: str) -> tuple[str, float]:
        """Check the code, confirm it if it can be used; the outcome and the confirm's time."""
        status, page = self.request(
            "POST", f"/admin/redeem/{facility_id}/check", {"code": code, "csrf_token": token}
        )
        scan = SCAN_FIELD.search(page)
        if status != 200:
            raise RuntimeError(f"check answered {status}")
        if scan is None:
            refused = REASON.search(page)
            return (refused.group(1) if refused else "unreadable"), 0.0
        began = time.perf_counter()
        status, done = self.request(
            "POST",
            f"/admin/redeem/{facility_id}/confirm",
            {"scan": html.unescape(scan.group(1)), "csrf_token": token},
        )
        took = time.perf_counter() - began
        if status != 200:
            raise RuntimeError(f"confirm answered {status}")
        refused = REASON.search(done)
        return (refused.group(1) if refused else "redeemed"), took


def run_http(
    port: int, seeded: Seeded, attempts: int, clients: int, key: bytes, emails: list[str]
) -> Outcome:
    """The clerks, signed in through the console, redeem in rounds: each person once per
    round, one round per 30-second step (a code is used once, and the server's clock is the
    real one). Times are each visit's check and confirm together."""
    outcome = Outcome(visits=len(seeded.subjects) * attempts)
    browsers = [Browser(port) for _ in range(clients)]
    tokens = []
    for browser, email in zip(browsers, emails, strict=True):
        browser.sign_in(email)
        _status, page = browser.request("GET", f"/admin/redeem/{seeded.facility_ids[0]}")
        found = TOKEN_FIELD.search(page)
        if found is None:
            raise RuntimeError("no scan form")
        tokens.append(html.unescape(found.group(1)))
    rng = random.Random(7)
    lock = threading.Lock()
    last_step = -1
    for round_number in range(attempts):
        while step_of(datetime.now(UTC)) <= last_step:  # a new step for everyone's next code
            time.sleep(0.2)
        began, cpu = time.perf_counter(), time.process_time()
        work: queue.SimpleQueue[Subject] = queue.SimpleQueue()
        people = list(seeded.subjects)
        rng.shuffle(people)
        for person in people:
            work.put(person)
        steps: list[int] = []

        def clerk(
            index: int, work: queue.SimpleQueue[Subject], round_number: int, steps: list[int]
        ) -> None:
            browser, token = browsers[index], tokens[index]
            while True:
                try:
                    person = work.get_nowait()
                except queue.Empty:
                    return
                step = step_of(datetime.now(UTC))
                facility = seeded.facility_ids[(person.entitlement_id + round_number) % FACILITIES]
                started = time.perf_counter()
                try:
                    result, _confirm = browser.visit(facility, qr_token(key, person, step), token)
                except Exception as error:
                    with lock:
                        outcome.errors.append(f"{type(error).__name__}: {error}"[:300])
                    continue
                took = time.perf_counter() - started
                with lock:
                    steps.append(step)
                    outcome.latencies.append(took)
                    if result == "redeemed":
                        outcome.redeemed += 1
                    else:
                        outcome.refused[result] += 1

        threads = [
            threading.Thread(target=clerk, args=(n, work, round_number, steps))
            for n in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        last_step = max(steps, default=last_step)
        # Throughput counts the rounds' own time, not the waits for the next step.
        outcome.seconds += time.perf_counter() - began
        outcome.cpu_seconds += time.process_time() - cpu
        print(f"  round {round_number + 1}/{attempts} done")
    return outcome


def bench_http(
    url: str, *, persons: int, clients: int, attempts: int, log: Path
) -> tuple[dict[str, Any], list[str]]:
    """Seed ``url``, serve the app on it with gunicorn (the repository's config), and run."""
    from bench.webhook import Gunicorn, server_env
    from bot.console.users import hash_password
    from models import StaffFacility

    db = Database(url)
    try:
        now = datetime.now(UTC)
        seeded = seed(db, persons, clients, now=now)
        with db.unit_of_work() as session:
            hashed = hash_password(PASSWORD)
            session.execute(
                update(Staff).where(Staff.id.in_(seeded.staff_ids)).values(password_hash=hashed)
            )
            session.execute(
                insert(StaffFacility),
                [
                    {"staff_id": staff, "facility_id": facility}
                    for staff in seeded.staff_ids
                    for facility in seeded.facility_ids
                ],
            )
            emails = list(
                session.scalars(
                    select(Staff.email).where(Staff.id.in_(seeded.staff_ids)).order_by(Staff.id)
                )
            )
        env = server_env("http://127.0.0.1:9", "0" * 32, "0" * 64)
        env.update(
            DATABASE_URL=url, SECRET_KEY=SECRET_KEY, SIGN_IN_LIMIT_PER_ADDRESS="1000 per minute"
        )
        server = Gunicorn(None, env, log)
        try:
            server.await_ready()
            outcome = run_http(
                server.port, seeded, attempts, clients, derive_key(SECRET_KEY), emails
            )
        finally:
            server.stop()
        return summary(outcome), check(db, seeded, outcome, attempts)
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--attempts", type=int, default=5, help="visits per person")
    parser.add_argument(
        "--http",
        action="store_true",
        help="through the facility page under gunicorn (rounds of one step each), not threads",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_BASE_URL),
        help="a PostgreSQL URL; the run uses a fresh database named after it + _bench",
    )
    args = parser.parse_args(argv)
    if args.persons < 1 or args.clients < 1 or args.attempts < 1:
        parser.error("persons, clients and attempts are at least 1")
    how = "the facility page over HTTP, gunicorn" if args.http else "threads, the real service"
    print(
        f"coupon redemption: {args.persons} persons x {args.attempts} visits, "
        f"{args.clients} clerks ({how}), PostgreSQL"
    )
    load_before = os.getloadavg()
    try:
        with fresh_database(args.database_url) as url:
            upgrade_database(url)
            if args.http:
                RESULTS.mkdir(parents=True, exist_ok=True)
                figures, problems = bench_http(
                    url,
                    persons=args.persons,
                    clients=args.clients,
                    attempts=args.attempts,
                    log=RESULTS / "coupons-gunicorn.log",
                )
                return report(
                    args, figures, problems, "the facility page over HTTP, gunicorn", load_before
                )
            db = Database(url, pool_size=args.clients + 2, max_overflow=0)
            try:
                figures, problems = bench(
                    db,
                    persons=args.persons,
                    clients=args.clients,
                    attempts=args.attempts,
                    key=derive_key(SECRET_KEY),
                )
            finally:
                db.dispose()
    except Exception as error:
        print(f"the run broke: {type(error).__name__}: {error}")
        return 1
    return report(args, figures, problems, "redemption service in threads", load_before)


def report(
    args: argparse.Namespace,
    figures: dict[str, Any],
    problems: list[str],
    mode: str,
    load_before: tuple[float, float, float],
) -> int:
    """Print the figures and the verdicts, store them; the exit status."""
    for name, value in figures.items():
        print(f"  {name:24} {value}")
    print(
        f"  {'load average (1 min)':24} {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    met = figures["p99_ms"] < MAX_P99_MS
    print(f"{'PASS' if met else 'MISSED'}: p99 {figures['p99_ms']} ms (target < {MAX_P99_MS} ms)")
    print(f"{'FAIL' if problems else 'PASS'}: exactly {USES} uses per person, nothing else")
    for problem in problems:
        print(f"  {problem}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {
        "bench": "coupons",
        "at": stamp,
        "arguments": {k: v for k, v in vars(args).items() if k != "database_url"},
        "mode": mode,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        # Other work on the machine changes every figure: the 1-minute load before and after.
        "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "target_p99_ms": MAX_P99_MS,
        "target_met": met,
        "checks_passed": not problems,
        "problems": problems,
        **figures,
    }
    path = RESULTS / f"coupons-{stamp}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"results: {path.relative_to(ROOT)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
