"""Checking a candidate cron against the rule with Dagster's own tick iterator.

Two checks, both on the ticks Dagster's scheduler would fire (``schedule_execution_time_iterator``,
what the daemon iterates):

- around every distinct kind of offset change of the zone: the ticks against the RFC 5545 instants
  of the cron's wall-clock times (a skipped time read on the offset before the gap, a repeated
  time as its first occurrence). Dagster fires a skipped time when the gap ends and a repeated
  one once at its second occurrence (or at both when the hour field is ``*``), so a cron whose
  times touch a change is often not the rule there;
- the rule's first occurrences against the ticks, iterated afresh from just before each as the
  daemon does, which guards the structural reading itself (and caught Dagster skipping a
  "29 2" cron's leap day when iterated from that day).

Offset changes are grouped by what the check depends on (the local date's month, day, weekday
and leap year, the wall time and the two offsets), so a zone's 130 years of DST cost a dozen
checks.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice

from dagster._utils.schedules import (
    has_out_of_range_cron_interval,
    is_valid_cron_schedule,
    schedule_execution_time_iterator,
)

from export_pipelines.recurrence.cron_fields import CronFields
from export_pipelines.recurrence.occurrences import EPSILON, OccurrenceSource
from export_pipelines.recurrence.zones import Transition, transitions, zone

#: How many of the rule's first occurrences are compared with the ticks.
OCCURRENCES_COMPARED = 32
#: The daemon starts iterating a schedule's cron about this long before each tick.
_DAEMON_LOOP_SECONDS = 30


def unaccepted_by_dagster(crons: Sequence[CronFields]) -> str | None:
    """Why Dagster would refuse these crons as a schedule (it refuses 30 February), if it would."""
    schedule = _cron_schedule(crons)
    if not is_valid_cron_schedule(schedule):
        return f"Dagster does not accept the cron {schedule!r}"
    if has_out_of_range_cron_interval(schedule):
        return f"Dagster reads the steps of {schedule!r} differently"
    if any(fields.cron_string.endswith(" 29 2 *") for fields in crons):
        return "Dagster's scheduler misses 29 February when it iterates from the day itself"
    return None


def dst_mismatch(
    crons: Sequence[CronFields],
    zone_name: str,
    *,
    exact: bool,
    first: datetime,
    last: datetime | None,
) -> str | None:
    """Where the crons' ticks fail the rule around an offset change (None if nowhere).

    ``exact`` asks for the same instants; otherwise every RFC instant must be a tick.
    """
    tz = zone(zone_name)
    cron_schedule = _cron_schedule(crons)
    for change in _distinct_changes(zone_name, first - timedelta(days=2), last):
        margin = timedelta(hours=3) + abs(change.offset_after - change.offset_before)
        low, high = change.at - margin, change.at + margin
        expected = set()
        wall_low = (low + min(change.offset_before, change.offset_after)).date()
        wall_high = (high + max(change.offset_before, change.offset_after)).date()
        day = wall_low
        while day <= wall_high:
            for fields in crons:
                if not fields.matches_date(day):
                    continue
                for hour, minute in fields.times_of_day():
                    wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                    instant = wall.astimezone(UTC)
                    if low <= instant <= high:
                        expected.add(instant)
            day += timedelta(days=1)
        ticks = set()
        for tick in schedule_execution_time_iterator(low.timestamp(), cron_schedule, zone_name):
            tick_utc = tick.astimezone(UTC)
            if tick_utc > high:
                break
            ticks.add(tick_utc)
        missing, extra = expected - ticks, ticks - expected
        if missing or (exact and extra):
            return _describe_mismatch(change, tz.key, missing, extra if exact else set())
    return None


def first_occurrences_mismatch(
    crons: Sequence[CronFields], zone_name: str, source: OccurrenceSource, *, exact: bool
) -> str | None:
    """Whether the rule's first occurrences are the ticks (``exact``) or among them."""
    first = source.first
    if first is None:
        return None
    occurrences = list(islice(source.after(first - EPSILON), OCCURRENCES_COMPARED))
    cron_schedule = _cron_schedule(crons)
    if exact:
        ticks = schedule_execution_time_iterator(first.timestamp(), cron_schedule, zone_name)
        for occurrence, tick in zip(occurrences, ticks, strict=False):
            if tick.astimezone(UTC) != occurrence:
                return f"the cron fires at {_iso(tick)} where the rule has {_iso(occurrence)}"
        return None
    for occurrence in occurrences:
        # the daemon iterates afresh each loop, from its previous loop (~30 s) or the last tick
        for lead in (0, _DAEMON_LOOP_SECONDS):
            start = occurrence.timestamp() - lead
            tick = next(schedule_execution_time_iterator(start, cron_schedule, zone_name))
            if tick.astimezone(UTC) != occurrence:
                return f"the cron does not fire at the occurrence {_iso(occurrence)}"
    return None


def _cron_schedule(crons: Sequence[CronFields]) -> str | list[str]:
    strings = [fields.cron_string for fields in crons]
    return strings[0] if len(strings) == 1 else strings


def _distinct_changes(zone_name: str, since: datetime, until: datetime | None) -> list[Transition]:
    """The zone's offset changes within the rule's span, one per signature."""
    by_signature: dict[tuple[object, ...], Transition] = {}
    for change in transitions(zone_name):
        if change.at < since or (until is not None and change.at > until + timedelta(days=2)):
            continue
        local = change.local_before
        signature = (
            local.month,
            local.day,
            local.weekday(),
            local.time(),
            calendar.isleap(local.year) if local.month in (2, 3) else None,
            change.offset_before,
            change.offset_after,
        )
        by_signature.setdefault(signature, change)
    return list(by_signature.values())


def _describe_mismatch(
    change: Transition, zone_name: str, missing: set[datetime], extra: set[datetime]
) -> str:
    kind = "spring-forward" if change.offset_after > change.offset_before else "fall-back"
    when = change.local_before.strftime("%Y-%m-%d %H:%M")
    parts = []
    if missing:
        parts.append("misses " + ", ".join(_iso(i) for i in sorted(missing)[:3]))
    if extra:
        parts.append("also fires " + ", ".join(_iso(i) for i in sorted(extra)[:3]))
    return f"at the {kind} change of {zone_name} on {when}, Dagster's cron {' and '.join(parts)}"


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
