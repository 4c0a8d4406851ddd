"""How a recurrence is scheduled in Dagster: exact crons, a filtered cron, or a sensor.

The order of preference is the order of cost. A union of crons is a plain Dagster schedule. When
the rule is not a union of crons (an interval of days, an nth weekday, a DST change Dagster's cron
reads differently from RFC 5545), a cron that fires at every occurrence is filtered tick by tick;
that cron is tried in the rule's zone first (readable) and then in UTC, where no DST can break it.
What neither covers (seconds, time of day moving between occurrences) gets a sensor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice, pairwise
from typing import Literal

from export_pipelines.recurrence.cron_derivation import Candidates
from export_pipelines.recurrence.cron_fields import CronFields
from export_pipelines.recurrence.occurrences import EPSILON, OccurrenceSource
from export_pipelines.recurrence.plan_checks import (
    dst_mismatch,
    first_occurrences_mismatch,
    unaccepted_by_dagster,
)
from export_pipelines.recurrence.zones import offsets, transitions

#: A sensor acting as the scheduler ticks at most this far apart (Dagster's default interval).
SENSOR_MAX_INTERVAL_SECONDS = 30


@dataclass(frozen=True)
class CronPlan:
    """The rule is exactly the union of ``cron_strings`` in ``timezone`` (within its span)."""

    cron_strings: tuple[str, ...]
    timezone: str
    reason: str = ""
    kind: Literal["cron"] = "cron"


@dataclass(frozen=True)
class FilteredCronPlan:
    """``cron_string`` fires at every occurrence; ``predicate`` keeps exactly the occurrences."""

    cron_string: str
    timezone: str
    predicate: Callable[[datetime], bool] = field(compare=False, repr=False)
    reason: str = ""
    kind: Literal["filtered cron"] = "filtered cron"


@dataclass(frozen=True)
class SensorPlan:
    """A sensor evaluated every ``minimum_interval_seconds`` fires occurrences as they fall due."""

    minimum_interval_seconds: int
    reason: str = ""
    kind: Literal["sensor"] = "sensor"


Plan = CronPlan | FilteredCronPlan | SensorPlan


def plan_for(
    source: OccurrenceSource,
    candidates: Candidates,
    zone_name: str,
    *,
    last: datetime | None,
) -> Plan:
    """The cheapest exact plan for ``source`` given the crons read off its structure."""
    first = source.first
    assert first is not None, "the parser refuses rules without occurrences"
    why_not_exact = candidates.why_not_exact
    if candidates.exact:
        problem = (
            unaccepted_by_dagster(candidates.exact)
            or dst_mismatch(candidates.exact, zone_name, exact=True, first=first, last=last)
            or first_occurrences_mismatch(candidates.exact, zone_name, source, exact=True)
        )
        if problem is None:
            crons = "these crons" if len(candidates.exact) > 1 else "this cron"
            checked = ", checked across its offset changes" if transitions(zone_name) else ""
            return CronPlan(
                cron_strings=tuple(c.cron_string for c in candidates.exact),
                timezone=zone_name,
                reason=f"exactly {crons} in {zone_name}{checked}",
            )
        why_not_exact = problem
    why_no_superset = "no cron has every occurrence"
    if candidates.superset:
        attempts = [(candidates.superset, zone_name)]
        if zone_name != "UTC":
            attempts.append((in_utc(candidates.superset, zone_name), "UTC"))
        for superset, superset_zone in attempts:
            problem = (
                unaccepted_by_dagster([superset])
                or dst_mismatch([superset], superset_zone, exact=False, first=first, last=last)
                or first_occurrences_mismatch([superset], superset_zone, source, exact=False)
            )
            if problem is None:
                return FilteredCronPlan(
                    cron_string=superset.cron_string,
                    timezone=superset_zone,
                    predicate=source.is_occurrence,
                    reason=f"not a union of crons: {why_not_exact}; this cron fires at every"
                    " occurrence and its other ticks are skipped",
                )
            why_no_superset = problem
    return SensorPlan(
        minimum_interval_seconds=sensor_interval(source),
        reason=f"no cron fires at every occurrence: {why_not_exact}; {why_no_superset}",
    )


def in_utc(fields: CronFields, zone_name: str) -> CronFields:
    """A UTC cron firing at every instant ``fields`` names in ``zone_name``, at any offset.

    Every RFC 5545 instant of a wall time is that wall time less one of the zone's offsets (the
    one before a gap or before a repeat included), so shifting by each offset covers them all.
    Where a shift crosses midnight the day fields are widened to match.
    """
    shifted: set[int] = set()
    for hour, minute in fields.times_of_day():
        for offset in offsets(zone_name):
            shifted.add(hour * 60 + minute - int(offset / timedelta(minutes=1)))
    crosses_midnight = any(t < 0 or t >= 1440 for t in shifted)
    in_day = {t % 1440 for t in shifted}
    hours = frozenset(t // 60 for t in in_day)
    days_of_week = fields.days_of_week
    days_of_month, months = fields.days_of_month, fields.months
    if crosses_midnight:
        days_of_month = months = None
        if days_of_week is not None:
            days_of_week = frozenset((d + s) % 7 for d in days_of_week for s in (-1, 0, 1))
    return CronFields(
        minutes=frozenset(t % 60 for t in in_day),
        hours=None if len(hours) == 24 else hours,
        days_of_month=days_of_month,
        months=months,
        days_of_week=None if days_of_week is not None and len(days_of_week) == 7 else days_of_week,
    )


def sensor_interval(source: OccurrenceSource) -> int:
    """Seconds between sensor ticks: Dagster's 30 s, or the shortest gap of a faster rule.

    A sensor ticking faster than the rule sees at most one occurrence due per tick, so the
    catch-up policy only ever drops occurrences after real downtime.
    """
    first = source.first
    if first is None:
        return SENSOR_MAX_INTERVAL_SECONDS
    sample = list(islice(source.after(first - EPSILON), 200))
    gaps = [later - earlier for earlier, later in pairwise(sample)]
    shortest = min(gaps, default=timedelta(seconds=SENSOR_MAX_INTERVAL_SECONDS))
    return max(1, min(SENSOR_MAX_INTERVAL_SECONDS, int(shortest.total_seconds())))
