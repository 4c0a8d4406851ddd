"""When to retry a vendor call, and how long to wait.

Capped exponential back-off with full jitter, except where the vendor says how long to wait: the
standard ``Retry-After`` (seconds or an HTTP date) by default, else the common ``X-RateLimit-Reset``
of a quota that is used up (``X-RateLimit-Remaining: 0``; HiEnergy documents these), and a
vendor-specific reader where a vendor uses its own header (HelloData's ``RateLimit: …;t=<seconds>``,
Rebilly's ``X-RateLimit-Retry-After: <epoch>``), passed in by that vendor's client.
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

#: Statuses worth another try for any request: throttling and transient server trouble.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: For a request that creates something at the vendor (a submit), only statuses that say the request
#: was not processed: retrying a 500 or a timeout could create a second export.
RETRYABLE_STATUSES_NON_IDEMPOTENT = frozenset({429, 503})

RetryAfterReader = Callable[[httpx.Response], float | None]


#: An ``X-RateLimit-Reset`` above this is a Unix time (seconds since 1970), below it a delay: the
#: header is a convention, not a standard, and vendors send either (a delay of 31 years is none).
_EPOCH_THRESHOLD = 10**9


def standard_retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from ``Retry-After`` (either RFC 9110 form), else from ``X-RateLimit-Reset``
    when ``X-RateLimit-Remaining`` says the quota is used up."""
    value = response.headers.get("Retry-After")
    if not value:
        return _quota_reset(response)
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _quota_reset(response: httpx.Response) -> float | None:
    if response.headers.get("X-RateLimit-Remaining", "").strip() != "0":
        return None
    try:
        reset = float(response.headers.get("X-RateLimit-Reset", "").strip())
    except ValueError:
        return None
    if reset > _EPOCH_THRESHOLD:
        return max(0.0, reset - time.time())
    return max(0.0, reset)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try, and the bounds of the waits between tries."""

    max_attempts: int = 5
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 30.0
    #: A vendor asking for a longer wait than this is not waited for: the call fails and the
    #: pipeline tries again on its next tick instead of blocking a worker.
    max_retry_after_seconds: float = 120.0
    retry_after: RetryAfterReader = field(default=standard_retry_after)

    def should_retry_status(self, status: int, *, idempotent: bool) -> bool:
        allowed = RETRYABLE_STATUSES if idempotent else RETRYABLE_STATUSES_NON_IDEMPOTENT
        return status in allowed

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float | None:
        """Seconds to sleep before attempt ``attempt + 1``; None when the wait is too long."""
        if response is not None:
            asked = self.retry_after(response)
            if asked is not None:
                return asked if asked <= self.max_retry_after_seconds else None
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)


def wait_too_long_text(asked: float, limit: float) -> str:
    """The words for a ``Retry-After`` past the limit: how long, the limit, and when to retry."""
    when = datetime.now(UTC) + timedelta(seconds=asked)
    return (
        f"the vendor asked to wait {asked:.0f} s before trying again, more than the limit "
        f"max_retry_after_seconds = {limit:.0f} s, so it was not waited for; try again after "
        f"{when:%Y-%m-%d %H:%M:%S} UTC"
    )
