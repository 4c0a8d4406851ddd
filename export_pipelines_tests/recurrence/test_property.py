"""Property: for random RRULEs and zones, Dagster fires exactly dateutil's occurrences.

Rules are drawn over FREQ, INTERVAL, the BYxxx parts, COUNT/UNTIL and zones with unusual offset
changes (southern hemisphere, 30-minute DST, 45-minute offsets), half of them starting a few days
before one of the zone's offset changes so the window crosses it. Each is fired through the
schedule or sensor ``build_recurrence_definitions`` returns, over a window of at most a few hundred
schedule ticks, sometimes starting well after DTSTART (which exercises seeking).
"""

from __future__ import annotations

import calendar
import os
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from export_pipelines.recurrence import RecurrenceError, RecurrenceSpec, parse_recurrence
from export_pipelines.recurrence.zones import transitions
from export_pipelines_tests.recurrence.harness import (
    build_export,
    fire_through_dagster,
    reference_occurrences,
    schedule_ticks,
)

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Chatham",
    "Europe/London",
    "America/Santiago",
]
WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
#: Schedule ticks evaluated per example at most (keeps the module well under a minute).
TICK_BUDGET = 300

#: CI runs a fixed sample; RECURRENCE_EXAMPLES=1000 runs a larger, random one (to hunt bugs).
STRESS_EXAMPLES = int(os.environ.get("RECURRENCE_EXAMPLES", "0"))
SETTINGS = settings(
    max_examples=STRESS_EXAMPLES or 100,
    deadline=None,
    database=None,
    derandomize=not STRESS_EXAMPLES,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@st.composite
def starts(draw: st.DrawFn, zone: str) -> datetime:
    """A wall-clock start, half the time a few days before one of the zone's offset changes."""
    changes = [t for t in transitions(zone) if 2024 <= t.at.year <= 2027]
    near_a_change = draw(st.booleans())
    if changes and near_a_change:
        change = draw(st.sampled_from(changes))
        day = change.local_before - timedelta(days=draw(st.integers(0, 4)))
    else:
        day = datetime(2024, 1, 1) + timedelta(days=draw(st.integers(0, 3 * 365)))
    hour = draw(st.sampled_from([0, 1, 2, 3]) | st.integers(0, 23))
    minute = draw(st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59))
    second = draw(st.sampled_from([0] * 9 + [17]))
    return datetime(day.year, day.month, day.day, hour, minute, second)


def _subset(draw: st.DrawFn, values: list, max_size: int) -> list:
    return draw(st.lists(st.sampled_from(values), min_size=1, max_size=max_size, unique=True))


