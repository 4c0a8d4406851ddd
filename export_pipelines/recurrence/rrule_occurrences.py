"""Occurrences of an RFC 5545 RRULE, expanded by python-dateutil in the rule's zone.

dateutil expands wall-clock times and attaches the zone; reading them as instants with PEP 495's
``fold=0`` is exactly RFC 5545 §3.3.5 (a time skipped by DST is read on the offset before the gap,
a repeated time is its first occurrence). Two wall times can then name one instant (on
spring-forward an hourly rule's 02:00 and 03:00): that instant occurs once.

dateutil can only iterate from DTSTART, so to seek the rule is rebuilt with a later DTSTART on the
same period grid (same FREQ/INTERVAL phase) and every BYxxx part made explicit, which expands
identically from there on. COUNT rules cannot be rebased (the count runs from DTSTART); they are
expanded once and kept, which is why COUNT is bounded.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule as du

from export_pipelines.recurrence.occurrences import OccurrenceSource, ascending_unique
from export_pipelines.recurrence.rule_fields import fields_of
from export_pipelines.recurrence.zones import transitions

#: A COUNT beyond this is refused at parse time: COUNT rules are expanded in full and kept.
MAX_COUNT = 100_000

_PERIOD = {
    du.YEARLY: timedelta(days=365),
    du.MONTHLY: timedelta(days=30),
    du.WEEKLY: timedelta(weeks=1),
    du.DAILY: timedelta(days=1),
    du.HOURLY: timedelta(hours=1),
    du.MINUTELY: timedelta(minutes=1),
    du.SECONDLY: timedelta(seconds=1),
}


def explicit_parts(rule: du.rrule) -> dict[str, Any]:
    """The rule's BYxxx parts as dateutil resolved them, defaults from DTSTART included.

    Passing these back makes a rebuilt rule independent of its DTSTART's own fields.
    """
    parts = fields_of(rule)
    weekdays: list[Any] = list(parts.byweekday or ())
    weekdays += [du.weekdays[day](n) for day, n in parts.bynweekday or ()]
    monthdays = tuple(parts.bymonthday or ()) + tuple(parts.bynmonthday or ())
    return {
        "freq": parts.freq,
        "interval": parts.interval,
        "wkst": parts.wkst,
        "bysetpos": parts.bysetpos,
        "bymonth": parts.bymonth,
        "bymonthday": monthdays or None,
        "byyearday": parts.byyearday,
        "byeaster": parts.byeaster,
        "byweekno": parts.byweekno,
        "byweekday": weekdays or None,
        "byhour": tuple(sorted(parts.byhour)) if parts.byhour is not None else None,
        "byminute": tuple(sorted(parts.byminute)) if parts.byminute is not None else None,
        "bysecond": tuple(sorted(parts.bysecond)) if parts.bysecond is not None else None,
    }


def rebuilt(
    rule: du.rrule, *, dtstart: datetime, count: int | None, until: datetime | None
) -> du.rrule:
    """``rule`` with another DTSTART/COUNT/UNTIL and every other part as it resolved."""
    return du.rrule(dtstart=dtstart, count=count, until=until, **explicit_parts(rule))


def grid_start_at_or_before(rule: du.rrule, wall: datetime) -> datetime | None:
    """The latest start of a period of ``rule``'s grid at or before naive ``wall``, past DTSTART.

    Periods are what dateutil steps by INTERVAL: years, months, WKST-aligned weeks, days, hours,
    minutes or seconds, counted from DTSTART's own period. None if that is DTSTART's period.
    """
    parts = fields_of(rule)
    start = parts.dtstart.replace(tzinfo=None)
    freq, interval = parts.freq, parts.interval
    if freq == du.YEARLY:
        k = (wall.year - start.year) // interval
        return datetime(start.year + k * interval, 1, 1) if k > 0 else None
    if freq == du.MONTHLY:
        start_month = start.year * 12 + start.month - 1
        k = (wall.year * 12 + wall.month - 1 - start_month) // interval
        month = start_month + k * interval
        return datetime(month // 12, month % 12 + 1, 1) if k > 0 else None
    if freq in (du.WEEKLY, du.DAILY):
        days = 7 if freq == du.WEEKLY else 1
        first_day = start.date()
        if freq == du.WEEKLY:
            first_day -= timedelta(days=(start.weekday() - parts.wkst) % 7)
        k = (wall.date() - first_day).days // (days * interval)
        if k <= 0:
            return None
        day = first_day + timedelta(days=k * interval * days)
        return datetime(day.year, day.month, day.day)
    unit = _PERIOD[freq]
    if freq == du.HOURLY:
        first_period = start.replace(minute=0, second=0)
    elif freq == du.MINUTELY:
        first_period = start.replace(second=0)
    else:
        first_period = start
    k = int((wall - first_period) / unit) // interval
    return first_period + k * interval * unit if k > 0 else None


class RRuleOccurrences(OccurrenceSource):
    """Occurrences of a dateutil ``rrule`` whose DTSTART carries a `ZoneInfo`."""

    def __init__(self, rule: du.rrule) -> None:
        self.parts = fields_of(rule)
        tz = self.parts.dtstart.tzinfo
        assert isinstance(tz, ZoneInfo), "the parser attaches a ZoneInfo to DTSTART"
        self.rule = rule
        self.zone = tz
        changes = transitions(tz.key)
        self._max_disorder = max(
            (abs(t.offset_after - t.offset_before) for t in changes), default=timedelta(0)
        )

    @property
    def count(self) -> int | None:
        return self.parts.count

    @property
    def until(self) -> datetime | None:
        until = self.parts.until
        return until.astimezone(UTC) if until is not None else None

    @property
    def last(self) -> datetime | None:
        """The last occurrence of a COUNT rule, UNTIL (a bound) of an UNTIL rule, else None."""
        if self._expanded is not None:
            return self._expanded[-1] if self._expanded else None
        return self.until

    @property
    def typical_gap(self) -> timedelta:
        return _PERIOD[self.parts.freq] * self.parts.interval

    @functools.cached_property
    def _expanded(self) -> list[datetime] | None:
        """All occurrences of a COUNT rule; None for rules that can seek instead."""
        if self.parts.count is None:
            return None
        return list(self._instants(self.rule, after=datetime.min.replace(tzinfo=UTC)))

    @functools.cached_property
    def first(self) -> datetime | None:
        if self._expanded is not None:
            return self._expanded[0] if self._expanded else None
        start = self.parts.dtstart.astimezone(UTC)
        return next(self.after(start - self._max_disorder - timedelta(seconds=1)), None)

    def after(self, instant: datetime) -> Iterator[datetime]:
        instant = instant.astimezone(UTC)
        if self._expanded is not None:
            position = bisect.bisect_right(self._expanded, instant)
            yield from self._expanded[position:]
            return
        if self.until is not None and instant >= self.until:
            return
        yield from self._instants(self._seeking(instant), after=instant)

    def _seeking(self, instant: datetime) -> du.rrule:
        """The rule rebased close before ``instant`` (itself when that is DTSTART's period)."""
        # A wall time maps at most ``max_disorder`` back across a gap; a day more is margin.
        wall = (instant - self._max_disorder - timedelta(days=1)).astimezone(self.zone)
        grid_start = grid_start_at_or_before(self.rule, wall.replace(tzinfo=None))
        if grid_start is None:
            return self.rule
        return rebuilt(
            self.rule,
            dtstart=grid_start.replace(tzinfo=self.zone),
            count=None,
            until=self.parts.until,
        )

    def _instants(self, rule: du.rrule, *, after: datetime) -> Iterator[datetime]:
        instants = (wall.astimezone(UTC) for wall in rule)
        return ascending_unique(instants, after=after, max_disorder=self._max_disorder)
