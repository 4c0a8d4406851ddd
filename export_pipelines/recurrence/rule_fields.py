"""Typed access to the parts of a parsed ``dateutil.rrule.rrule``.

dateutil parses RRULE text completely but exposes the parsed parts only as private attributes
(``_freq``, ``_byweekday``, …). Reading them here, in one place and typed, keeps that dependency
on dateutil's internals visible and lets the planner and the occurrence code stay type-checked.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dateutil.rrule import rrule


@dataclass(frozen=True)
class RuleFields:
    freq: int
    interval: int
    dtstart: datetime
    count: int | None
    until: datetime | None
    wkst: int
    bysetpos: tuple[int, ...] | None
    bymonth: tuple[int, ...] | None
    bymonthday: tuple[int, ...]
    bynmonthday: tuple[int, ...]
    byyearday: tuple[int, ...] | None
    byweekno: tuple[int, ...] | None
    byweekday: tuple[int, ...] | None
    bynweekday: tuple[tuple[int, int], ...] | None
    byeaster: tuple[int, ...] | None
    byhour: tuple[int, ...] | None
    byminute: tuple[int, ...] | None
    bysecond: tuple[int, ...] | None


def fields_of(rule: rrule) -> RuleFields:
    parsed: Any = rule
    return RuleFields(
        freq=parsed._freq,
        interval=parsed._interval,
        dtstart=parsed._dtstart,
        count=parsed._count,
        until=parsed._until,
        wkst=parsed._wkst,
        bysetpos=parsed._bysetpos,
        bymonth=parsed._bymonth,
        bymonthday=parsed._bymonthday,
        bynmonthday=parsed._bynmonthday,
        byyearday=parsed._byyearday,
        byweekno=parsed._byweekno,
        byweekday=parsed._byweekday,
        bynweekday=parsed._bynweekday,
        byeaster=parsed._byeaster,
        byhour=parsed._byhour,
        byminute=parsed._byminute,
        bysecond=parsed._bysecond,
    )
