"""The five fields of a cron string as sets, so the planner can build, widen and check crons.

``None`` in a field means ``*``. Days of week use cron's numbering (0 = Sunday). The planner never
restricts both day-of-month and day-of-week: cron ORs those two fields, RFC 5545 ANDs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


@dataclass(frozen=True)
class CronFields:
    """One cron string's minute, hour, day-of-month, month and day-of-week sets."""

    minutes: frozenset[int]
    hours: frozenset[int] | None = None
    days_of_month: frozenset[int] | None = None
    months: frozenset[int] | None = None
    days_of_week: frozenset[int] | None = None

    def __post_init__(self) -> None:
        assert not (self.days_of_month and self.days_of_week), "cron would OR these fields"

    @property
    def cron_string(self) -> str:
        fields = (self.minutes, self.hours, self.days_of_month, self.months, self.days_of_week)
        return " ".join(
            _format_field(values, low, high)
            for values, (low, high) in zip(fields, _FIELD_RANGES, strict=True)
        )

    def matches_date(self, day: date) -> bool:
        """Whether the cron's day fields accept ``day``."""
        if self.months is not None and day.month not in self.months:
            return False
        if self.days_of_month is not None and day.day not in self.days_of_month:
            return False
        return self.days_of_week is None or day.isoweekday() % 7 in self.days_of_week

    def times_of_day(self) -> list[tuple[int, int]]:
        """Every (hour, minute) the cron fires at on a day it accepts, in order."""
        hours = sorted(self.hours) if self.hours is not None else range(24)
        return [(hour, minute) for hour in hours for minute in sorted(self.minutes)]


def _format_field(values: frozenset[int] | None, low: int, high: int) -> str:
    if values is None or values == frozenset(range(low, high + 1)):
        return "*"
    ordered = sorted(values)
    step = _step_from_low(ordered, low, high)
    if step is not None:
        return f"*/{step}"
    parts: list[str] = []
    run_start = previous = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        if previous - run_start >= 2:
            parts.append(f"{run_start}-{previous}")
        else:
            parts.extend(str(v) for v in range(run_start, previous + 1))
        if value is not None:
            run_start = previous = value
    return ",".join(parts)


def _step_from_low(ordered: list[int], low: int, high: int) -> int | None:
    """The step ``s`` if ``ordered`` is exactly ``low, low+s, ...`` up to ``high`` (``*/s``)."""
    if len(ordered) < 2 or ordered[0] != low:
        return None
    step = ordered[1] - ordered[0]
    expected = list(range(low, high + 1, step))
    return step if ordered == expected and step > 1 else None


def group_into_crons(times: set[tuple[int, int]], day_fields: CronFields) -> list[CronFields]:
    """Crons whose union fires at exactly ``times`` (hour, minute) on the days ``day_fields`` take.

    Minutes that fire in the same hours share a cron, so a product of hours and minutes is one
    cron and an irregular pattern (every 90 minutes) a few.
    """
    hours_by_minute: dict[int, frozenset[int]] = {}
    for minute in {m for _, m in times}:
        hours_by_minute[minute] = frozenset(h for h, m in times if m == minute)
    minutes_by_hours: dict[frozenset[int], set[int]] = {}
    for minute, hours in hours_by_minute.items():
        minutes_by_hours.setdefault(hours, set()).add(minute)
    crons = [
        CronFields(
            minutes=frozenset(minutes),
            hours=None if len(hours) == 24 else hours,
            days_of_month=day_fields.days_of_month,
            months=day_fields.months,
            days_of_week=day_fields.days_of_week,
        )
        for hours, minutes in minutes_by_hours.items()
    ]
    return sorted(crons, key=lambda c: (min(c.minutes), c.cron_string))
