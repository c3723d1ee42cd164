"""Survey results benchmark: a 10-question survey with 100,000 submissions on PostgreSQL.

It empties the database it is given (``--database-url``; it must be one the benchmark may
wipe), migrates it with Alembic, creates a published survey of ten questions of mixed kinds
(single and multiple choice, yes/no, a 1-5 range, an integer, a decimal, a date, free text,
a location, a municipality that is also a resident attribute), and bulk-loads N submissions
with their answers (COPY on PostgreSQL), a few rehearsal submissions, and the answering
dialogs (every submission's completed one, and 15% more that stopped half-way). Then, each
in a fresh process so memory is measured from a clean start, it times:

* ``results``: the results page, the whole view (every statement and the template) in a
  request context, run three times (the median counts; the first run is reported too);
* ``csv``: streaming every submission through ``bot.csvexport`` into a file;
* ``xlsx``: the same through XlsxWriter (``constant_memory``) into a file;

and reports each one's peak memory growth (the process's peak resident set size over its
size just before the work started). Targets (issue 10): results under 0.5 s, CSV under 10 s,
XLSX under 30 s, memory growth under 50 MB. It prints a table with MET or MISSED and writes
``bench/results/surveys-<timestamp>.json``.

    .venv/bin/python bench/surveys.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench

Exit status: 0 when it ran (targets met or not), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, insert, text  # noqa: E402

#: Targets of issue 10.
TARGETS = {"results": 0.5, "csv": 10.0, "xlsx": 30.0}
MEMORY_TARGET_MB = 50.0
#: Share of extra dialogs that stopped before sending (of the submissions).
DROPPED_SHARE = 0.15
#: Rehearsal submissions (left out of results; they must not cost much either).
REHEARSALS = 50
#: Residents who answer (identified survey: each submission names one).
RESIDENTS = 2000
MUNICIPALITIES = [f"10{n:03d}" for n in range(201, 236)]
AGE_BANDS = ["10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70_plus"]
SERVICES = ["bus", "library", "clinic", "park", "pool", "museum", "school", "office"]
COMMENTS = [
    "バスの本数を増やしてほしい",
    "図書館の開館時間を延ばしてください",
    "公園がきれいで助かっています",
    "窓口の待ち時間が長い",
    '=HYPERLINK("http://example.com")',
    "駐車場が足りません",
    "子育て支援がありがたい",
]


def definition() -> Any:
    """The benchmark's survey: ten questions of mixed kinds."""
    from surveys.definition import Definition, Question

    def choices(codes: Sequence[str]) -> dict[str, Any]:
        return {"choices": [{"code": c, "label": {"ja": c, "en": c}} for c in codes]}

    return Definition(
        title={"ja": "県民満足度調査（ベンチマーク）", "en": "Benchmark survey"},
        questions=(
            Question(
                "municipality",
                "single_choice",
                {"ja": "お住まいの市町村"},
                config=choices(MUNICIPALITIES),
                attribute="municipality",
            ),
            Question("age_band", "single_choice", {"ja": "年代"}, config=choices(AGE_BANDS)),
            Question(
                "services", "multiple_choice", {"ja": "利用した施設"}, config=choices(SERVICES)
            ),
            Question("satisfaction", "range", {"ja": "満足度"}, config={"start": 1, "end": 5}),
            Question("visits", "integer", {"ja": "来庁回数"}, config={"min": 0, "max": 50}),
            Question("spend", "decimal", {"ja": "交通費"}, config={"min": 0}),
            Question("visited_on", "date", {"ja": "最後に来庁した日"}),
            Question("comment", "text", {"ja": "ご意見"}),
            Question("place", "location", {"ja": "よく行く場所"}),
            Question("agree", "yes_no", {"ja": "結果の公表に同意しますか"}),
        ),
    )


# -- the database --------------------------------------------------------------------------------


def reset_database(url: str) -> None:
    """Empty the database (its public schema) and migrate it."""
    from bot.migrate import upgrade_database

    engine = create_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_database(url)


def create_bench_survey(url: str) -> tuple[int, int, dict[str, int]]:
    """A published benchmark survey: (survey id, version id, question id by name)."""
    from bot.db import Database
    from models.base import utcnow
    from surveys.services import create_survey, publish

    db = Database(url)
    try:
        with db.unit_of_work() as session:
            survey = create_survey(session, definition(), one_answer=False)
            version = publish(session, survey, now=utcnow())
            ids = {q.name: q.id for q in version.questions}
            return survey.id, version.id, ids
    finally:
        db.dispose()