@st.composite
def rrules(draw: st.DrawFn) -> str:
    zone = draw(st.sampled_from(ZONES))
    start = draw(starts(zone))
    freq = draw(st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY"]))
    if freq == "MINUTELY":
        interval = draw(st.sampled_from([1, 5, 7, 10, 15, 20, 30, 45, 90]))
    else:
        interval = draw(st.integers(1, 3) | st.just(1))
    parts = [f"FREQ={freq}", f"INTERVAL={interval}"]
    if draw(st.booleans()):
        parts.append("BYMONTH=" + ",".join(map(str, _subset(draw, list(range(1, 13)), 4))))
    day_part = draw(st.sampled_from(["none", "monthday", "weekday", "nth", "setpos"]))
    if day_part == "monthday":
        days = _subset(draw, [*range(1, 29), -1, -2, -7], 3)
        parts.append("BYMONTHDAY=" + ",".join(map(str, days)))
    elif day_part == "weekday":
        parts.append("BYDAY=" + ",".join(_subset(draw, WEEKDAYS, 3)))
    elif day_part == "nth" and freq in ("MONTHLY", "YEARLY"):
        n = draw(st.sampled_from([1, 2, -1, -2]))
        parts.append(f"BYDAY={n}{draw(st.sampled_from(WEEKDAYS))}")
    elif day_part == "setpos" and freq in ("MONTHLY", "YEARLY"):
        parts.append("BYDAY=" + ",".join(_subset(draw, WEEKDAYS, 5)))
        parts.append(f"BYSETPOS={draw(st.sampled_from([1, 2, -1]))}")
    if freq in ("YEARLY", "MONTHLY", "WEEKLY", "DAILY") and draw(st.booleans()):
        parts.append("BYHOUR=" + ",".join(map(str, _subset(draw, [0, 1, 2, 3, 9, 23], 3))))
    if freq != "MINUTELY" and draw(st.booleans()):
        parts.append("BYMINUTE=" + ",".join(map(str, _subset(draw, [0, 15, 30, 59], 2))))
    end = draw(st.sampled_from(["none", "count", "until"]))
    if end == "count":
        parts.append(f"COUNT={draw(st.integers(1, 40))}")
    elif end == "until":
        until = start + timedelta(hours=draw(st.integers(1, 24 * 60)))
        parts.append(f"UNTIL={until.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC):%Y%m%dT%H%M%SZ}")
    return f"DTSTART;TZID={zone}:{start:%Y%m%dT%H%M%S}\nRRULE:{';'.join(parts)}"


@SETTINGS
@given(rule=rrules(), skip=st.sampled_from([0, 0, 3, 40]))
def test_random_rrules_fire_exactly_dateutils_occurrences(rule: str, skip: int) -> None:
    try:
        recurrence = parse_recurrence(rule)
    except RecurrenceError:
        assume(False)
        raise
    first = recurrence.first
    assert first is not None
    after = first - timedelta(seconds=1)
    if skip:
        skipped = reference_occurrences(
            rule, after=after, through=first + timedelta(days=3000), limit=skip
        )
        after = skipped[-1]
    expected = reference_occurrences(
        rule, after=after, through=after + timedelta(days=3000), limit=8
    )
    through = expected[-1] if expected else after + timedelta(days=30)
    spec = RecurrenceSpec(rule=rule)
    export = build_export(spec)
    if recurrence.plan.kind != "sensor":
        ticks = list(
            islice(schedule_ticks(export.schedule, after=after, through=through), TICK_BUDGET)
        )
        if len(ticks) == TICK_BUDGET:
            through = ticks[-1].astimezone(UTC)
            expected = [o for o in expected if o <= through]
    fired = fire_through_dagster(spec, after=after, through=through, expected=expected)
    assert fired.occurrences == expected, recurrence.plan
    if recurrence.plan.kind != "sensor":
        assert fired.launched_at == expected


@SETTINGS
@given(rule=rrules(), offset_days=st.integers(0, 2000), n=st.integers(1, 12))
def test_occurrences_after_any_instant_are_dateutils(rule: str, offset_days: int, n: int) -> None:
    """Seeking from anywhere (a rebased rule) gives the same occurrences as iterating."""
    try:
        recurrence = parse_recurrence(rule)
    except RecurrenceError:
        assume(False)
        raise
    first = recurrence.first
    assert first is not None
    instant = first + timedelta(days=offset_days, seconds=offset_days * 37)
    expected = reference_occurrences(
        rule, after=instant, through=instant + timedelta(days=40_000), limit=n
    )
    assert recurrence.occurrences_after(instant, n) == expected
    previous = reference_occurrences(
        rule, after=first - timedelta(seconds=1), through=instant - timedelta(microseconds=1)
    )
    assert recurrence.previous_occurrence(instant) == (previous[-1] if previous else None)


@st.composite
def durations(draw: st.DrawFn) -> tuple[str, str, datetime]:
    zone = draw(st.sampled_from(ZONES))
    start = draw(starts(zone))
    kind = draw(st.sampled_from(["days", "weeks", "months", "mixed", "minutes", "hours"]))
    n = draw(st.integers(1, 5))
    text = {
        "days": f"P{n}D",
        "weeks": f"P{n}W",
        "months": f"P{n}M",
        "mixed": f"P{n}M{draw(st.integers(1, 3))}D",
        "minutes": f"PT{draw(st.sampled_from([1, 5, 15, 45, 90, 7]))}M",
        "hours": f"PT{n}H",
    }[kind]
    if draw(st.booleans()):  # month ends, where calendar arithmetic clamps
        last_day = calendar.monthrange(start.year, start.month)[1]
        start = start.replace(day=last_day - draw(st.integers(0, 3)))
    return text, zone, start


def _duration_reference(
    text: str, zone: str, start: datetime, after: datetime, n: int
) -> list[datetime]:
    """start + k * duration: calendar parts on the wall clock, time parts as elapsed time."""
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    k = 0
    while len(found) < n and k < 200_000:
        if text.startswith("PT"):
            amount = int(text[2:-1])
            unit = {"M": timedelta(minutes=1), "H": timedelta(hours=1)}[text[-1]]
            instant = start.replace(tzinfo=tz).astimezone(UTC) + k * amount * unit
        else:
            months = days = 0
            body = text[1:]
            if "M" in body:
                months_text, _, body = body.partition("M")
                months = int(months_text)
            if body.endswith("D"):
                days = int(body[:-1])
            elif body.endswith("W"):
                days = 7 * int(body[:-1])
            wall = start + relativedelta(months=k * months, days=k * days)
            instant = wall.replace(tzinfo=tz).astimezone(UTC)
        if instant > after and instant not in found:
            found.append(instant)
        k += 1
    return sorted(found)


@SETTINGS
@given(case=durations(), skip=st.sampled_from([0, 5]))
def test_random_durations_fire_start_plus_k_durations(
    case: tuple[str, str, datetime], skip: int
) -> None:
    text, zone, start = case
    recurrence = parse_recurrence(text, default_start=start, default_tz=zone)
    first = recurrence.first
    assert first is not None
    after = first - timedelta(seconds=1)
    if skip:
        after = _duration_reference(text, zone, start, after, skip)[-1]
    expected = _duration_reference(text, zone, start, after, 6)
    through = expected[-1]
    spec = RecurrenceSpec(rule=text, start=start, timezone=zone)
    fired = fire_through_dagster(spec, after=after, through=through, expected=expected)
    assert fired.occurrences == expected, recurrence.plan
