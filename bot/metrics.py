"""Prometheus metrics: webhook events, handler latency, LINE API calls, the inbox.

Each app gets its own registry (tests build several apps). Under gunicorn with several
workers, ``PROMETHEUS_MULTIPROC_DIR`` is set (gunicorn.conf.py does it before anything
imports prometheus_client) so ``/metrics`` sums every worker's counters. The inbox's
figures (waiting and parked events, the oldest one's age) are read from the database when
``/metrics`` is scraped: they are the same for every process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class InboxFigures(Protocol):
    """What the inbox gauges show (``bot.inbox.Backlog``)."""

    @property
    def pending(self) -> int: ...
    @property
    def parked(self) -> int: ...
    @property
    def oldest_seconds(self) -> float: ...


class InboxCollector(Collector):
    """Gauges of the inbox, read at scrape time."""

    def __init__(self, read: Callable[[], InboxFigures]) -> None:
        self._read = read

    #: Name and help of each gauge, and the field of :class:`InboxFigures` it shows.
    GAUGES = (
        ("madoguchi_inbox_pending", "Webhook events waiting or being processed.", "pending"),
        ("madoguchi_inbox_parked", "Webhook events parked after repeated failures.", "parked"),
        (
            "madoguchi_inbox_oldest_pending_seconds",
            "Age of the oldest webhook event not yet processed.",
            "oldest_seconds",
        ),
    )

    def describe(self) -> Iterator[Metric]:
        """The gauges' names, without reading the database (at registration)."""
        for name, documentation, _field in self.GAUGES:
            yield GaugeMetricFamily(name, documentation)

    def collect(self) -> Iterator[Metric]:
        try:
            backlog = self._read()
        except Exception as error:  # the database is down: /healthz says so; no gauges
            logger.warning("inbox figures unavailable", extra={"error": type(error).__name__})
            return
        for name, documentation, field in self.GAUGES:
            yield GaugeMetricFamily(name, documentation, getattr(backlog, field))


class Metrics:
    """The metric families madoguchi exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._inbox: InboxCollector | None = None
        self.webhook_events = Counter(
            "madoguchi_webhook_events",
            "Webhook events processed, by type and outcome.",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.inbox_stored = Counter(
            "madoguchi_inbox_stored",
            "Webhook events stored in the inbox (redeliveries not counted).",
            registry=self.registry,
        )
        self.inbox_duplicates = Counter(
            "madoguchi_inbox_duplicates",
            "Webhook events dropped at the door: their webhookEventId was already stored.",
            registry=self.registry,
        )
        self.parked_events = Counter(
            "madoguchi_parked_events",
            "Webhook events parked after repeated failures.",
            registry=self.registry,
        )
        self.handler_latency = Histogram(
            "madoguchi_handler_seconds",
            "Time to process one webhook event (unit of work and sending), by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.job_failures = Counter(
            "madoguchi_job_failures",
            "Clock job runs that raised, by job.",
            ["job"],
            registry=self.registry,
        )
        self.line_api_calls = Counter(
            "madoguchi_line_api_calls",
            "LINE API calls, by endpoint and HTTP status (0: no answer).",
            ["endpoint", "status"],
            registry=self.registry,
        )

    def watch_inbox(self, read: Callable[[], InboxFigures]) -> None:
        """Export the inbox's figures, read by ``read`` at every scrape."""
        self._inbox = InboxCollector(read)
        self.registry.register(self._inbox)

    def render(self) -> bytes:
        """The exposition text: this process, or every worker in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            if self._inbox is not None:
                registry.register(self._inbox)
            return generate_latest(registry)
        return generate_latest(self.registry)
