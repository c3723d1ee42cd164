"""Prometheus metrics: webhook events, handler latency and LINE API calls.

Each app gets its own registry (tests build several apps). Under gunicorn with several
workers, set ``PROMETHEUS_MULTIPROC_DIR`` (the gunicorn config does) so ``/metrics``
aggregates every worker.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The metric families madoguchi exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.webhook_events = Counter(
            "madoguchi_webhook_events",
            "Webhook events received, by type and outcome.",
            ["type", "outcome"],
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

    def render(self) -> bytes:
        """The exposition text: this process, or every worker in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
