"""Spring-forward and fall-back days of Europe/Berlin and America/New_York, fired through Dagster.

RRULEs must fire dateutil's RFC 5545 instants: a skipped wall time fires one offset later (02:30 on
spring-forward is 03:30), a repeated one once, at its first (summer-time) occurrence. Elapsed
durations (PT15M) fire every real interval, the repeated hour included. Crons fire as Dagster's
scheduler documents: a skipped time when the gap ends, a repeated time once (the later), an
hourly cron in every hour that passes.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from export_pipelines.recurrence import RecurrenceSpec, parse_recurrence
from export_pipelines_tests.recurrence.harness import (
    fire_through_dagster,
    reference_occurrences,
)

#: (zone, spring-forward day, fall-back day, a skipped wall time, a repeated wall time)
ZONES = [
    ("Europe/Berlin", datetime(2025, 3, 30), datetime(2025, 10, 26), "0230", "0230"),
    ("America/New_York", datetime(2025, 3, 9), datetime(2025, 11, 2), "0230", "0130"),
]


def _window(zone: str, day: datetime) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    return (
        (day - timedelta(days=1)).replace(tzinfo=tz).astimezone(UTC),
        (day + timedelta(days=2)).replace(tzinfo=tz).astimezone(UTC),
    )


def _local(instants: list[datetime], zone: str) -> list[str]:
    return [i.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M %Z") for i in instants]


def _fire(rule: str, zone: str, day: datetime, expected: list[datetime] | None = None):
    after, through = _window(zone, day)
    spec = RecurrenceSpec(rule=rule, timezone=zone, start=datetime(2025, 1, 1))
    return fire_through_dagster(spec, after=after, through=through, expected=expected)


def _rrule_cases(zone: str, skipped: str, repeated: str) -> list[str]:
    start = f"DTSTART;TZID={zone}:20250101T"
    return [
        f"{start}{skipped}00\nRRULE:FREQ=DAILY",
        f"{start}{repeated}00\nRRULE:FREQ=DAILY",
        f"{start}000000\nRRULE:FREQ=HOURLY",
        f"{start}000000\nRRULE:FREQ=MINUTELY;INTERVAL=15",
        f"{start}003000\nRRULE:FREQ=HOURLY;INTERVAL=2",
        f"{start}{skipped}00\nRRULE:FREQ=WEEKLY;BYDAY=SU",
        f"{start}010000\nRRULE:FREQ=DAILY;BYHOUR=1,2,3;BYMINUTE=0,30",
        f"{start}{skipped}17\nRRULE:FREQ=DAILY",
    ]


@pytest.mark.parametrize(("zone", "spring", "fall", "skipped", "repeated"), ZONES)
def test_rrules_fire_rfc5545_instants_on_dst_days(
    zone: str, spring: datetime, fall: datetime, skipped: str, repeated: str
) -> None:
    for rule in _rrule_cases(zone, skipped, repeated):
        for day in (spring, fall):
            after, through = _window(zone, day)
            expected = reference_occurrences(rule, after=after, through=through)
            fired = _fire(rule, zone, day, expected)
            assert fired.occurrences == expected, (rule, day)
            assert not [o for o, n in Counter(fired.occurrences).items() if n > 1]
            if parse_recurrence(rule).plan.kind != "sensor":
                assert fired.launched_at == expected, "each fires at its own instant"


def test_daily_at_a_skipped_and_a_repeated_time() -> None:
    """02:30 does not exist on 30 March in Berlin: RFC 5545 reads it on the winter offset
    (03:30 summer time). 02:30 happens twice on 26 October: the rule fires once, at the first."""
    rule = "DTSTART;TZID=Europe/Berlin:20250101T023000\nRRULE:FREQ=DAILY"
    spring = _fire(rule, "Europe/Berlin", datetime(2025, 3, 30), None)
    assert _local(spring.occurrences, "Europe/Berlin") == [
        "03-29 02:30 CET",
        "03-30 03:30 CEST",
        "03-31 02:30 CEST",
    ]
    fall = _fire(rule, "Europe/Berlin", datetime(2025, 10, 26), None)
    assert _local(fall.occurrences, "Europe/Berlin") == [
        "10-25 02:30 CEST",
        "10-26 02:30 CEST",
        "10-27 02:30 CET",
    ]
    new_york = "DTSTART;TZID=America/New_York:20250101T013000\nRRULE:FREQ=DAILY"
    fall_ny = _fire(new_york, "America/New_York", datetime(2025, 11, 2), None)
    assert _local(fall_ny.occurrences, "America/New_York") == [
        "11-01 01:30 EDT",
        "11-02 01:30 EDT",
        "11-03 01:30 EST",
    ]


def test_hourly_rrule_fires_the_repeated_hour_once() -> None:
    rule = "DTSTART;TZID=Europe/Berlin:20250101T000000\nRRULE:FREQ=HOURLY"
    fired = _fire(rule, "Europe/Berlin", datetime(2025, 10, 26), None)
    day = [o for o in fired.occurrences if o.astimezone(ZoneInfo("Europe/Berlin")).day == 26]
    assert len(day) == 24, "24 wall-clock hours; the repeated 02:00 hour fires once"
    assert _local(day, "Europe/Berlin")[1:4] == [
        "10-26 01:00 CEST",
        "10-26 02:00 CEST",
        "10-26 03:00 CET",
    ]
    spring = _fire(rule, "Europe/Berlin", datetime(2025, 3, 30), None)
    day = [o for o in spring.occurrences if o.astimezone(ZoneInfo("Europe/Berlin")).day == 30]
    assert len(day) == 23
    assert len(set(spring.occurrences)) == len(spring.occurrences)


@pytest.mark.parametrize(("zone", "spring", "fall", "skipped", "repeated"), ZONES)
def test_elapsed_durations_fire_every_real_interval(
    zone: str, spring: datetime, fall: datetime, skipped: str, repeated: str
) -> None:
    tz = ZoneInfo(zone)
    start = datetime(2025, 1, 1, tzinfo=tz).astimezone(UTC)  # UTC: elapsed-time arithmetic
    for rule, step in (("PT15M", timedelta(minutes=15)), ("PT1H", timedelta(hours=1))):
        assert parse_recurrence(rule, default_start=start, default_tz=zone).plan.kind == "cron"
        for day, hours in ((spring, 23), (fall, 25)):
            fired = _fire(rule, zone, day, None)
            after, through = _window(zone, day)
            k = (after - start) // step + 1
            expected = []
            while start + k * step <= through:
                expected.append((start + k * step).astimezone(UTC))
                k += 1
            assert fired.occurrences == expected
            on_day = [o for o in fired.occurrences if o.astimezone(tz).date() == day.date()]
            assert len(on_day) == hours * int(timedelta(hours=1) / step)


def test_nominal_day_duration_keeps_the_wall_clock_time() -> None:
    fired = _fire("P1D", "Europe/Berlin", datetime(2025, 3, 30), None)
    # start 2025-01-01 00:00 Berlin: every day at local midnight, whatever the offset
    assert _local(fired.occurrences, "Europe/Berlin") == [
        "03-30 00:00 CET",
        "03-31 00:00 CEST",
        "04-01 00:00 CEST",
    ]


@pytest.mark.parametrize(
    ("cron", "zone", "day", "expected"),
    [
        # a skipped time fires when the gap ends
        ("30 2 * * *", "Europe/Berlin", datetime(2025, 3, 30), ["03-30 03:00 CEST"]),
        # a repeated time fires once, at its second occurrence
        ("30 2 * * *", "Europe/Berlin", datetime(2025, 10, 26), ["10-26 02:30 CET"]),
        ("30 1 * * *", "America/New_York", datetime(2025, 11, 2), ["11-02 01:30 EST"]),
        ("30 2 * * *", "America/New_York", datetime(2025, 3, 9), ["03-09 03:00 EDT"]),
        # an hourly cron fires in every hour that passes: the repeated hour twice
        (
            "0 * * * *",
            "Europe/Berlin",
            datetime(2025, 10, 26),
            ["10-26 01:00 CEST", "10-26 02:00 CEST", "10-26 02:00 CET", "10-26 03:00 CET"],
        ),
        (
            "0 * * * *",
            "America/New_York",
            datetime(2025, 3, 9),
            ["03-09 01:00 EST", "03-09 03:00 EDT"],
        ),
        (
            "*/30 * * * *",
            "America/New_York",
            datetime(2025, 11, 2),
            [
                *("11-02 01:00 EDT", "11-02 01:30 EDT", "11-02 01:00 EST", "11-02 01:30 EST"),
                *("11-02 02:00 EST", "11-02 02:30 EST", "11-02 03:00 EST", "11-02 03:30 EST"),
            ],
        ),
    ],
)
def test_crons_fire_as_dagsters_scheduler_does(
    cron: str, zone: str, day: datetime, expected: list[str]
) -> None:
    tz = ZoneInfo(zone)
    fired = _fire(cron, zone, day, None)
    low = day.replace(hour=1, tzinfo=tz).astimezone(UTC)
    high = day.replace(hour=3, minute=59, tzinfo=tz).astimezone(UTC)
    during = [o for o in fired.occurrences if low <= o <= high]
    assert _local(during, zone) == expected
    assert len(set(fired.occurrences)) == len(fired.occurrences)
