"""Occurrences of an ISO-8601 duration from a start: ``start + k * duration`` for k = 0, 1, 2, ...

Each occurrence is computed from the start, never from the previous one, so month ends do not
drift (from 31 January by P1M: 28/29 February, 31 March, 30 April, 31 May). As in RFC 5545
§3.3.6, the nominal part (years, months, weeks, days) is calendar arithmetic on the wall clock of
the zone and the exact part (hours, minutes, seconds) is elapsed time added afterwards: P1D keeps
09:00 across DST, PT24H moves with it. A wall time the zone skips or repeats is read as RFC 5545
does (the offset before the gap; the first of the two).

Durations that are exactly an RRULE (days or weeks only, whole months from a day-of-month up to
28, or a time-only duration) are handed to `RRuleOccurrences` by the parser instead; this source
covers the rest (months from the 29th-31st, months with days, nominal parts with a time part).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from export_pipelines.recurrence.occurrences import OccurrenceSource, ascending_unique
from export_pipelines.recurrence.zones import transitions

_AVERAGE_YEAR = timedelta(days=365.2425)
_AVERAGE_MONTH = _AVERAGE_YEAR / 12


@dataclass(frozen=True)
class CalendarDuration:
    """An ISO-8601 duration split into its nominal (calendar) and exact (elapsed) parts."""

    years: int = 0
    months: int = 0
    days: int = 0
    exact: timedelta = timedelta(0)

    @property
    def is_time_only(self) -> bool:
        return not (self.years or self.months or self.days)

    @property
    def average_length(self) -> timedelta:
        return (
            self.years * _AVERAGE_YEAR
            + self.months * _AVERAGE_MONTH
            + timedelta(days=self.days)
            + self.exact
        )

    def times(self, k: int) -> relativedelta:
        return relativedelta(years=k * self.years, months=k * self.months, days=k * self.days)


class DurationOccurrences(OccurrenceSource):
    """``start + k * duration`` for ``0 <= k < count`` (unbounded when count is None)."""

    def __init__(
        self, start: datetime, zone: ZoneInfo, duration: CalendarDuration, count: int | None
    ) -> None:
        self.wall_start = start.astimezone(zone).replace(tzinfo=None)
        self.zone = zone
        self.duration = duration
        self.count = count
        changes = transitions(zone.key)
        self._max_disorder = max(
            (abs(t.offset_after - t.offset_before) for t in changes), default=timedelta(0)
        )

    def occurrence(self, k: int) -> datetime:
        wall = self.wall_start + self.duration.times(k)
        return wall.replace(tzinfo=self.zone).astimezone(UTC) + k * self.duration.exact

    @property
    def first(self) -> datetime | None:
        return self.occurrence(0) if self.count != 0 else None

    @property
    def typical_gap(self) -> timedelta:
        return self.duration.average_length

    def after(self, instant: datetime) -> Iterator[datetime]:
        instant = instant.astimezone(UTC)
        k = self._index_at_or_before(instant)
        return ascending_unique(
            (self.occurrence(i) for i in self._indexes(k)),
            after=instant,
            max_disorder=self._max_disorder,
        )

    def _indexes(self, start: int) -> Iterator[int]:
        k = start
        while self.count is None or k < self.count:
            yield k
            k += 1

    def _index_at_or_before(self, instant: datetime) -> int:
        """A k whose occurrence is well before ``instant`` (0 if none is), found by estimate."""
        margin = self._max_disorder + timedelta(days=1)
        elapsed = instant - margin - self.occurrence(0)
        k = max(0, int(elapsed / self.duration.average_length) - 1)
        while k > 0 and self.occurrence(k) > instant - margin:
            k = k // 2
        return k
