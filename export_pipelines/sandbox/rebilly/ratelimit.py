"""Rebilly's rate limit: per organization, not per key, counting non-GET requests (PROTOCOLS §3.5).

A fixed window of ``window_seconds`` allows ``limit`` non-GET requests. Every API answer carries
``X-RateLimit-Limit`` and ``X-RateLimit-Remaining``; past the limit the answer is 429 with
``X-RateLimit-Retry-After``, the UTC epoch second at which the window resets.
"""

import math
import threading
import time
from collections.abc import Callable

from export_pipelines.decisions.rebilly import RATE_LIMIT_HEADERS, RATE_LIMIT_RETRY_AFTER_HEADER

LIMIT_HEADER, REMAINING_HEADER = RATE_LIMIT_HEADERS


class RateLimiter:
    """Thread-safe fixed-window counter of one organization's non-GET requests."""

    def __init__(
        self, limit: int, window_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = clock()
        self._used = 0

    def _roll(self, now: float) -> None:
        if now >= self._window_start + self.window_seconds:
            self._window_start, self._used = now, 0

    def take(self, counted: bool) -> tuple[bool, dict[str, str]]:
        """Count one request (if ``counted``); (allowed?, the headers to send)."""
        with self._lock:
            now = self._clock()
            self._roll(now)
            allowed = True
            if counted:
                if self._used >= self.limit:
                    allowed = False
                else:
                    self._used += 1
            headers = {
                LIMIT_HEADER: str(self.limit),
                REMAINING_HEADER: str(max(0, self.limit - self._used)),
            }
            if not allowed:
                reset = math.ceil(self._window_start + self.window_seconds)
                headers[RATE_LIMIT_RETRY_AFTER_HEADER] = str(reset)
            return allowed, headers

    def reset(self) -> None:
        with self._lock:
            self._window_start, self._used = self._clock(), 0