def _answers(
    rng: random.Random, submission_id: str, q: dict[str, int], resident_place: str
) -> Iterator[tuple[Any, ...]]:
    """One submission's answer rows: (submission, question, ordinal, option, number, text,
    extra JSON)."""
    yield (submission_id, q["municipality"], 0, resident_place, None, None, None)
    yield (submission_id, q["age_band"], 0, rng.choice(AGE_BANDS), None, None, None)
    chosen = sorted(rng.sample(range(len(SERVICES)), rng.randint(0, 4)))
    if chosen:
        for ordinal, index in enumerate(chosen):
            yield (submission_id, q["services"], ordinal, SERVICES[index], None, None, None)
    else:
        yield (submission_id, q["services"], 0, None, None, None, None)
    yield (submission_id, q["satisfaction"], 0, None, float(rng.randint(1, 5)), None, None)
    yield (submission_id, q["visits"], 0, None, float(rng.randint(0, 50)), None, None)
    yield (submission_id, q["spend"], 0, None, round(rng.uniform(0, 3000), 1), None, None)
    day = date(2026, 1, 1) + timedelta(days=rng.randrange(330))
    yield (submission_id, q["visited_on"], 0, None, None, day.isoformat(), None)
    if rng.random() < 0.5:
        comment = f"{rng.choice(COMMENTS)} ({rng.randrange(1000)})"
        yield (submission_id, q["comment"], 0, None, None, comment, None)
    if rng.random() < 0.3:
        place = {
            "latitude": round(36.3 + rng.random(), 6),
            "longitude": round(139.0 + rng.random(), 6),
            "address": f"群馬県前橋市大手町{rng.randint(1, 3)}丁目",
        }
        yield (
            submission_id,
            q["place"],
            0,
            None,
            None,
            None,
            json.dumps(place, ensure_ascii=False),
        )
    yield (submission_id, q["agree"], 0, rng.choice(["yes", "no"]), None, None, None)


SUBMISSION_COLUMNS = (
    "id",
    "survey_id",
    "version_id",
    "resident_id",
    "anonymous",
    "test",
    "submitted_on",
    "submitted_at",
    "duration_seconds",
    "language",
)
ANSWER_COLUMNS = ("submission_id", "question_id", "ordinal", "option", "number", "text", "extra")
DIALOG_COLUMNS = (
    "resident_id",
    "flow",
    "subject_id",
    "state",
    "data",
    "status",
    "version",
    "started_at",
    "updated_at",
    "expires_at",
    "completed_at",
    "ended_at",
)


def seed(url: str, submissions: int, *, seed_value: int = 20261203) -> dict[str, Any]:
    """Create the survey and load ``submissions`` submissions, their answers and dialogs.

    :return: the survey and version ids and how many rows were loaded.
    """
    survey_id, version_id, q = create_bench_survey(url)
    rng = random.Random(seed_value)
    engine = create_engine(url)
    residents = _seed_residents(engine, rng)
    places = {resident: rng.choice(MUNICIPALITIES) for resident in residents}
    start = datetime(2026, 10, 1, tzinfo=UTC)
    sub_rows: list[tuple[Any, ...]] = []
    answer_rows: list[tuple[Any, ...]] = []
    dialog_rows: list[tuple[Any, ...]] = []
    counts = {"submissions": 0, "answers": 0, "dialogs": 0}

    def flush(final: bool = False) -> None:
        if len(answer_rows) >= 50_000 or final:
            _load(engine, "survey_submissions", SUBMISSION_COLUMNS, sub_rows)
            _load(engine, "survey_answers", ANSWER_COLUMNS, answer_rows)
            _load(engine, "dialogs", DIALOG_COLUMNS, dialog_rows)
            counts["submissions"] += sum(1 for row in sub_rows if not row[5])
            counts["answers"] += len(answer_rows)
            counts["dialogs"] += len(dialog_rows)
            sub_rows.clear()
            answer_rows.clear()
            dialog_rows.clear()

    for number in range(submissions + REHEARSALS):
        resident = rng.choice(residents)
        moment = start + timedelta(seconds=rng.randrange(60 * 86400))
        duration = int(rng.lognormvariate(5, 0.6))
        submission_id = f"{rng.getrandbits(128):032x}"
        test = number >= submissions
        day = (moment + timedelta(hours=9)).date()
        sub_rows.append(
            (
                submission_id,
                survey_id,
                version_id,
                resident,
                False,
                test,
                day,
                moment,
                duration,
                "ja",
            )
        )
        answer_rows.extend(_answers(rng, submission_id, q, places[resident]))
        begun = moment - timedelta(seconds=duration)
        dialog_rows.append(
            (
                resident,
                "survey",
                version_id,
                "summary",
                "{}",
                "completed",
                12,
                begun,
                moment,
                moment,
                moment,
                moment,
            )
        )
        if rng.random() < DROPPED_SHARE:
            stopped = f"q:{rng.randrange(10)}" if rng.random() < 0.9 else "summary"
            status = rng.choice(["cancelled", "expired", "parked"])
            ended = None if status == "parked" else moment
            dialog_rows.append(
                (
                    resident,
                    "survey",
                    version_id,
                    stopped,
                    "{}",
                    status,
                    3,
                    begun,
                    moment,
                    moment + timedelta(days=7),
                    None,
                    ended,
                )
            )
        flush()
    flush(final=True)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE surveys SET response_count = :n WHERE id = :id"),
            {"n": submissions, "id": survey_id},
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return {"survey_id": survey_id, "version_id": version_id, **counts}


