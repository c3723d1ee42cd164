"""Webhook benchmark: madoguchi under gunicorn against a minimal echo bot (docs/benchmark.md).

For each target (the echo bot in ``bench/echo_bot.py``; the same bot with the per-event
transaction the core issue requires, ``echo-tx``; the same bot as the smallest durable inbox,
``echo-inbox``; madoguchi on SQLite; madoguchi on PostgreSQL), once per round (3 by default,
interleaved), it starts a fresh fake LINE
platform (``bench/platform_server.py``, its own process), a fresh database (migrated with
Alembic), and gunicorn with the repository's ``gunicorn.conf.py`` (2 workers). It warms the
server up, then posts signed webhooks from threads (one event per body; 80% text, 10%
postback, 10% follow, fixed seed, reply tokens issued by the platform), timing each request
from send to response and sampling the workers' memory. Afterwards it reads back from the
platform every reply and delivery and checks that every event was answered exactly once.
It prints the medians over the rounds (ratios: the median of each round's own) and
PASS/FAIL lines, and writes ``bench/results/webhook-<timestamp>.json``.

That is the ``ack`` scenario. On madoguchi, ``batch`` posts one webhook of 100 and of 500
events at 0 and 100 ms of platform latency, and ``burst`` posts 20,000 events in webhooks of
1 to 100 events with 5% platform faults, then again with the server killed (SIGKILL) half-way
and restarted (docs/benchmark.md).

Exit status: 0 when every target ran (targets missed or not), 1 when the run itself broke
(a server did not start, the database could not be created, ...), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import queue
import random
import secrets
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, bindparam, create_engine, text
from sqlalchemy.engine import make_url

from bot.postback import PostbackData
from simulator.events import callback_body, follow_event, postback_event, sign, text_event

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
BIN = Path(sys.executable).parent

#: Target keys (``--targets``) and their display names, in run order.
TARGETS: dict[str, str] = {
    "echo": "echo",
    "echo-tx": "echo-tx",
    "echo-inbox": "echo-inbox",
    "sqlite": "madoguchi-sqlite",
    "postgresql": "madoguchi-postgresql",
}
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432"
SCENARIOS = ("ack", "batch", "burst")

#: The inbox issue's targets (they replace the core issue's 0.7x and 100 ms).
MIN_RATIO_TO_ECHO = 1.0
MAX_P99_MS = 50.0
MIN_END_TO_END_TO_ECHO_TX = 0.8
MAX_WORKER_RSS_MB = 150.0

WORKERS = 2
#: As gunicorn.conf.py: threads past 4 only add GIL contention on 2 cores (measured).
THREADS = 4
#: The event mix: (kind, weight).
MIX: tuple[tuple[str, float], ...] = (("text", 0.8), ("postback", 0.1), ("follow", 0.1))
TEXTS = (
    "メニュー",
    "こんにちは",
    "help",
    "クーポンはありますか",
    "menu",
    "ありがとうございました",
    "相談したいのですが",
    "図書館は何時まで開いていますか？",
)
POSTBACKS = (
    "v=1&a=menu.surveys",
    "v=1&a=menu.consultation",
    "v=1&a=menu.coupons",
    "v=1&a=menu.announcements",
)
#: Reply tokens are fetched from the platform in batches this size, just ahead of use
#: (a token lives 60 s; the queue holds at most two batches).
TOKEN_BATCH = 64
RSS_SAMPLE_SECONDS = 0.05
START_TIMEOUT = 60.0
#: Longest wait for the platform to have answered every event sent.
ANSWER_TIMEOUT = 180.0
STOP_TIMEOUT = 40.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The run itself broke (a process did not start, a database could not be made...)."""


# -- the workload ------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One event to send: its kind, its resident and what it carries."""

    kind: str
    user_id: str
    payload: str


def plan_events(rng: random.Random, count: int, user_ids: Sequence[str]) -> list[Planned]:
    """The next ``count`` events of the 80/10/10 mix, drawn from ``rng``."""
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    planned = []
    for kind in rng.choices(kinds, weights, k=count):
        payload = rng.choice(TEXTS if kind == "text" else POSTBACKS) if kind != "follow" else ""
        planned.append(Planned(kind, rng.choice(user_ids), payload))
    return planned


def build_event(planned: Planned, reply_token: str) -> dict[str, Any]:
    """The webhook event for a planned one (fresh ``webhookEventId``)."""
    if planned.kind == "text":
        return text_event(planned.user_id, planned.payload, reply_token=reply_token)
    if planned.kind == "postback":
        return postback_event(planned.user_id, planned.payload, reply_token=reply_token)
    return follow_event(planned.user_id, reply_token=reply_token)


# -- processes ---------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file (empty if there is none)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """User + system CPU time of a process (0 if it is gone).

    :param reaped_children: add the time of its children that exited and were waited for
        (how a PostgreSQL postmaster accounts for its short-lived backends).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def processes_cpu(name: str) -> dict[int, float]:
    """CPU seconds of every process named ``name``, with their reaped children's.

    For PostgreSQL this is the server's whole CPU use (backends that exited included), as
    long as it runs on this machine.
    """
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    found[int(entry.name)] = cpu_seconds(int(entry.name), reaped_children=True)
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from ``/proc/stat``."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLOCK_TICKS, sum(values) / CLOCK_TICKS


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in kB; zeros if it is gone."""
    rss = hwm = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def stop_process(process: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    """SIGTERM, wait, then SIGKILL if it would not stop."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        print(f"  {name} (pid {process.pid}) ignored SIGTERM for {timeout:.0f} s: killing it")
        process.kill()
        process.wait(10)


class Platform:
    """The fake LINE platform process (bench/platform_server.py) and its control API."""

    def __init__(self, access_token: str, log: Path) -> None:
        self.log = log
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(BENCH / "platform_server.py"), "--access-token", access_token],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        self.url = self._await_ready()
        parts = urlsplit(self.url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._connection = http.client.HTTPConnection(self._host, self._port, timeout=60)

    def _await_ready(self) -> str:
        assert self.process.stdout is not None  # Popen(stdout=PIPE)
        ready, _, _ = select.select([self.process.stdout], [], [], START_TIMEOUT)
        line = self.process.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise BenchError(f"the fake platform did not start:\n{tail(self.log)}")
        return line.split(" ", 1)[1]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One control API call; the decoded JSON answer."""
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload else {}
        self._connection.request(method, path, body=payload, headers=headers)
        response = self._connection.getresponse()
        data = response.read()
        if response.status >= 300:
            raise BenchError(f"platform {method} {path}: HTTP {response.status} {data[:200]!r}")
        return json.loads(data)

    def create_users(self, user_ids: Sequence[str]) -> None:
        """Registers the residents (already friends)."""
        self.call("POST", "/_bench/users", {"userIds": list(user_ids)})

    def reply_tokens(self, user_ids: Sequence[str]) -> list[str]:
        """Issues one reply token per resident given, in order."""
        tokens: list[str] = self.call("POST", "/_bench/reply-tokens", {"userIds": list(user_ids)})[
            "replyTokens"
        ]
        return tokens

    def conditions(self, *, latency_ms: float = 0, fault_rate: float = 0.0) -> None:
        """Sets the Messaging API's latency and fault rate from now on."""
        self.call("POST", "/_bench/conditions", {"latencyMs": latency_ms, "faultRate": fault_rate})

    def answered(self) -> tuple[int, float]:
        """Replies plus pushes delivered so far, and the time of the last one."""
        progress = self.call("GET", "/_bench/progress")
        return int(progress["spent"]) + int(progress["pushes"]), float(progress["lastAt"])

    def await_answered(self, count: int, timeout: float) -> float | None:
        """Waits until ``count`` answers arrived in all; the last one's time, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answered, last = self.answered()
            if answered >= count:
                return last
            time.sleep(0.02)
        return None

    def report(self) -> dict[str, Any]:
        """Spent and refused tokens, deliveries and request counts."""
        report: dict[str, Any] = self.call("GET", "/_bench/report")
        return report

    def cpu(self) -> float:
        """CPU seconds used so far."""
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        """Stops the process."""
        with contextlib.suppress(AttributeError):
            self._connection.close()
        stop_process(self.process, "the fake platform", 10)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Gunicorn:
    """A gunicorn master with the repository's config, serving one app on a free port."""

    def __init__(
        self, app: str | None, env: dict[str, str], log: Path, *, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.log = log
        command = [str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py")]
        # Local only, and no control socket: gunicorn's default one ($HOME/.gunicorn/
        # gunicorn.ctl) would replace that of any other gunicorn this user runs.
        command += ["--bind", f"127.0.0.1:{self.port}", "--no-control-socket"]
        if app is not None:  # the echo bot; madoguchi is the config's wsgi_app
            command += ["--pythonpath", str(BENCH), app]
        full_env = {
            **env,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(WORKERS),
            "GUNICORN_THREADS": str(THREADS),
        }
        with log.open("ab") as stderr:
            # Its own process group: kill() takes the master and its workers at once.
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=full_env,
                stdout=stderr,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.process.pid
        self.worker_pids: set[int] = set()

    def await_ready(self) -> None:
        """Waits until ``/healthz`` answers and every worker is forked (a 503 counts: the
        server is up, and says that the inbox has a backlog).

        :raises BenchError: the master exited or did not become ready in time.
        """
        deadline = time.monotonic() + START_TIMEOUT
        healthy = 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited with status {self.process.returncode}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                try:
                    connection.request("GET", "/healthz")
                    status = connection.getresponse().status
                    healthy = healthy + 1 if status in (200, 503) else 0
                finally:
                    connection.close()
            workers = children(self.pid)
            # A few answers in a row: both workers have probably loaded the app by then.
            if healthy >= 5 and len(workers) >= WORKERS:
                self.worker_pids.update(workers)
                return
            time.sleep(0.1)
        raise BenchError(f"gunicorn did not become ready in {START_TIMEOUT:.0f} s")

    def workers(self) -> list[int]:
        """The live workers (remembered, so a respawn is noticed)."""
        current = children(self.pid)
        self.worker_pids.update(current)
        return current

    def workers_cpu(self) -> float:
        """CPU seconds used so far by the live workers."""
        return sum(cpu_seconds(pid) for pid in self.workers())

    def kill(self) -> None:
        """SIGKILL to the master and every worker at once (a machine that lost power)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Graceful stop (SIGTERM); kills the master and any worker left after the timeout."""
        stop_process(self.process, "gunicorn", STOP_TIMEOUT)
        for pid in self.worker_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 0)
                print(f"  gunicorn worker {pid} outlived its master: killing it")
                os.kill(pid, signal.SIGKILL)


class MemorySampler(threading.Thread):
    """Samples the gunicorn workers' VmRSS every 50 ms and keeps their VmHWM."""

    def __init__(self, server: Gunicorn) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.server = server
        self.peak_kb: dict[int, int] = {}
        self.samples = 0
        self._stop_event = threading.Event()

    def sample(self) -> None:
        """One reading of every live worker."""
        for pid in self.server.workers():
            rss, hwm = memory_kb(pid)
            self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), rss, hwm)
        self.samples += 1

    def run(self) -> None:
        while not self._stop_event.wait(RSS_SAMPLE_SECONDS):
            self.sample()

    def finish(self) -> float:
        """Stops sampling; the peak RSS of any worker, in MB."""
        self._stop_event.set()
        self.join()
        self.sample()
        return max(self.peak_kb.values(), default=0) / 1024


