"""Token buckets at LINE's published per-endpoint rates (LINE_PLATFORM.md 1.1).

LINE meters each endpoint with a token bucket whose capacity it does not disclose; we meter
ourselves the same way so a burst waits briefly here instead of collecting 429s there. The
buckets are per process; the gateway's 429 backoff covers what several processes overshoot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

HOUR = 3600.0


@dataclass(frozen=True)
class Rate:
    """A refill rate and a burst capacity."""

    per_second: float
    burst: float

    @classmethod
    def per_hour(cls, count: int) -> Rate:
        """``count`` requests an hour, all of which may come at once."""
        return cls(count / HOUR, float(count))


#: LINE's limits, by the gateway's endpoint names. Anything unnamed gets ``DEFAULT_RATE``.
LINE_RATES: dict[str, Rate] = {
    "multicast": Rate(200, 200),
    "loading": Rate(100, 100),
    "broadcast": Rate.per_hour(60),
    "narrowcast": Rate.per_hour(60),
    "richmenu.create": Rate.per_hour(100),
    "richmenu.delete": Rate.per_hour(100),
}
DEFAULT_RATE = Rate(2000, 2000)


class TokenBucket:
    """A thread-safe token bucket."""

    def __init__(
        self,
        rate: Rate,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._tokens = rate.burst
        self._stamp = clock()
        self._lock = threading.Lock()

    def _reserve(self) -> float:
        """Take a token, possibly borrowed; return how long to wait before using it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(
                self.rate.burst, self._tokens + (now - self._stamp) * self.rate.per_second
            )
            self._stamp = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate.per_second

    def acquire(self, max_wait: float) -> bool:
        """Wait for a token for at most ``max_wait`` seconds; ``False`` if that is not enough.

        A refused request gives its token back, so refusals do not starve later callers.
        """
        wait = self._reserve()
        if wait > max_wait:
            with self._lock:
                self._tokens += 1
            return False
        if wait > 0:
            self._sleep(wait)
        return True


class RateLimiter:
    """One bucket per endpoint name."""

    def __init__(self, rates: dict[str, Rate] | None = None, **bucket_options: object) -> None:
        self._rates = LINE_RATES if rates is None else rates
        self._options = bucket_options
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, endpoint: str) -> TokenBucket:
        """The bucket of an endpoint (created on first use)."""
        with self._lock:
            if endpoint not in self._buckets:
                rate = self._rates.get(endpoint, DEFAULT_RATE)
                self._buckets[endpoint] = TokenBucket(rate, **self._options)  # type: ignore[arg-type]
            return self._buckets[endpoint]
