"""Reading cron fields off a rule: the crons it is exactly, or one cron firing at every occurrence.

Only the rule's structure is read here (its wall-clock times and its day filters); whether Dagster's
cron then agrees with RFC 5545 across the zone's DST changes is `plan_checks`' question.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

from dateutil import rrule as du

from export_pipelines.recurrence.cron_fields import CronFields, group_into_crons
from export_pipelines.recurrence.duration_occurrences import DurationOccurrences
from export_pipelines.recurrence.rule_fields import fields_of

#: More crons than this in a union is not a readable schedule; a filtered cron is used instead.
MAX_CRONS_IN_UNION = 24

_MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class Candidates:
    """What a rule could be scheduled as, before checking it against Dagster's ticks."""

    exact: list[CronFields] | None
    superset: CronFields | None
    why_not_exact: str = ""


def rrule_candidates(rule: du.rrule) -> Candidates:
    """The crons an RRULE is exactly (if its structure allows) and a cron superset of it."""
    parts = fields_of(rule)
    if parts.freq == du.SECONDLY:
        return Candidates(None, None, "FREQ=SECONDLY is finer than cron's minute")
    seconds = set(parts.bysecond or ())
    if seconds != {0}:
        listed = ",".join(str(s) for s in sorted(seconds))
        return Candidates(None, None, f"it fires at second {listed} of the minute; cron cannot")
    times = _times_of_day(rule)
    days = _superset_days(rule)
    if days.days_of_month == {29} and days.months == {2}:
        # Dagster iterates "29 2" crons via 28 February and misses the 29th when it starts
        # iterating after the 28th's tick (as its daemon does): widen to every month's 29th.
        days = CronFields(minutes=frozenset(), days_of_month=days.days_of_month)
    superset = CronFields(
        minutes=frozenset(m for _, m in times.superset),
        hours=_hours_or_star({h for h, _ in times.superset}),
        days_of_month=days.days_of_month,
        months=days.months,
        days_of_week=days.days_of_week,
    )
    why_not = times.why_not_exact or _why_days_not_exact(rule)
    if why_not:
        return Candidates(None, superset, why_not)
    exact_days = CronFields(
        minutes=frozenset(),
        days_of_month=frozenset(parts.bymonthday) if parts.bymonthday else None,
        months=_stepped_months(rule, exact=True),
        days_of_week=_cron_weekdays(set(parts.byweekday)) if parts.byweekday else None,
    )
    crons = group_into_crons(times.superset, exact_days)
    if len(crons) > MAX_CRONS_IN_UNION:
        return Candidates(None, superset, f"it would take {len(crons)} crons")
    return Candidates(crons, superset)


def duration_candidates(source: DurationOccurrences) -> Candidates:
    """A cron superset of a calendar duration whose occurrences keep their wall-clock time."""
    why = "calendar durations with months and days (or from the 29th-31st) are not cron"
    start, duration = source.wall_start, source.duration
    if duration.exact or start.second:
        return Candidates(None, None, "its time of day moves from one occurrence to the next")
    days_of_month = None
    if not duration.days and start.day > 28:
        days_of_month = frozenset(range(28, 32))
    superset = CronFields(
        minutes=frozenset({start.minute}),
        hours=frozenset({start.hour}),
        days_of_month=days_of_month,
    )
    return Candidates(None, superset, why)


@dataclass(frozen=True)
class _Times:
    superset: set[tuple[int, int]]
    why_not_exact: str = ""