# -- databases ---------------------------------------------------------------------------


@dataclass
class PostgresDatabase:
    """A benchmark database on a PostgreSQL server."""

    name: str
    url: str
    server_version: str
    admin: Engine

    def sessions(self) -> int | None:
        """Sessions (connections) opened to the database so far (PostgreSQL 14+)."""
        with contextlib.suppress(Exception), self.admin.connect() as connection:
            query = text("SELECT sessions FROM pg_stat_database WHERE datname = :name")
            value = connection.execute(query, {"name": self.name}).scalar()
            return int(value) if value is not None else None
        return None


@contextlib.contextmanager
def postgresql_database(base_url: str) -> Iterator[PostgresDatabase]:
    """A fresh database ``madoguchi_bench_<pid>``, dropped afterwards."""
    name = f"madoguchi_bench_{os.getpid()}"
    base = make_url(base_url)
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            version = str(connection.execute(text("SHOW server_version")).scalar())
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        admin.dispose()
        raise BenchError(f"cannot create PostgreSQL database {name}: {error}") from error
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        yield PostgresDatabase(name, url, version, admin)
    finally:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def migrate(url: str, log: Path) -> None:
    """``alembic upgrade head`` on a fresh database.

    :raises BenchError: the migration failed.
    """
    env = {**os.environ, "DATABASE_URL": url}
    with log.open("wb") as output:
        done = subprocess.run(
            [str(BIN / "alembic"), "upgrade", "head"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    if done.returncode != 0:
        raise BenchError(f"alembic upgrade head failed:\n{tail(log)}")


# -- the load generator ------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A signed webhook body ready to post: its events as (reply token, kind, resident)."""

    events: tuple[tuple[str, str, str], ...]
    body: bytes
    signature: str


@dataclass
class LoadResult:
    """What one load phase measured."""

    #: Seconds from a request's first send to its 200 (or to giving up), per request.
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    first_send: float = math.inf
    last_answer: float = 0.0
    #: reply token -> event kind, for every event sent (answered or not).
    sent: dict[str, str] = field(default_factory=dict)
    #: reply token -> resident, for every event sent.
    users: dict[str, str] = field(default_factory=dict)
    #: reply token -> wall-clock time its request was first sent (the platform's clock).
    sent_at: dict[str, float] = field(default_factory=dict)
    #: Requests answered 200 so far (live: a watcher may read it during the load).
    acknowledged: int = 0
    #: Sends of a request already sent once (``resend=True``: until it is answered 200).
    resends: int = 0

    @property
    def seconds(self) -> float:
        """Wall time from the first send to the last answer."""
        return max(self.last_answer - self.first_send, 1e-9)


#: With ``resend``: the wait between sends of an unanswered request, and the longest it is
#: tried (a restarted server takes a few seconds to listen again).
RESEND_WAIT = 0.05
RESEND_FOR = 120.0


def run_load(
    port: int,
    platform_: Platform,
    requests: Sequence[Sequence[Planned]],
    concurrency: int,
    channel_secret: str,
    *,
    resend: bool = False,
    watch: Callable[[int], None] | None = None,
) -> LoadResult:
    """Posts one webhook per element of ``requests`` from ``concurrency`` threads; times
    every request.

    A feeder thread fetches reply tokens from the platform in batches just ahead of use and
    signs the bodies; the senders only post. Each sender keeps one keep-alive connection.

    :param resend: send a request again (the same body: LINE's redelivery) until it is
        answered 200, as when the server is down for a moment; else a failure is counted and
        the request is not sent again.
    :param watch: called with the count of requests acknowledged so far, after each one.
    :raises BenchError: the feeder failed (the platform stopped answering).
    """
    ready: queue.Queue[Prepared | None] = queue.Queue(maxsize=2 * TOKEN_BATCH)
    result = LoadResult()
    lock = threading.Lock()
    feeder_error: list[BaseException] = []
    stopping = threading.Event()  # set on Ctrl-C: senders finish the request in hand

    def offer(item: Prepared | None) -> None:
        while not stopping.is_set():
            with contextlib.suppress(queue.Full):
                ready.put(item, timeout=0.1)
                return

    def chunks() -> Iterator[Sequence[Sequence[Planned]]]:
        chunk: list[Sequence[Planned]] = []
        for request in requests:
            chunk.append(request)
            if sum(map(len, chunk)) >= TOKEN_BATCH:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def feed() -> None:
        try:
            for chunk in chunks():
                tokens = iter(platform_.reply_tokens([p.user_id for r in chunk for p in r]))
                for request in chunk:
                    events = [(next(tokens), planned) for planned in request]
                    body = callback_body([build_event(planned, token) for token, planned in events])
                    offer(
                        Prepared(
                            tuple((token, p.kind, p.user_id) for token, p in events),
                            body,
                            sign(body, channel_secret),
                        )
                    )
                if stopping.is_set():
                    return
        except BaseException as error:
            feeder_error.append(error)
        finally:
            for _ in range(concurrency):
                offer(None)

    def post(connection: http.client.HTTPConnection, item: Prepared) -> int:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Line-Signature": item.signature,
            "User-Agent": "LineBotWebhook/2.0",
        }
        try:
            connection.request("POST", "/callback", body=item.body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            connection.close()  # reconnects on the next request
            return 0  # no answer

    def send() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        sent: dict[str, str] = {}
        users: dict[str, str] = {}
        sent_at: dict[str, float] = {}
        first, last, resends = math.inf, 0.0, 0
        while not stopping.is_set() and (item := ready.get()) is not None:
            wall, started = time.time(), time.perf_counter()
            for token, kind, user in item.events:
                sent[token], users[token], sent_at[token] = kind, user, wall
            status = post(connection, item)
            while resend and status != 200 and time.perf_counter() - started < RESEND_FOR:
                time.sleep(RESEND_WAIT)
                resends += 1
                status = post(connection, item)
            answered = time.perf_counter()
            first, last = min(first, started), max(last, answered)
            latencies.append(answered - started)
            statuses[status] += 1
            if status == 200:
                with lock:
                    result.acknowledged += 1
                    acknowledged = result.acknowledged
                if watch is not None:
                    watch(acknowledged)
        connection.close()
        with lock:
            result.latencies.extend(latencies)
            result.statuses.update(statuses)
            result.sent.update(sent)
            result.users.update(users)
            result.sent_at.update(sent_at)
            result.first_send = min(result.first_send, first)
            result.last_answer = max(result.last_answer, last)
            result.resends += resends

    feeder = threading.Thread(target=feed, name="feeder", daemon=True)
    feeder.start()
    while ready.qsize() < min(len(requests), TOKEN_BATCH) and feeder.is_alive():
        time.sleep(0.01)  # let the first batch be signed before the clock starts
    senders = [
        threading.Thread(target=send, name=f"sender-{n}", daemon=True) for n in range(concurrency)
    ]
    for sender in senders:
        sender.start()
    try:
        for sender in senders:
            sender.join()
        feeder.join()
    except BaseException:
        stopping.set()
        for _ in range(concurrency):  # wake senders waiting for work
            with contextlib.suppress(queue.Full):
                ready.put_nowait(None)
        for sender in senders:
            sender.join(timeout=70)
        raise
    if feeder_error:
        raise BenchError(f"could not prepare webhooks: {feeder_error[0]!r}")
    return result


# -- verification and reporting ------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear-interpolated percentile of already sorted values."""
    if not values:
        return math.nan
    rank = (len(values) - 1) * fraction
    low = math.floor(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


def verify(sent: dict[str, str], report: dict[str, Any]) -> dict[str, Any]:
    """Every sent event's reply token spent exactly once, and nothing else delivered."""
    spent = Counter(token for token, *_ in report["spent"])
    reply_requests = {request_id for _, request_id, *_ in report["spent"]}
    missing = [token for token in sent if spent[token] == 0]
    twice = [token for token, count in spent.items() if count > 1]
    unknown = [token for token in spent if token not in sent]
    other = [
        d
        for d in report["deliveries"]
        if d["method"] != "reply" or d["requestId"] not in reply_requests
    ]
    reply_deliveries = len(report["deliveries"]) - len(other)
    refused = report["refused"]
    ok = not (missing or twice or unknown or refused or other) and reply_deliveries == len(spent)
    return {
        "exactly_once": ok,
        "events": len(sent),
        "answered": sum(1 for token in sent if spent[token] >= 1),
        "unanswered": len(missing),
        "unanswered_by_kind": dict(Counter(sent[t] for t in missing)),
        "answered_more_than_once": len(twice),
        "replies_with_unknown_tokens": len(unknown),
        "refused_reply_attempts": len(refused),
        "refused_reply_errors": dict(Counter(error for _, error in refused)),
        "other_deliveries": len(other),
        "other_delivery_methods": dict(Counter(d["method"] for d in other)),
        "platform_requests": report["requests"],
        "platform_connections": report["connections"],
    }


def log_problems(log: Path) -> list[str]:
    """Lines of a server log at WARNING or above (the bot logs JSON lines at LOG_LEVEL)."""
    problems = []
    for line in log.read_text(errors="replace").splitlines():
        if any(level in line for level in ("WARNING", "ERROR", "CRITICAL", "Traceback")):
            problems.append(line[:300])
    return problems


def server_env(platform_url: str, channel_secret: str, access_token: str) -> dict[str, str]:
    """The environment a bot under test runs with (no database yet)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PROMETHEUS_MULTIPROC_DIR", "DATABASE_URL", "PYTHONPATH")
    }
    env.update(
        MADOGUCHI_ENV="production",
        SECRET_KEY=secrets.token_hex(16),
        LINE_CHANNEL_SECRET=channel_secret,
        LINE_CHANNEL_ACCESS_TOKEN=access_token,
        LINE_API_BASE_URL=platform_url,
        LOG_LEVEL="WARNING",
        LOG_FORMAT="json",
    )
    return env


# -- the survey-answering mix ---------------------------------------------------------------

#: Most worker CPU an answered survey question may cost, against one event of the usual mix.
MAX_SURVEY_CPU_RATIO = 1.25
#: What each resident of the survey mix sends after tapping the survey in the list, in order
#: (``bench/survey_seed.py``'s eight questions, then 送信): (kind, action or text, params).
#: Postbacks carry the dialog guard: the dialog's id, and its version (one more per event).
SURVEY_SCRIPT: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("postback", "survey.answer", {"i": "0"}),  # visited: はい
    ("postback", "survey.answer", {"i": "3"}),  # channel: LINE
    ("text", "42", {}),  # age
    ("postback", "survey.toggle", {"i": "0"}),  # topics: 防災 on
    ("postback", "survey.toggle", {"i": "2"}),  # topics: 観光 on
    ("postback", "survey.done", {}),  # topics: 完了
    ("postback", "survey.answer", {"i": "3"}),  # score: 4
    ("text", "とても便利でした。ありがとうございます。", {}),  # comment
    ("text", "たぶん", {}),  # again: the option's label, typed
    ("postback", "survey.answer", {"i": "0"}),  # contact: はい (shown: visited = yes)
    ("postback", "survey.submit", {}),  # 送信
)
SURVEY_QUESTIONS = 8


def seed_survey(env: dict[str, str], log: Path) -> int:
    """Publish the benchmark's survey (``bench/survey_seed.py``); its id.

    :raises BenchError: the seeding failed.
    """
    with log.open("ab") as output:
        done = subprocess.run(
            # As a module from the root: run as a script, bench/ would come first on the
            # path and bench/surveys.py would hide the surveys package.
            [sys.executable, "-m", "bench.survey_seed"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=output,
            timeout=120,
            check=False,
        )
    lines = done.stdout.decode().split()
    if done.returncode != 0 or not lines or not lines[-1].isdigit():
        raise BenchError(f"could not publish the benchmark survey:\n{tail(log)}")
    return int(lines[-1])


def survey_dialogs(url: str) -> dict[str, int]:
    """Active survey dialogs by LINE user id: their ids."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT r.line_user_id, d.id FROM dialogs d JOIN residents r "
                    "ON r.id = d.resident_id WHERE d.flow = 'survey' AND d.status = 'active'"
                )
            ).all()
            return {str(user): int(dialog) for user, dialog in rows}
    finally:
        engine.dispose()


def count_rows(url: str, table: str) -> int:
    """Rows of one table (the benchmark's own database)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)
    finally:
        engine.dispose()


def plan_survey(users: Sequence[str], dialogs: dict[str, int]) -> list[Planned]:
    """Every resident's script, interleaved (one step of each resident, then the next step),
    so one resident's events are far apart and arrive in order."""
    planned = []
    for step, (kind, value, params) in enumerate(SURVEY_SCRIPT):
        for user in users:
            if kind == "text":
                planned.append(Planned("text", user, value))
            else:
                data = PostbackData(value, dict(params), dialogs[user], 1 + step).encode()
                planned.append(Planned("postback", user, data))
    return planned


def run_survey_mix(
    key: str,
    args: argparse.Namespace,
    server: Gunicorn,
    platform_: Platform,
    env: dict[str, str],
    folder: Path,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Residents answering a published survey, timed like the usual mix.

    Untimed: the survey is published and each resident taps it (the dialog starts). Timed:
    their answers, as postbacks (with the dialog guard) and texts, ending with 送信.

    :return: the figures, and every event sent (reply token -> kind) for the exactly-once
        check of the whole run.
    """
    per_user = len(SURVEY_SCRIPT)
    rng = random.Random(args.seed + 1)
    # Enough residents that one resident's next event is sent only long after the previous
    # one was answered (the inbox keeps each resident's order by LINE's timestamps).
    count = max(math.ceil(args.survey_events / per_user), 4 * args.concurrency)
    users = [f"U{rng.getrandbits(128):032x}" for _ in range(count)]
    platform_.create_users(users)
    survey_id = seed_survey(env, folder / "seed.log")
    before = platform_.answered()[0]
    starts = [[Planned("postback", u, f"v=1&a=survey.start&id={survey_id}")] for u in users]
    started = run_load(server.port, platform_, starts, args.concurrency, env["LINE_CHANNEL_SECRET"])
    platform_.await_answered(before + len(started.sent), ANSWER_TIMEOUT)
    dialogs = survey_dialogs(env["DATABASE_URL"])
    missing = [u for u in users if u not in dialogs]
    if missing:
        raise BenchError(f"{len(missing)} survey residents have no dialog after tapping the survey")
    events = plan_survey(users, dialogs)
    before = platform_.answered()[0]
    cpu_before = server.workers_cpu()
    load = run_load(
        server.port, platform_, [[e] for e in events], args.concurrency, env["LINE_CHANNEL_SECRET"]
    )
    platform_.await_answered(before + len(load.sent), ANSWER_TIMEOUT)
    cpu = server.workers_cpu() - cpu_before
    submitted = count_rows(env["DATABASE_URL"], "survey_submissions")
    answers = count_rows(env["DATABASE_URL"], "survey_answers")
    latencies = sorted(load.latencies)
    questions = SURVEY_QUESTIONS * len(users)
    figures = {
        "residents": len(users),
        "events": len(load.latencies),
        "questions_answered": questions,
        "submissions": submitted,
        #: Answer rows: two for the multiple choice question, one for each other question.
        "answer_rows": answers,
        "expected_answer_rows": (SURVEY_QUESTIONS + 1) * len(users),
        "errors": len(load.latencies) - load.statuses.get(200, 0),
        "requests_per_second": len(load.latencies) / load.seconds,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "worker_cpu_ms_per_event": cpu / len(load.latencies) * 1000,
        "worker_cpu_ms_per_question": cpu / questions * 1000,
    }
    return figures, {**started.sent, **load.sent}


def run_target(
    key: str, args: argparse.Namespace, user_ids: list[str], round_number: int
) -> dict[str, Any]:
    """Runs one target end to end; its measurements.

    :raises BenchError: the run broke (logs are printed).
    """
    name = TARGETS[key]
    channel_secret, access_token = secrets.token_hex(16), secrets.token_hex(32)
    rng = random.Random(args.seed)  # the same events for every target
    warmup_events = plan_events(rng, args.warmup, user_ids)
    events = plan_events(rng, args.events, user_ids)
    info: dict[str, Any] = {"target": name}
    load_average = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="madoguchi-bench-")))
        server_log = folder / "gunicorn.log"
        platform_ = Platform(access_token, folder / "platform.log")
        stack.callback(platform_.stop)
        platform_.create_users(user_ids)
        env = server_env(platform_.url, channel_secret, access_token)
        app: str | None = None
        database: PostgresDatabase | None = None
        if key in ("echo", "echo-tx", "echo-inbox"):
            app = "echo_bot:create_app()"
        if key == "echo-inbox":
            env["ECHO_INBOX"] = "1"
        if key == "sqlite":
            env["DATABASE_URL"] = f"sqlite:///{folder / 'bench.db'}"
        elif key in ("echo-tx", "echo-inbox", "postgresql"):
            database = stack.enter_context(postgresql_database(args.database_url))
            env["DATABASE_URL"] = database.url
            info["postgresql_version"] = database.server_version
        if "DATABASE_URL" in env:
            migrate(env["DATABASE_URL"], folder / "alembic.log")
        server = Gunicorn(app, env, server_log)
        stack.callback(server.stop)
        try:
            server.await_ready()
            sampler = MemorySampler(server)
            sampler.start()
            stack.callback(sampler.finish)
            warm = run_load(
                server.port,
                platform_,
                [[e] for e in warmup_events],
                args.concurrency,
                channel_secret,
            )
            # The inbox answers before the work is done: let the warm-up's work finish first.
            platform_.await_answered(len(warm.sent), ANSWER_TIMEOUT)
            database_cpu = processes_cpu("postgres") if database else {}
            sessions_before = database.sessions() if database else None
            cpu_before = (server.workers_cpu(), platform_.cpu(), time.process_time())
            busy_before = machine_busy()
            started_at = time.time()
            load = run_load(
                server.port, platform_, [[e] for e in events], args.concurrency, channel_secret
            )
            # End to end: until the platform holds an answer to every event sent.
            last_answer = platform_.await_answered(len(warm.sent) + len(load.sent), ANSWER_TIMEOUT)
            cpu_after = (server.workers_cpu(), platform_.cpu(), time.process_time())
            busy_after = machine_busy()
            database_seconds = (
                sum(
                    seconds - database_cpu.get(pid, 0.0)
                    for pid, seconds in processes_cpu("postgres").items()
                )
                if database
                else None
            )
            sessions_after = database.sessions() if database else None
            survey: dict[str, Any] | None = None
            survey_sent: dict[str, str] = {}
            if key in ("sqlite", "postgresql") and args.survey_events:
                survey, survey_sent = run_survey_mix(key, args, server, platform_, env, folder)
            peak_mb = sampler.finish()
            worker_count = len(sampler.peak_kb)
            server.stop()  # graceful: every request in flight has finished
            if server.process.returncode not in (0, None):
                print(f"  gunicorn exited with status {server.process.returncode}")
            report = platform_.report()
        except BaseException:
            print(f"--- {name}: gunicorn log (tail) ---\n{tail(server_log)}")
            print(f"--- {name}: platform log (tail) ---\n{tail(platform_.log)}")
            raise
        problems = log_problems(server_log)
        if problems:  # keep the log beside the results for a look afterwards
            RESULTS.mkdir(parents=True, exist_ok=True)
            kept = RESULTS / f"webhook-{args.stamp}-{key}-round{round_number}-gunicorn.log"
            kept.write_bytes(server_log.read_bytes())
            info["log"] = str(kept.relative_to(ROOT))

    checks = verify({**warm.sent, **load.sent, **survey_sent}, report)
    if survey is not None:
        mix = cpu_after[0] - cpu_before[0]
        survey["mix_worker_cpu_ms_per_event"] = mix / len(load.latencies) * 1000
        survey["ratio_to_mix"] = (
            survey["worker_cpu_ms_per_question"] / survey["mix_worker_cpu_ms_per_event"]
        )
        info["survey"] = survey
    answers = answer_latencies(load.sent_at, load.users, report)
    checks["warmup_errors"] = len(warm.latencies) - warm.statuses.get(200, 0)
    latencies = sorted(load.latencies)
    events_sent = len(load.latencies)
    cpu = [after - before for after, before in zip(cpu_after, cpu_before, strict=True)]
    busy = busy_after[0] - busy_before[0]
    total = busy_after[1] - busy_before[1]
    info.update(
        events=events_sent,
        seconds=load.seconds,
        requests_per_second=events_sent / load.seconds,
        end_to_end_seconds=(last_answer - started_at) if last_answer is not None else None,
        events_answered_per_second=(
            events_sent / (last_answer - started_at) if last_answer is not None else None
        ),
        p50_ms=percentile(latencies, 0.50) * 1000,
        p95_ms=percentile(latencies, 0.95) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        answer_p50_ms=percentile(answers, 0.50) * 1000,
        answer_p99_ms=percentile(answers, 0.99) * 1000,
        max_ms=latencies[-1] * 1000 if latencies else math.nan,
        mean_ms=sum(latencies) / len(latencies) * 1000 if latencies else math.nan,
        peak_worker_rss_mb=peak_mb,
        workers_seen=worker_count,
        statuses={str(k): v for k, v in sorted(load.statuses.items())},
        errors=events_sent - load.statuses.get(200, 0),
        cpu_ms_per_event={
            "workers": cpu[0] / events_sent * 1000,
            "platform": cpu[1] / events_sent * 1000,
            "load_generator": cpu[2] / events_sent * 1000,
            "postgresql_server": (
                database_seconds / events_sent * 1000 if database_seconds is not None else None
            ),
            # Everything else that ran meanwhile: the kernel's share not charged to a
            # process, gunicorn's master, and other people's work on a shared machine.
            "other": (busy - sum(cpu) - (database_seconds or 0.0)) / events_sent * 1000,
        },
        load_average_before=load_average,
        machine_cpu_busy_percent=busy / total * 100 if total else math.nan,
        postgresql_sessions_opened=(
            sessions_after - sessions_before
            if sessions_after is not None and sessions_before is not None
            else None
        ),
        log_problems=len(problems),
        log_problem_samples=problems[:5],
        verification=checks,
    )
    return info


#: The batch scenario: events in one request, and the platform's latency, in ms.
BATCH_SIZES = (100, 500)
BATCH_LATENCIES_MS = (0, 100)
MAX_BATCH_ANSWER_MS = 300.0
#: How long a batch may take to be answered in full before it counts as not delivered.
BATCH_DELIVERY_TIMEOUT = 120.0


def post_batch(port: int, body: bytes, signature: str) -> tuple[int, float]:
    """Posts one webhook body on a new connection; (status, seconds to the answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json; charset=utf-8", "X-Line-Signature": signature}
    started = time.perf_counter()
    try:
        connection.request("POST", "/callback", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        connection.close()


def madoguchi_stage(
    stack: contextlib.ExitStack,
    key: str,
    args: argparse.Namespace,
    user_ids: list[str],
    channel_secret: str,
    access_token: str,
) -> tuple[Path, Platform, dict[str, str]]:
    """What a madoguchi scenario runs on: a temporary folder, a fresh platform with the
    residents, and the server's environment with a fresh migrated database (all undone when
    ``stack`` closes)."""
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="madoguchi-bench-")))
    platform_ = Platform(access_token, folder / "platform.log")
    stack.callback(platform_.stop)
    platform_.create_users(user_ids)
    env = server_env(platform_.url, channel_secret, access_token)
    if key == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{folder / 'bench.db'}"
    else:
        env["DATABASE_URL"] = stack.enter_context(postgresql_database(args.database_url)).url
    migrate(env["DATABASE_URL"], folder / "alembic.log")
    return folder, platform_, env


def run_batches(key: str, args: argparse.Namespace, user_ids: list[str]) -> dict[str, Any]:
    """One request of 100 and of 500 events (one per resident) at 0 and 100 ms of latency.

    Measures the time to the webhook's answer, and the time from sending it until the
    platform has delivered an answer (a reply, or a push for a stale token) to every event.

    :raises BenchError: the run broke.
    """
    channel_secret, access_token = secrets.token_hex(16), secrets.token_hex(32)
    batches: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        folder, platform_, env = madoguchi_stage(
            stack, key, args, user_ids, channel_secret, access_token
        )
        server = Gunicorn(None, env, folder / "gunicorn.log")
        stack.callback(server.stop)
        try:
            server.await_ready()
            sent: dict[str, str] = {}
            expected = 0

            def one_batch(size: int) -> tuple[int, float, float | None]:
                nonlocal expected
                users = user_ids[:size]
                tokens = platform_.reply_tokens(users)
                events = [
                    text_event(user, "メニュー", reply_token=token)
                    for user, token in zip(users, tokens, strict=True)
                ]
                sent.update(zip(tokens, users, strict=True))
                body = callback_body(events)
                expected += size
                sent_at = time.time()
                status, seconds = post_batch(server.port, body, sign(body, channel_secret))
                last = platform_.await_answered(expected, BATCH_DELIVERY_TIMEOUT)
                return status, seconds, (last - sent_at) if last is not None else None

            one_batch(20)  # warm-up: connections, statement caches, imports
            for latency in BATCH_LATENCIES_MS:
                platform_.conditions(latency_ms=latency)
                for size in BATCH_SIZES:
                    status, seconds, delivered = one_batch(size)
                    batches.append(
                        {
                            "events": size,
                            "latency_ms": latency,
                            "status": status,
                            "answer_ms": seconds * 1000,
                            "all_delivered_s": delivered,
                        }
                    )
            report = platform_.report()
        except BaseException:
            print(f"--- batches: gunicorn log (tail) ---\n{tail(server.log)}")
            raise
    return {
        "target": TARGETS[key],
        "batches": batches,
        "verification": verify_answers(sent, report),
    }


def verify_answers(sent: dict[str, str], report: dict[str, Any]) -> dict[str, Any]:
    """Every event answered exactly once: its reply token spent, or (stale) one push instead.

    Pushes carry no reply token, so they are matched by count: a resident with N events
    whose tokens were not spent must have received exactly N pushes.

    :param sent: reply token -> resident, for every event sent.
    """
    spent = Counter(token for token, *_ in report["spent"])
    pushes = Counter(d["userId"] for d in report["deliveries"] if d["method"] == "push")
    unspent = Counter(user for token, user in sent.items() if spent[token] == 0)
    residents = set(unspent) | set(pushes)
    missing = sum(max(0, unspent[u] - pushes[u]) for u in residents)
    doubled = sum(1 for count in spent.values() if count > 1) + sum(
        max(0, pushes[u] - unspent[u]) for u in residents
    )
    unknown = sum(1 for token in spent if token not in sent)
    odd = sorted(u for u in residents if unspent[u] != pushes[u])
    odd += sorted({sent[t] for t, count in spent.items() if count > 1 and t in sent})
    return {
        "exactly_once": missing == 0 and doubled == 0 and unknown == 0,
        #: Residents answered too little or too often (a sample, for a look at their rows).
        "anomalies": {u: {"unreplied": unspent[u], "pushes": pushes[u]} for u in odd[:20]},
        "events": len(sent),
        "replied": sum(1 for token in sent if spent[token]),
        "pushed": sum(pushes.values()),
        "unanswered": missing,
        "answered_more_than_once": doubled,
        "replies_with_unknown_tokens": unknown,
        "refused_reply_attempts": len(report["refused"]),
        "faults": report.get("faults", {}),
    }


def answer_latencies(
    sent_at: dict[str, float], users: dict[str, str], report: dict[str, Any]
) -> list[float]:
    """Seconds from each event's webhook being sent until its answer reached the platform,
    sorted: a reply by its token; a push (no token) matched to its resident's unreplied
    events in the order they were sent.

    :param sent_at: reply token -> wall-clock time the event's webhook was sent.
    :param users: reply token -> resident.
    """
    latencies, replied = [], set()
    for token, _, at in report["spent"]:
        if token in sent_at and token not in replied:
            replied.add(token)
            latencies.append(at - sent_at[token])
    waiting: dict[str, list[float]] = {}
    for token, when in sorted(sent_at.items(), key=lambda item: item[1]):
        if token not in replied:
            waiting.setdefault(users[token], []).append(when)
    pushed: dict[str, list[float]] = {}
    for delivery in report["deliveries"]:
        if delivery["method"] == "push":
            pushed.setdefault(delivery["userId"], []).append(delivery["at"])
    for user, times in waiting.items():
        for sent, at in zip(times, sorted(pushed.get(user, [])), strict=False):
            latencies.append(at - sent)
    return sorted(latencies)


#: The burst scenario: events in all, and the sizes of the requests carrying them.
BURST_EVENTS = 20_000
BURST_REQUEST_SIZES = (1, 100)
BURST_FAULT_RATE = 0.05
MAX_BURST_ANSWER_S = 2.0
#: Longest wait for a burst to be answered in full.
BURST_DRAIN_TIMEOUT = 900.0


def plan_requests(rng: random.Random, count: int, user_ids: Sequence[str]) -> list[list[Planned]]:
    """``count`` events of the usual mix, in requests of 1 to 100 events (sizes from
    ``rng``)."""
    events = plan_events(rng, count, user_ids)
    requests = []
    while events:
        size = rng.randint(*BURST_REQUEST_SIZES)
        requests.append(events[:size])
        events = events[size:]
    return requests


def run_burst(
    key: str, args: argparse.Namespace, user_ids: list[str], *, kill: bool
) -> dict[str, Any]:
    """20,000 events sent as fast as the client can, in requests of 1 to 100 events, with 5%
    of the platform's Messaging API calls failing (half of them after the call took effect).

    :param kill: SIGKILL the web server (master and both workers) once half the requests
        are acknowledged, and start it again on the same port and database; the client sends
        every request that got no 200 again until it does (LINE's redelivery).
    :raises BenchError: the run broke.
    """
    channel_secret, access_token = secrets.token_hex(16), secrets.token_hex(32)
    requests = plan_requests(random.Random(args.seed), args.burst_events, user_ids)
    info: dict[str, Any] = {
        "target": TARGETS[key],
        "kill": kill,
        "events": sum(map(len, requests)),
        "requests": len(requests),
    }
    with contextlib.ExitStack() as stack:
        folder, platform_, env = madoguchi_stage(
            stack, key, args, user_ids, channel_secret, access_token
        )
        servers = [Gunicorn(None, env, folder / "gunicorn.log")]
        stack.callback(lambda: servers[-1].stop())
        try:
            servers[0].await_ready()
            platform_.conditions(fault_rate=BURST_FAULT_RATE)
            killer = _Killer(servers, env, folder / "gunicorn.log", len(requests) // 2)
            started_at = time.time()
            if kill:
                killer.start()
            load = run_load(
                servers[0].port,
                platform_,
                requests,
                args.concurrency,
                channel_secret,
                resend=kill,
                watch=killer.watch if kill else None,
            )
            acknowledged_at = time.time()
            if kill:
                killer.join()
                if killer.error:
                    raise killer.error
            last = platform_.await_answered(len(load.sent), BURST_DRAIN_TIMEOUT)
            report = platform_.report()
            verification = verify_answers(load.users, report)
            if verification["anomalies"]:
                verification["anomaly_rows"] = outbound_rows(
                    env["DATABASE_URL"], list(verification["anomalies"])
                )
        except BaseException:
            print(f"--- burst: gunicorn log (tail) ---\n{tail(folder / 'gunicorn.log')}")
            raise
    latencies = sorted(load.latencies)
    answers = answer_latencies(load.sent_at, load.users, report)
    info.update(
        acknowledged_s=acknowledged_at - started_at,
        drained_s=(last - started_at) if last is not None else None,
        statuses={str(k): v for k, v in sorted(load.statuses.items())},
        resends=load.resends,
        request_p99_ms=percentile(latencies, 0.99) * 1000,
        request_max_ms=latencies[-1] * 1000,
        requests_over_limit=sum(1 for s in latencies if s >= MAX_BURST_ANSWER_S),
        answer_p50_s=percentile(answers, 0.50),
        answer_p99_s=percentile(answers, 0.99),
        killed_after_requests=killer.killed_after if kill else None,
        restart_s=killer.restart_s if kill else None,
        verification=verification,
    )
    return info


def outbound_rows(url: str, line_user_ids: list[str]) -> list[dict[str, Any]]:
    """The stored sends of some residents, for the results file (no message text)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT r.line_user_id, o.id, o.purpose, o.status, o.attempts, o.last_error,"
                    " o.reply_token IS NOT NULL AS reply, o.fallback_push, o.reply_until,"
                    " o.created_at, o.sent_at FROM outbound_messages o JOIN residents r ON"
                    " r.id = o.resident_id WHERE r.line_user_id IN :users ORDER BY o.id"
                ).bindparams(bindparam("users", expanding=True)),
                {"users": line_user_ids},
            )
            return [{k: str(v) for k, v in row._mapping.items()} for row in rows]
    finally:
        engine.dispose()


class _Killer(threading.Thread):
    """Kills the web server once the load has ``after`` requests acknowledged, then starts
    a new one on the same port (``servers[-1]`` is the live one)."""

    def __init__(self, servers: list[Gunicorn], env: dict[str, str], log: Path, after: int):
        super().__init__(name="killer", daemon=True)
        self.servers, self.env, self.log, self.after = servers, env, log, after
        self._reached = threading.Event()
        self.killed_after: int | None = None
        self.restart_s: float | None = None
        self.error: BaseException | None = None

    def watch(self, acknowledged: int) -> None:
        """Called by the load's senders after each acknowledgement."""
        if acknowledged >= self.after:
            self._reached.set()

    def run(self) -> None:
        try:
            if not self._reached.wait(BURST_DRAIN_TIMEOUT):
                raise BenchError("the load never reached the kill point")
            old = self.servers[-1]
            old.kill()
            self.killed_after = self.after
            started = time.monotonic()
            new = Gunicorn(None, self.env, self.log, port=old.port)
            self.servers.append(new)
            new.await_ready()
            self.restart_s = time.monotonic() - started
        except BaseException as error:
            self.error = error


def batch_table(results: list[dict[str, Any]]) -> str:
    """The batch scenario: answer time and delivery time, median over rounds."""
    header = f"{'batch':<22}{'events':>8}{'latency':>9}{'answer ms':>11}{'all delivered s':>17}"
    rows = [header, "-" * len(header)]
    for r in results:
        for b in r["batches"]:
            delivered = b["all_delivered_s"]
            rows.append(
                f"{r['target']:<22}{b['events']:>8}{b['latency_ms']:>7} ms{b['answer_ms']:>11.1f}"
                f"{(f'{delivered:.2f}' if delivered is not None else 'NOT ALL'):>17}"
            )
    return "\n".join(rows)


def summarise_batches(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One database's batches over every round: medians, worst delivery, all checks."""
    batches = []
    for index, first in enumerate(runs[0]["batches"]):
        same = [r["batches"][index] for r in runs]
        delivered = [b["all_delivered_s"] for b in same]
        batches.append(
            {
                **{k: first[k] for k in ("events", "latency_ms")},
                "answer_ms": statistics.median(b["answer_ms"] for b in same),
                "worst_answer_ms": max(b["answer_ms"] for b in same),
                "all_delivered_s": None if None in delivered else statistics.median(delivered),
                "statuses": sorted({b["status"] for b in same}),
            }
        )
    once = all(r["verification"]["exactly_once"] for r in runs)
    checks = [
        (
            f"{b['events']} events at {b['latency_ms']} ms: answered in {b['answer_ms']:.0f} ms"
            f" (< {MAX_BATCH_ANSWER_MS:.0f}), "
            + ("all delivered" if b["all_delivered_s"] is not None else "NOT all delivered"),
            b["answer_ms"] < MAX_BATCH_ANSWER_MS
            and b["all_delivered_s"] is not None
            and b["statuses"] == [200],
        )
        for b in batches
    ]
    checks.append(("every event answered exactly once" if once else "exactly once: NO", once))
    return {
        "target": runs[0]["target"],
        "rounds": len(runs),
        "batches": batches,
        "verification": [r["verification"] for r in runs],
        "targets": [{"check": c, "met": m} for c, m in checks],
        "passed": all(m for _, m in checks),
    }


def evaluate_burst(result: dict[str, Any]) -> list[tuple[str, bool]]:
    """A burst's targets: (description, met); stored in the result too."""
    v = result["verification"]
    checks = [
        (
            f"every request answered 200 ({result['statuses']})",
            set(result["statuses"]) == {"200"},
        ),
        (
            "all answered, drained after "
            + (f"{result['drained_s']:.1f} s" if result["drained_s"] is not None else "-"),
            result["drained_s"] is not None,
        ),
        (
            "every event answered exactly once"
            if v["exactly_once"]
            else f"exactly once: NO ({v['unanswered']} unanswered, "
            f"{v['answered_more_than_once']} twice)",
            v["exactly_once"],
        ),
    ]
    if not result["kill"]:
        slow = result["requests_over_limit"]
        checks.insert(
            1,
            (
                f"{slow} requests answered after {MAX_BURST_ANSWER_S:.0f} s or more "
                f"(max {result['request_max_ms']:.0f} ms)",
                slow == 0,
            ),
        )
    result["targets"] = [{"check": c, "met": m} for c, m in checks]
    result["passed"] = all(m for _, m in checks)
    return checks


def burst_table(results: list[dict[str, Any]]) -> str:
    """The burst runs, one row each."""
    header = (
        f"{'burst':<22}{'kill':>5}{'requests':>9}{'events':>8}{'acked s':>9}{'req p99 ms':>11}"
        f"{'req max ms':>11}{'resends':>8}{'drained s':>10}{'answer p50/p99 s':>18}"
        f"{'replied':>8}{'pushed':>7}  once"
    )
    rows = [header, "-" * len(header)]
    for r in results:
        v = r["verification"]
        drained = f"{r['drained_s']:.1f}" if r["drained_s"] is not None else "NOT ALL"
        answer = f"{r['answer_p50_s']:.1f} / {r['answer_p99_s']:.1f}"
        rows.append(
            f"{r['target']:<22}{'yes' if r['kill'] else 'no':>5}{r['requests']:>9}{r['events']:>8}"
            f"{r['acknowledged_s']:>9.1f}{r['request_p99_ms']:>11.0f}{r['request_max_ms']:>11.0f}"
            f"{r['resends']:>8}{drained:>10}{answer:>18}{v['replied']:>8}{v['pushed']:>7}  "
            f"{'yes' if v['exactly_once'] else 'NO'}"
        )
    return "\n".join(rows)


def add_ratios(results: list[dict[str, Any]]) -> None:
    """Each result's throughput relative to the echo and echo-tx runs of the same round."""
    rps = {r["target"]: r["requests_per_second"] for r in results}
    echo, echo_tx = TARGETS["echo"], TARGETS["echo-tx"]
    for r in results:
        for field_, baseline in (("ratio_to_echo", echo), ("ratio_to_echo_tx", echo_tx)):
            measured = baseline in rps and r["target"] not in (echo, baseline)
            r[field_] = r["requests_per_second"] / rps[baseline] if measured else None
    answered = {r["target"]: r.get("events_answered_per_second") for r in results}
    for r in results:
        mine, base = answered.get(r["target"]), answered.get(echo_tx)
        own = r["target"] in (echo, echo_tx)
        r["end_to_end_ratio_to_echo_tx"] = mine / base if mine and base and not own else None


#: Figures summarised as the median over rounds, and verification counts summed over them.
_MEDIANS = (
    "requests_per_second",
    "events_answered_per_second",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "answer_p50_ms",
    "answer_p99_ms",
    "machine_cpu_busy_percent",
)
_RATIOS = ("ratio_to_echo", "ratio_to_echo_tx", "end_to_end_ratio_to_echo_tx")
_VERIFICATION_COUNTS = (
    "events",
    "answered",
    "answered_more_than_once",
    "refused_reply_attempts",
    "other_deliveries",
)


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One target over every round: medians of the figures, worst of the checks.

    Ratios are the median of each round's own ratio, so a machine whose speed drifts
    between rounds still compares targets measured minutes apart.
    """
    verifications = [r["verification"] for r in runs]
    unanswered: Counter[str] = Counter()
    for v in verifications:
        unanswered.update(v["unanswered_by_kind"])
    medians: dict[str, Any] = {
        key: _median([r[key] for r in runs]) for key in (*_MEDIANS, *_RATIOS)
    }
    surveys = [r["survey"] for r in runs if r.get("survey")]
    if surveys and len(surveys) == len(runs):
        survey: dict[str, Any] = {
            key: _median([s[key] for s in surveys])
            if isinstance(surveys[0][key], float)
            else min(s[key] for s in surveys)
            for key in surveys[0]
        }
        survey["all_submitted"] = all(
            s["submissions"] == s["residents"] and s["answer_rows"] == s["expected_answer_rows"]
            for s in surveys
        )
        survey["errors"] = sum(s["errors"] for s in surveys)
        medians["survey"] = survey
    return {
        "target": runs[0]["target"],
        "rounds": len(runs),
        **medians,
        "peak_worker_rss_mb": max(r["peak_worker_rss_mb"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "cpu_ms_per_event": {
            part: _median([r["cpu_ms_per_event"][part] for r in runs])
            for part in runs[0]["cpu_ms_per_event"]
        },
        "verification": {
            "exactly_once": all(v["exactly_once"] for v in verifications),
            "unanswered_by_kind": dict(unanswered),
            **{key: sum(v[key] for v in verifications) for key in _VERIFICATION_COUNTS},
        },
    }


def evaluate(result: dict[str, Any]) -> list[tuple[str, bool]]:
    """The issue's targets that apply to a (summarised) result: (description, met)."""
    checks: list[tuple[str, bool]] = []
    if result["target"] in (TARGETS["sqlite"], TARGETS["postgresql"]):
        ratio = result["ratio_to_echo"]
        checks.append(
            (f"acknowledgements {_ratio(ratio)} echo (>= {MIN_RATIO_TO_ECHO:.1f}x)", False)
            if ratio is None
            else (
                f"acknowledgements {ratio:.2f}x echo (>= {MIN_RATIO_TO_ECHO:.1f}x)",
                ratio >= MIN_RATIO_TO_ECHO,
            )
        )
        p99 = result["p99_ms"]
        checks.append((f"ack p99 {p99:.1f} ms (< {MAX_P99_MS:.0f})", p99 < MAX_P99_MS))
    if result["target"] == TARGETS["postgresql"]:
        e2e = result["end_to_end_ratio_to_echo_tx"]
        checks.append(
            (
                f"end to end {_ratio(e2e)} echo-tx (>= {MIN_END_TO_END_TO_ECHO_TX:.1f}x)",
                e2e is not None and e2e >= MIN_END_TO_END_TO_ECHO_TX,
            )
        )
    rss = result["peak_worker_rss_mb"]
    checks.append((f"worker RSS {rss:.0f} MB (< {MAX_WORKER_RSS_MB:.0f})", rss < MAX_WORKER_RSS_MB))
    verification = result["verification"]
    once = verification["exactly_once"]
    checks.append(
        (
            "every event answered exactly once"
            if once
            else f"answered exactly once: NO ({_once_details(verification)})",
            once,
        )
    )
    checks.append((f"{result['errors']} non-200 answers (0)", result["errors"] == 0))
    result["targets"] = [{"check": text_, "met": met} for text_, met in checks]
    result["passed"] = all(met for _, met in checks)
    return checks


def _once_details(verification: dict[str, Any]) -> str:
    parts = [
        f"{verification['answered']}/{verification['events']} answered",
        f"{verification['answered_more_than_once']} twice",
        f"{verification['refused_reply_attempts']} refused replies",
        f"{verification['other_deliveries']} other deliveries",
    ]
    if verification["unanswered_by_kind"]:
        parts.append(f"unanswered by kind {verification['unanswered_by_kind']}")
    return ", ".join(parts)


def _float(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def table(results: list[dict[str, Any]]) -> str:
    """The (summarised) results as a fixed-width table."""
    header = (
        f"{'target':<22}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'RSS MB':>8}{'errors':>8}  {'answered once':<18}{'vs echo':>8}{'vs echo-tx':>11}"
        f"{'answered/s':>11}{'e2e vs echo-tx':>15}{'answer p50/p99 ms':>19}"
    )
    rows = [header, "-" * len(header)]
    for r in results:
        v = r["verification"]
        once = (
            f"yes ({v['events']})" if v["exactly_once"] else f"NO ({v['answered']}/{v['events']})"
        )
        rows.append(
            f"{r['target']:<22}{r['requests_per_second']:>8.1f}{r['p50_ms']:>9.1f}"
            f"{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['peak_worker_rss_mb']:>8.1f}"
            f"{r['errors']:>8}  {once:<18}{_ratio(r['ratio_to_echo']):>8}"
            f"{_ratio(r['ratio_to_echo_tx']):>11}"
            f"{_float(r['events_answered_per_second']):>11}"
            f"{_ratio(r['end_to_end_ratio_to_echo_tx']):>15}"
            f"{_float(r['answer_p50_ms']) + ' / ' + _float(r['answer_p99_ms']):>19}"
        )
    return "\n".join(rows)


def cpu_table(results: list[dict[str, Any]]) -> str:
    """Where the CPU went during the timed phase, per event."""
    header = (
        f"{'CPU ms per event':<22}{'workers':>9}{'platform':>10}{'loadgen':>9}"
        f"{'postgres':>10}{'other':>8}{'machine busy':>14}"
    )
    rows = [header, "-" * len(header)]
    for r in results:
        cpu = r["cpu_ms_per_event"]
        pg = f"{cpu['postgresql_server']:.2f}" if cpu["postgresql_server"] is not None else "-"
        rows.append(
            f"{r['target']:<22}{cpu['workers']:>9.2f}{cpu['platform']:>10.2f}"
            f"{cpu['load_generator']:>9.2f}{pg:>10}{cpu['other']:>8.2f}"
            f"{r['machine_cpu_busy_percent']:>13.0f}%"
        )
    return "\n".join(rows)


def survey_table(results: list[dict[str, Any]]) -> str:
    """The survey-answering mix beside the usual mix's events (worker CPU)."""
    header = (
        f"{'survey answering':<22}{'residents':>10}{'events':>8}{'questions':>10}"
        f"{'submitted':>10}{'req/s':>8}{'p99 ms':>8}{'ms/event':>10}{'ms/question':>12}"
        f"{'mix ms/event':>13}{'ratio':>8}"
    )
    rows = [header, "-" * len(header)]
    for r in results:
        s = r.get("survey")
        if not s:
            continue
        rows.append(
            f"{r['target']:<22}{s['residents']:>10}{s['events']:>8}{s['questions_answered']:>10}"
            f"{s['submissions']:>10}{s['requests_per_second']:>8.1f}{s['p99_ms']:>8.1f}"
            f"{s['worker_cpu_ms_per_event']:>10.2f}{s['worker_cpu_ms_per_question']:>12.2f}"
            f"{s['mix_worker_cpu_ms_per_event']:>13.2f}{s['ratio_to_mix']:>7.2f}x"
        )
    return "\n".join(rows)


def evaluate_survey(survey: dict[str, Any]) -> list[tuple[str, bool]]:
    """The survey mix's targets: CPU per answered question against the usual mix's events,
    every resident's submission stored, no non-200 answers."""
    ratio = survey["ratio_to_mix"]
    return [
        (
            f"worker CPU per answered question {ratio:.2f}x the mix's per event "
            f"(<= {MAX_SURVEY_CPU_RATIO:.2f}x)",
            ratio <= MAX_SURVEY_CPU_RATIO,
        ),
        (
            f"{survey['submissions']} of {survey['residents']} residents submitted every answer",
            bool(survey["all_submitted"]),
        ),
        (f"{survey['errors']} non-200 answers (0)", survey["errors"] == 0),
    ]


def run_notes(result: dict[str, Any]) -> list[str]:
    """What a reader of one run's figures should know: a busy machine, warnings logged."""
    notes = []
    other_share = result["cpu_ms_per_event"]["other"] * result["requests_per_second"] / 1000
    if other_share > 0.15:
        notes.append(
            f"other processes used {other_share:.0%} of a CPU during the timed phase (load "
            f"average {result['load_average_before']:.1f} before it): the machine was not "
            "quiet, so these numbers are low"
        )
    if result["log_problems"]:
        notes.append(
            f"{result['log_problems']} warning/error line(s) in the gunicorn log: "
            f"{result.get('log', '')}"
        )
    return notes


def environment() -> dict[str, Any]:
    """What the numbers depend on."""
    packages = ["line-bot-sdk", "Flask", "SQLAlchemy", "gunicorn", "psycopg", "Werkzeug"]
    versions = {}
    for package in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)

    def git(*arguments: str) -> str:
        done = subprocess.run(
            ["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "packages": versions,
        "commit": commit or None,
        # Tracked files that differ from the commit: the run measured the working tree.
        "uncommitted_changes": len(changed),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Benchmark madoguchi's webhook against a minimal echo bot."
    )
    parser.add_argument("--events", type=int, default=3000, help="timed webhooks per target")
    parser.add_argument("--concurrency", type=int, default=16, help="webhooks in flight")
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help="comma-separated, from: %(default)s",
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="PostgreSQL server (its database part is ignored; default: %(default)s)",
    )
    parser.add_argument("--warmup", type=int, default=100, help="untimed webhooks first")
    parser.add_argument("--users", type=int, default=500, help="distinct simulated residents")
    parser.add_argument("--seed", type=int, default=20261121, help="seed of the event mix")
    parser.add_argument(
        "--rounds", type=int, default=3, help="times every target runs, interleaved"
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated, from: %(default)s (ack: one event per webhook under load; "
        "batch: one webhook of 100 and of 500 events; burst: 20,000 events in webhooks of 1 "
        "to 100 with 5%% platform faults, then the same with the server killed half-way; "
        "batch and burst run on madoguchi only)",
    )
    parser.add_argument(
        "--burst-events", type=int, default=BURST_EVENTS, help="events in each burst"
    )
    parser.add_argument(
        "--survey-events",
        type=int,
        default=None,
        help="timed events of the survey-answering mix on madoguchi, after the usual mix "
        "(default: as many as --events; 0: none)",
    )
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if not args.scenarios or not set(args.scenarios) <= set(SCENARIOS):
        parser.error(f"scenarios are chosen from {', '.join(SCENARIOS)}")
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown or not args.targets:
        parser.error(f"unknown target(s) {unknown}; choose from {', '.join(TARGETS)}")
    if (
        min(args.events, args.concurrency, args.users, args.rounds, args.burst_events) < 1
        or args.warmup < 0
    ):
        parser.error(
            "--events, --burst-events, --concurrency, --users and --rounds must be positive"
        )
    if args.survey_events is None:
        args.survey_events = args.events
    if args.survey_events < 0:
        parser.error("--survey-events must not be negative")
    args.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Runs every target; prints and stores the results."""
    args = parse_args(argv)
    # Ctrl-C and SIGTERM both stop the run cleanly (and work when started in the background).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    rng = random.Random(args.seed)
    user_ids = [f"U{rng.getrandbits(128):032x}" for _ in range(args.users)]
    print(
        f"webhook benchmark: {args.events} webhooks (+{args.warmup} warm-up) per target, "
        f"concurrency {args.concurrency}, {args.users} residents, gunicorn {WORKERS} workers x "
        f"{THREADS} threads, {os.cpu_count()} CPUs"
    )
    rounds: list[list[dict[str, Any]]] = []
    broken: dict[str, str] = {}
    batch_runs: list[dict[str, Any]] = []
    burst_runs: list[dict[str, Any]] = []
    for number in range(1, args.rounds + 1):
        print(f"round {number} of {args.rounds}", flush=True)
        results: list[dict[str, Any]] = []
        for key in args.targets if "ack" in args.scenarios else ():
            name = TARGETS[key]
            print(f"- {name} ...", flush=True)
            started = time.monotonic()
            try:
                result = run_target(key, args, user_ids, number)
            except BenchError as error:
                print(f"  BROKEN: {error}")
                broken[f"{name} (round {number})"] = str(error)
                continue
            except KeyboardInterrupt:
                print("  interrupted: every process was stopped")
                return 130
            results.append(result)
            print(
                f"  {result['requests_per_second']:.1f} req/s, p99 {result['p99_ms']:.1f} ms "
                f"({time.monotonic() - started:.0f} s with set-up)",
                flush=True,
            )
            for note in run_notes(result):
                print(f"  note: {note}")
        add_ratios(results)
        rounds.append(results)
        for key in [k for k in args.targets if k in ("sqlite", "postgresql")]:
            if "batch" not in args.scenarios:
                break
            print(f"- batches on {TARGETS[key]} ...", flush=True)
            try:
                batch_runs.append(run_batches(key, args, user_ids))
            except BenchError as error:
                print(f"  BROKEN: {error}")
                broken[f"batches on {TARGETS[key]} (round {number})"] = str(error)
            except KeyboardInterrupt:
                print("  interrupted: every process was stopped")
                return 130
        for key, kill in [
            (k, kill)
            for k in args.targets
            if k in ("sqlite", "postgresql") and "burst" in args.scenarios
            for kill in (False, True)
        ]:
            print(
                f"- burst on {TARGETS[key]}{' (killed half-way)' if kill else ''} ...", flush=True
            )
            try:
                burst = run_burst(key, args, user_ids, kill=kill)
                burst_runs.append(burst)
                print(
                    f"  acknowledged after {burst['acknowledged_s']:.1f} s, drained after "
                    f"{_float(burst['drained_s'])} s, exactly once: "
                    f"{'yes' if burst['verification']['exactly_once'] else 'NO'}",
                    flush=True,
                )
            except BenchError as error:
                print(f"  BROKEN: {error}")
                broken[f"burst on {TARGETS[key]} (round {number})"] = str(error)
            except KeyboardInterrupt:
                print("  interrupted: every process was stopped")
                return 130

    runs = [r for results in rounds for r in results]
    summary = [
        summarise([r for r in runs if r["target"] == name])
        for name in dict.fromkeys(r["target"] for r in runs)
    ]
    verdicts = {r["target"]: evaluate(r) for r in summary}
    if summary:
        print(f"\nmedians over {args.rounds} round(s); ratios are the median of each round's own")
        print(table(summary))
        print()
        print(cpu_table(summary))
        print()
        if any(r.get("survey") for r in summary):
            print(survey_table(summary))
            print()
        for r in summary:
            by_round = [x["ratio_to_echo"] for x in runs if x["target"] == r["target"]]
            if args.rounds > 1 and r["ratio_to_echo"] is not None:
                print(f"{r['target']} vs echo by round: " + " ".join(map(_ratio, by_round)))
        print()
    for r in summary:
        checks = "; ".join(f"{t} {'ok' if met else 'MISSED'}" for t, met in verdicts[r["target"]])
        print(f"{'PASS' if r['passed'] else 'FAIL'} {r['target']}: {checks}")
        if r.get("survey"):
            survey_checks = evaluate_survey(r["survey"])
            r["survey"]["targets"] = [{"check": t, "met": met} for t, met in survey_checks]
            verdict = "PASS" if all(met for _, met in survey_checks) else "FAIL"
            joined = "; ".join(f"{t} {'ok' if met else 'MISSED'}" for t, met in survey_checks)
            print(f"{verdict} survey answering on {r['target']}: {joined}")
    batch_summary = [
        summarise_batches([r for r in batch_runs if r["target"] == name])
        for name in dict.fromkeys(r["target"] for r in batch_runs)
    ]
    if batch_summary:
        print("\nbatches, median over rounds")
        print(batch_table(batch_summary))
        print()
        for r in batch_summary:
            checks = "; ".join(
                f"{t['check']} {'ok' if t['met'] else 'MISSED'}" for t in r["targets"]
            )
            print(f"{'PASS' if r['passed'] else 'FAIL'} batches on {r['target']}: {checks}")
    if burst_runs:
        print("\nbursts")
        print(burst_table(burst_runs))
        print()
        for r in burst_runs:
            checks = "; ".join(f"{t} {'ok' if met else 'MISSED'}" for t, met in evaluate_burst(r))
            killed = " (killed half-way)" if r["kill"] else ""
            print(f"{'PASS' if r['passed'] else 'FAIL'} burst on {r['target']}{killed}: {checks}")
    for name, reason in broken.items():
        print(f"BROKEN {name}: {reason.splitlines()[0]}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"webhook-{args.stamp}.json"
    document = {
        "run_at": args.stamp,
        "settings": {
            "events": args.events,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "users": args.users,
            "seed": args.seed,
            "rounds": args.rounds,
            "mix": dict(MIX),
            "survey_events": args.survey_events,
            "max_survey_cpu_ratio": MAX_SURVEY_CPU_RATIO,
            "workers": WORKERS,
            "threads": THREADS,
            "targets": {
                "min_ack_ratio_to_echo": MIN_RATIO_TO_ECHO,
                "min_end_to_end_ratio_to_echo_tx": MIN_END_TO_END_TO_ECHO_TX,
                "max_batch_answer_ms": MAX_BATCH_ANSWER_MS,
                "max_p99_ms": MAX_P99_MS,
                "max_worker_rss_mb": MAX_WORKER_RSS_MB,
            },
        },
        "environment": environment(),
        "summary": summary,
        "rounds": rounds,
        "batches": {"summary": batch_summary, "rounds": batch_runs},
        "bursts": burst_runs,
        "broken": broken,
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"results: {path.relative_to(ROOT)}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
