"""Where a recurrence's occurrences come from: one interface over RRULEs, durations and crons.

Every instant handed out is a timezone-aware UTC datetime. Sources seek: asking for the occurrences
after an instant years past the start costs about as much as asking for the first ones, because
schedules and sensors ask on every tick.
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import takewhile

#: Occurrences are whole seconds; this is "just before" an instant.
EPSILON = timedelta(microseconds=1)


class OccurrenceSource(ABC):
    """The occurrences of one rule, as UTC instants in ascending order without repeats."""

    @abstractmethod
    def after(self, instant: datetime) -> Iterator[datetime]:
        """The occurrences strictly after ``instant``, ascending; ends if the rule does."""

    @property
    @abstractmethod
    def first(self) -> datetime | None:
        """The earliest occurrence; None for a rule with none or without a beginning (cron)."""

    @property
    def typical_gap(self) -> timedelta:
        """A rough distance between occurrences, to size backward searches."""
        return timedelta(days=1)

    def is_occurrence(self, instant: datetime) -> bool:
        """Whether ``instant`` is exactly one of the occurrences."""
        following = next(self.after(instant - EPSILON), None)
        return following == instant.astimezone(UTC)

    def latest(self, through: datetime, n: int, after: datetime | None = None) -> list[datetime]:
        """Up to ``n`` of the latest occurrences ``o`` with ``after < o <= through``, ascending.

        Searches backwards in windows growing fourfold, so a backlog of years of minutely
        occurrences is never walked end to end.
        """
        if n <= 0:
            return []
        first = self.first
        floor = after
        if first is not None and (floor is None or floor < first - EPSILON):
            floor = first - EPSILON
        if floor is None:
            raise NotImplementedError("a source without a first occurrence must override latest()")
        span = self.typical_gap * (n + 1)
        while True:
            low = through - span
            reached_floor = low <= floor
            if reached_floor:
                low = floor
            found = list(takewhile(lambda o: o <= through, self.after(low)))
            if len(found) >= n or reached_floor:
                return found[-n:]
            span *= 4

    def previous(self, instant: datetime) -> datetime | None:
        """The latest occurrence strictly before ``instant``, if any."""
        found = self.latest(instant - EPSILON, 1)
        return found[0] if found else None


def ascending_unique(
    instants: Iterable[datetime], *, after: datetime, max_disorder: timedelta
) -> Iterator[datetime]:
    """``instants`` after ``after``, sorted and without repeats.

    Wall-clock rules produce instants that are in order except across a DST gap, where a skipped
    wall time maps one offset back (RFC 5545 §3.3.5) and can land on or before the next
    occurrence; ``max_disorder`` (the zone's largest offset change) bounds how far back.
    """
    pending: list[datetime] = []
    last: datetime | None = None
    for instant in instants:
        if instant > after:
            heapq.heappush(pending, instant)
        while pending and pending[0] < instant - max_disorder:
            ready = heapq.heappop(pending)
            if ready != last:
                last = ready
                yield ready
    while pending:
        ready = heapq.heappop(pending)
        if ready != last:
            last = ready
            yield ready