def _times_of_day(rule: du.rrule) -> _Times:
    """(hour, minute) pairs of the rule; exact when the same on every day it fires."""
    parts = fields_of(rule)
    freq, interval = parts.freq, parts.interval
    start = parts.dtstart
    hours = set(parts.byhour) if parts.byhour is not None else set(range(24))
    minutes = set(parts.byminute) if parts.byminute is not None else set(range(60))
    if freq <= du.DAILY:
        return _Times({(h, m) for h in hours for m in minutes})
    if freq == du.HOURLY:
        step = gcd(interval, 24)
        reachable = {h for h in hours if (h - start.hour) % step == 0}
        times = {(h, m) for h in reachable for m in minutes}
        if 24 % interval:
            return _Times(times, f"INTERVAL={interval} hours does not divide a day")
        return _Times(times)
    step = gcd(interval, _MINUTES_PER_DAY)
    first = start.hour * 60 + start.minute
    times = {
        divmod(t, 60)
        for t in range(_MINUTES_PER_DAY)
        if (t - first) % step == 0 and t // 60 in hours and t % 60 in minutes
    }
    if _MINUTES_PER_DAY % interval:
        return _Times(times, f"INTERVAL={interval} minutes does not divide a day")
    return _Times(times)


def _why_days_not_exact(rule: du.rrule) -> str:
    """Why the rule's days are not cron day fields, or "" when they are."""
    parts = fields_of(rule)
    names = {
        "BYSETPOS": parts.bysetpos,
        "BYYEARDAY": parts.byyearday,
        "BYWEEKNO": parts.byweekno,
        "BYEASTER": parts.byeaster,
    }
    for name, value in names.items():
        if value:
            return f"{name} has no cron equivalent"
    if parts.bynweekday:
        return "an nth weekday (e.g. 1FR) has no cron equivalent"
    if parts.bynmonthday:
        return "a day counted from the month's end has no cron equivalent"
    if parts.bymonthday and parts.byweekday:
        return "BYMONTHDAY with BYDAY means both, cron's two day fields mean either"
    freq, interval = parts.freq, parts.interval
    if freq in (du.YEARLY, du.WEEKLY, du.DAILY) and interval != 1:
        return f"INTERVAL={interval} on FREQ={du.FREQNAMES[freq]} has no cron equivalent"
    if freq == du.MONTHLY and 12 % interval:
        return f"INTERVAL={interval} months does not divide a year"
    return ""


def _superset_days(rule: du.rrule) -> CronFields:
    """Day fields every occurrence satisfies (a necessary condition, not a sufficient one)."""
    parts = fields_of(rule)
    days_of_month: frozenset[int] | None = None
    days_of_week: frozenset[int] | None = None
    if parts.bymonthday or parts.bynmonthday:
        from_end = {
            day
            for n in parts.bynmonthday or ()
            for day in range(29 + n, 33 + n)  # the -nth day is the (len-n+1)th, len in 28..31
            if 1 <= day <= 31
        }
        days_of_month = frozenset(set(parts.bymonthday or ()) | from_end)
    elif parts.byweekday or parts.bynweekday:
        weekdays = set(parts.byweekday or ()) | {day for day, _ in parts.bynweekday or ()}
        days_of_week = _cron_weekdays(weekdays)
    return CronFields(
        minutes=frozenset(),
        days_of_month=days_of_month,
        months=_stepped_months(rule, exact=False),
        days_of_week=days_of_week,
    )


def _stepped_months(rule: du.rrule, *, exact: bool) -> frozenset[int] | None:
    """BYMONTH, narrowed for FREQ=MONTHLY to the months its INTERVAL steps through."""
    parts = fields_of(rule)
    months = set(parts.bymonth) if parts.bymonth else set(range(1, 13))
    if parts.freq == du.MONTHLY:
        step = parts.interval if exact else gcd(parts.interval, 12)
        months = {m for m in months if (m - parts.dtstart.month) % step == 0}
    return None if len(months) == 12 else frozenset(months)


def _cron_weekdays(weekdays: set[int]) -> frozenset[int]:
    """dateutil's weekdays (0 = Monday) in cron's numbering (0 = Sunday)."""
    return frozenset((day + 1) % 7 for day in weekdays)


def _hours_or_star(hours: set[int]) -> frozenset[int] | None:
    return None if len(hours) == 24 else frozenset(hours)
