"""IANA time zones: lookup with a clear error, and the UTC-offset changes a plan must survive.

A rule's occurrences are wall-clock times in a named zone; where the zone's offset changes (DST or a
change of standard time) Dagster's cron semantics and RFC 5545's part ways, so the planner needs to
know when those changes happen and which offsets the zone uses.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from export_pipelines.recurrence.errors import RecurrenceError

#: Offset changes are looked for from here...
TRANSITIONS_FROM_YEAR = 1970
#: ...up to here: far enough that every rule's foreseeable future is checked; zoneinfo extends
#: the zone's current rules (its POSIX TZ footer) beyond the last listed transition.
TRANSITIONS_UNTIL_YEAR = 2100


def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name``, or a `RecurrenceError` naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise RecurrenceError(f"unknown time zone {name!r} (expected an IANA name)") from error


def zone_name(tz: tzinfo | None) -> str:
    """The IANA name of a zone a parser returned; fixed UTC offsets other than 0 have none."""
    if tz is None:
        raise RecurrenceError("a datetime without a time zone where one was required")
    if isinstance(tz, ZoneInfo):
        return tz.key
    reference = datetime(2000, 1, 1, tzinfo=tz)
    if tz.utcoffset(reference) == timedelta(0) and tz.dst(reference) in (None, timedelta(0)):
        return "UTC"
    raise RecurrenceError(
        f"time zone {tz!r} has no IANA name: use TZID=<IANA name> or a UTC time ending in Z"
    )


@dataclass(frozen=True)
class Transition:
    """One change of a zone's UTC offset, at the instant ``at``."""

    at: datetime
    offset_before: timedelta
    offset_after: timedelta

    @property
    def local_before(self) -> datetime:
        """The naive wall-clock time at which the change happens, read on the old offset."""
        return (self.at + self.offset_before).replace(tzinfo=None)


@functools.cache
def transitions(name: str) -> tuple[Transition, ...]:
    """Every offset change of zone ``name`` between `TRANSITIONS_FROM_YEAR` and the horizon.

    Found by sampling the offset daily and bisecting to the minute; zones do not change offset twice
    within a day, so a daily sample sees every change.
    """
    tz = zone(name)
    found: list[Transition] = []
    instant = datetime(TRANSITIONS_FROM_YEAR, 1, 1, tzinfo=UTC)
    horizon = datetime(TRANSITIONS_UNTIL_YEAR, 1, 1, tzinfo=UTC)
    step = timedelta(days=1)
    offset = _offset(tz, instant)
    while instant < horizon:
        following = instant + step
        following_offset = _offset(tz, following)
        if following_offset != offset:
            found.append(_bisect(tz, instant, following, offset, following_offset))
        instant, offset = following, following_offset
    return tuple(found)


@functools.cache
def offsets(name: str) -> frozenset[timedelta]:
    """Every UTC offset zone ``name`` uses within the horizon (just one for a zone without DST)."""
    changes = transitions(name)
    if not changes:
        return frozenset({_offset(zone(name), datetime(2000, 1, 1, tzinfo=UTC))})
    return frozenset(t.offset_before for t in changes) | {changes[-1].offset_after}


def _offset(tz: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None
    return offset


def _bisect(
    tz: ZoneInfo, low: datetime, high: datetime, low_offset: timedelta, high_offset: timedelta
) -> Transition:
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        if _offset(tz, middle) == low_offset:
            low = middle
        else:
            high = middle
    # Transitions happen on whole minutes; ``high`` is the first sampled minute on the new offset.
    at = high.replace(second=0, microsecond=0)
    if _offset(tz, at) != high_offset:
        at += timedelta(minutes=1)
    return Transition(at=at, offset_before=low_offset, offset_after=high_offset)