def loaded_before(url: str) -> dict[str, Any]:
    """What a previous run loaded (``--reuse``)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            survey_id, version_id = connection.execute(
                text("SELECT id, current_version_id FROM surveys ORDER BY id DESC LIMIT 1")
            ).one()
            counts = {
                name: connection.scalar(text(f"SELECT count(*) FROM {table}"))
                for name, table in (
                    ("submissions", "survey_submissions WHERE NOT test"),
                    ("answers", "survey_answers"),
                    ("dialogs", "dialogs"),
                )
            }
    finally:
        engine.dispose()
    return {"survey_id": survey_id, "version_id": version_id, **counts}


def _seed_residents(engine: Engine, rng: random.Random) -> list[int]:
    """Residents with a municipality attribute (for cross-tabulation by attribute)."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        rows = [
            {"line_user_id": f"U{rng.getrandbits(128):032x}", "language": "ja"}
            for _ in range(RESIDENTS)
        ]
        from models import Resident, ResidentAttribute

        connection.execute(insert(Resident), rows)
        ids = [row[0] for row in connection.execute(text("SELECT id FROM residents ORDER BY id"))]
        connection.execute(
            insert(ResidentAttribute),
            [
                {
                    "resident_id": i,
                    "name": "municipality",
                    "value": rng.choice(MUNICIPALITIES),
                    "updated_at": now,
                }
                for i in ids
            ],
        )
    return ids


