"""HiEnergy's documented rate limit: requests per API key per hour, told in ``X-RateLimit-*``.

The vendor documents the three headers and the hourly quotas, not their exact semantics, so the
sandbox uses a fixed window per key: ``X-RateLimit-Limit`` the quota, ``X-RateLimit-Remaining`` what
is left after this request, ``X-RateLimit-Reset`` the epoch second the window ends. Past the quota a
request is 429 (``rate_limited``) with ``Retry-After`` in seconds until the reset. Every
authenticated API request counts, refused ones included; presigned downloads do not (they are not
the API).
"""

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    """The outcome of counting one request."""

    limit: int
    remaining: int
    reset_at: float
    allowed: bool

    @property
    def reset_epoch(self) -> int:
        """The whole epoch second the window ends (rounded up: never earlier than the truth)."""
        return math.ceil(self.reset_at)

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }

    def retry_after(self, now: float) -> str:
        return str(max(1, math.ceil(self.reset_at - now)))


class RateLimiter:
    """A fixed window per key; thread-safe."""

    def __init__(
        self, limit: int, window_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def count(self, api_key: str) -> Quota:
        # Keys are kept hashed: a secret does not sit in the limiter's table.
        slot = hashlib.sha256(api_key.encode()).hexdigest()
        now = self.clock()
        with self._lock:
            started, used = self._windows.get(slot, (now, 0))
            if now >= started + self.window_seconds:
                started, used = now, 0
            used += 1
            self._windows[slot] = (started, used)
        reset_at = started + self.window_seconds
        return Quota(self.limit, max(0, self.limit - used), reset_at, used <= self.limit)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