def _load(engine: Engine, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Bulk-load rows: COPY on PostgreSQL, an executemany INSERT elsewhere."""
    if not rows:
        return
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
        return
    placeholders = ", ".join(f":{c}" for c in columns)
    statement = text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})")
    with engine.begin() as connection:
        connection.execute(statement, [dict(zip(columns, row, strict=True)) for row in rows])


# -- the measurements ------------------------------------------------------------------------------


def bench_app(url: str) -> Any:
    """The app, on the benchmark's database (no LINE platform is called)."""
    from bot import create_app

    return create_app(
        {
            "TESTING": True,
            "MADOGUCHI_ENV": "production",
            "SECRET_KEY": "bench-secret-key",
            "DATABASE_URL": url,
            "LINE_CHANNEL_SECRET": "bench-channel-secret",
            "LINE_CHANNEL_ACCESS_TOKEN": "bench-access-token",
            "LINE_API_BASE_URL": "http://127.0.0.1:9",
            "EVENT_WORKERS": 0,
        }
    )


def time_results(url: str, survey_id: int, runs: int = 3, app: Any = None) -> dict[str, Any]:
    """The results page (view and template) ``runs`` times: seconds of each run.

    :param app: the app to use (built here, and closed after, if not given).
    """
    from flask import g

    from surveys import results_pages

    own = app is None
    app = app or bench_app(url)
    seconds = []
    size = 0
    try:
        for _ in range(runs):
            with app.test_request_context(f"/admin/surveys/{survey_id}/results"):
                began = time.perf_counter()
                page = results_pages.results(survey_id)
                seconds.append(time.perf_counter() - began)
                size = len(page)
                work = g.pop("work", None)
                if work is not None:
                    work.session.close()
    finally:
        if own:
            app.extensions["line"].close()
            app.extensions["db"].dispose()
    return {"seconds": statistics.median(seconds), "runs": seconds, "page_bytes": size}


def time_export(url: str, survey_id: int, file_format: str, out: Path) -> dict[str, Any]:
    """Stream every submission into ``out`` as CSV or XLSX: seconds, rows and bytes."""
    from bot.csvexport import csv_chunks
    from bot.db import Database
    from models.surveys import Survey
    from surveys.exports import export_plan, export_rows, write_xlsx

    db = Database(url)
    rows_written = 0
    try:
        with db.reading() as session:
            began = time.perf_counter()
            survey = session.get(Survey, survey_id)
            assert survey is not None
            version = survey.current_version
            assert version is not None
            plan = export_plan(session, survey, version, style="codes", language="ja")

            def counted() -> Iterator[list[Any]]:
                nonlocal rows_written
                for row in export_rows(session, survey, version, plan):
                    rows_written += 1
                    yield row

            if file_format == "csv":
                with out.open("w", encoding="utf-8", newline="") as handle:
                    for chunk in csv_chunks(plan.header, counted()):
                        handle.write(chunk)
            else:
                with out.open("wb") as binary:
                    write_xlsx(binary, plan.header, counted())
            seconds = time.perf_counter() - began
    finally:
        db.dispose()
    return {"seconds": seconds, "rows": rows_written, "bytes": out.stat().st_size}


def rss_mb() -> float:
    """This process's resident set size now, in MB (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` and add its peak memory growth (peak RSS over RSS just before)."""
    import gc

    gc.collect()
    before = rss_mb()
    cpu = time.process_time()
    result = work()
    result["memory_growth_mb"] = max(0.0, peak_rss_mb() - before)
    result["client_cpu_seconds"] = time.process_time() - cpu
    result["load_average"] = os.getloadavg()[0]
    return result


def measure(task: str, url: str, survey_id: int, out: Path) -> dict[str, Any]:
    """One measurement, in this process (``run_task`` runs it in a fresh one)."""
    # Import what every task needs first, so imports do not count as growth.
    import bot
    import surveys.exports
    import surveys.results_pages

    del bot, surveys
    if task == "results":
        app = bench_app(url)  # the app exists before a page is asked for: not counted
        return measured(lambda: time_results(url, survey_id, app=app))
    return measured(lambda: time_export(url, survey_id, task, out))


def run_task(task: str, url: str, survey_id: int, out: Path) -> dict[str, Any]:
    """One measurement in a fresh process, so its memory is measured from a clean start."""
    command = [sys.executable, str(Path(__file__).resolve()), "--database-url", url]
    command += ["--measure", task, "--survey", str(survey_id), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def verdicts(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each measurement against its targets: ``met`` for time and for memory."""
    judged = {}
    for task, result in results.items():
        if "error" in result:
            judged[task] = {**result, "time_met": False, "memory_met": False}
            continue
        judged[task] = {
            **result,
            "target_seconds": TARGETS[task],
            "time_met": result["seconds"] < TARGETS[task],
            "target_memory_mb": MEMORY_TARGET_MB,
            "memory_met": result["memory_growth_mb"] < MEMORY_TARGET_MB,
        }
    return judged


def report(loaded: dict[str, Any], judged: dict[str, dict[str, Any]]) -> str:
    """The printed table."""
    lines = [
        f"survey {loaded['survey_id']}: {loaded['submissions']:,} submissions "
        f"(and {REHEARSALS} rehearsals), {loaded['answers']:,} answer rows, "
        f"{loaded['dialogs']:,} dialogs",
        f"{'task':<8} {'seconds':>9} {'target':>7}  {'time':<6} {'memory MB':>10} "
        f"{'target':>7}  memory",
    ]
    for task, result in judged.items():
        if "error" in result:
            lines.append(f"{task:<8} ERROR {result['error']}")
            continue
        lines.append(
            f"{task:<8} {result['seconds']:>9.3f} {result['target_seconds']:>7.1f}  "
            f"{'MET' if result['time_met'] else 'MISSED':<6} "
            f"{result['memory_growth_mb']:>10.1f} {result['target_memory_mb']:>7.0f}  "
            f"{'MET' if result['memory_met'] else 'MISSED'}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="a PostgreSQL database the benchmark may empty (or BENCH_DATABASE_URL)",
    )
    parser.add_argument("--submissions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--json", type=Path, help="where to write the figures")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the survey a previous run loaded (no reset, no seeding)",
    )
    parser.add_argument("--seed-only", action="store_true", help="load the data and stop")
    parser.add_argument("--measure", choices=sorted(TARGETS), help=argparse.SUPPRESS)
    parser.add_argument("--survey", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or BENCH_DATABASE_URL) is required")
    if args.submissions < 1:
        parser.error("--submissions must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = args.database_url
    if args.measure:  # one measurement, for run_task: its figures as JSON
        print(json.dumps(measure(args.measure, url, args.survey, args.out)))
        return 0
    began = time.perf_counter()
    if args.reuse:
        loaded = loaded_before(url)
    else:
        reset_database(url)
        loaded = seed(url, args.submissions, seed_value=args.seed)
        print(f"seeded in {time.perf_counter() - began:.1f} s", flush=True)
    if args.seed_only:
        return 0
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for task in ("results", "csv", "xlsx"):
            out = Path(folder) / f"export.{task}"
            results[task] = run_task(task, url, loaded["survey_id"], out)
            print(f"{task}: {results[task]}", flush=True)
    judged = verdicts(results)
    print(report(loaded, judged))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = args.json or ROOT / "bench" / "results" / f"surveys-{stamp}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        json.dumps(
            {
                "loaded": loaded,
                "results": judged,
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
            },
            indent=2,
            default=str,
        ),
        encoding="utf-8",
    )
    print(f"written to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
