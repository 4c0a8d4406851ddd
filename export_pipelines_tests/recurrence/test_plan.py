"""Which rules become exact crons, filtered crons or sensors, and why."""

from __future__ import annotations

from datetime import datetime

import pytest

from export_pipelines.recurrence import (
    CronPlan,
    FilteredCronPlan,
    RecurrenceSpec,
    SensorPlan,
    parse_recurrence,
)
from export_pipelines_tests.recurrence.harness import (
    build_export,
    evaluate_schedule,
    schedule_ticks,
)

BERLIN = "DTSTART;TZID=Europe/Berlin:20250301T"
UTC_START = "DTSTART;TZID=UTC:20250301T"


@pytest.mark.parametrize(
    ("rule", "crons", "zone"),
    [
        (f"{BERLIN}090000\nRRULE:FREQ=DAILY", ["0 9 * * *"], "Europe/Berlin"),
        (f"{BERLIN}090000\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR", ["0 9 * * 1,3,5"], "Europe/Berlin"),
        (f"{BERLIN}090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=1,15", ["0 9 1,15 * *"], "Europe/Berlin"),
        (f"{BERLIN}090000\nRRULE:FREQ=MONTHLY;INTERVAL=3", ["0 9 1 3,6,9,12 *"], "Europe/Berlin"),
        (f"{BERLIN}090000\nRRULE:FREQ=YEARLY", ["0 9 1 3 *"], "Europe/Berlin"),
        (f"{BERLIN}000000\nRRULE:FREQ=HOURLY;INTERVAL=6", ["0 */6 * * *"], "Europe/Berlin"),
        (f"{UTC_START}000000\nRRULE:FREQ=MINUTELY;INTERVAL=15", ["*/15 * * * *"], "UTC"),
        (
            f"{UTC_START}000000\nRRULE:FREQ=MINUTELY;INTERVAL=90",
            ["0 */3 * * *", "30 1,4,7,10,13,16,19,22 * * *"],
            "UTC",
        ),
        # durations in elapsed time are crons in UTC, whatever the zone
        ("R/2025-03-01T09:00:00+01:00/PT15M", ["*/15 * * * *"], "UTC"),
        ("R/2025-03-01T09:00:00+01:00/PT1H", ["0 * * * *"], "UTC"),
        ("R/2025-03-01T09:00:00/P1W", ["0 9 * * 6"], "UTC"),
    ],
)
def test_exact_crons(rule: str, crons: list[str], zone: str) -> None:
    plan = parse_recurrence(rule).plan
    assert isinstance(plan, CronPlan), plan.reason
    assert list(plan.cron_strings) == crons
    assert plan.timezone == zone


@pytest.mark.parametrize(
    ("rule", "cron", "zone", "why"),
    [
        (
            f"{BERLIN}090000\nRRULE:FREQ=DAILY;INTERVAL=2",
            "0 9 * * *",
            "Europe/Berlin",
            "INTERVAL=2",
        ),
        (
            f"{BERLIN}090000\nRRULE:FREQ=MONTHLY;BYDAY=1FR",
            "0 9 * * 5",
            "Europe/Berlin",
            "nth weekday",
        ),
        (
            f"{BERLIN}090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=-1",
            "0 9 28-31 * *",
            "Europe/Berlin",
            "month's end",
        ),
        (
            f"{BERLIN}090000\nRRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "0 9 * * 1-5",
            "Europe/Berlin",
            "BYSETPOS",
        ),
        # a skipped and a repeated wall time: Dagster's cron disagrees with RFC 5545 there, a
        # UTC cron at every offset does not
        (f"{BERLIN}023000\nRRULE:FREQ=DAILY", "30 0,1 * * *", "UTC", "spring-forward"),
        # wall-clock minutely: RFC 5545 skips the repeated hour, an hourly cron fires it twice
        (
            f"{BERLIN}000000\nRRULE:FREQ=MINUTELY;INTERVAL=15",
            "*/15 * * * *",
            "Europe/Berlin",
            "fall-back",
        ),
        (f"{BERLIN}000000\nRRULE:FREQ=HOURLY", "0 * * * *", "Europe/Berlin", "fall-back"),
        # Dagster's "29 2" cron misses the leap day when iterated from that day, as its daemon does
        (
            "DTSTART;TZID=UTC:20240229T090000\nRRULE:FREQ=YEARLY",
            "0 9 29 * *",
            "UTC",
            "29 February",
        ),
    ],
)
def test_filtered_crons(rule: str, cron: str, zone: str, why: str) -> None:
    plan = parse_recurrence(rule).plan
    assert isinstance(plan, FilteredCronPlan), plan.reason
    assert (plan.cron_string, plan.timezone) == (cron, zone)
    assert why in plan.reason


def test_filter_keeps_exactly_the_occurrences() -> None:
    recurrence = parse_recurrence(f"{BERLIN}090000\nRRULE:FREQ=MONTHLY;BYDAY=1FR")
    plan = recurrence.plan
    assert isinstance(plan, FilteredCronPlan)
    fridays = [datetime.fromisoformat(f"2025-03-{d:02}T08:00:00+00:00") for d in (7, 14, 21, 28)]
    assert [plan.predicate(f) for f in fridays] == [True, False, False, False]


@pytest.mark.parametrize(
    ("rule", "interval"),
    [
        (f"{BERLIN}090030\nRRULE:FREQ=DAILY", 30),
        (f"{UTC_START}000000\nRRULE:FREQ=SECONDLY;INTERVAL=10", 10),
        ("R/2025-03-01T00:00:00/PT45S", 30),
    ],
)
def test_sensor_plans(rule: str, interval: int) -> None:
    plan = parse_recurrence(rule).plan
    assert isinstance(plan, SensorPlan)
    assert plan.minimum_interval_seconds == interval


def test_describe_shows_rule_plan_and_next_occurrences() -> None:
    text = parse_recurrence(f"{BERLIN}023000\nRRULE:FREQ=DAILY").describe(
        now=datetime.fromisoformat("2025-03-28T12:00:00+00:00"), n=3
    )
    assert text.splitlines() == [
        "Rule: DTSTART;TZID=Europe/Berlin:20250301T023000 RRULE:FREQ=DAILY",
        "Time zone: Europe/Berlin",
        "Scheduled as: filtered cron '30 0,1 * * *' in UTC",
        text.splitlines()[3],
        "Next 3 occurrences after 2025-03-28 12:00 UTC:",
        "  2025-03-29 02:30:00 CET (+0100) = 2025-03-29T01:30:00Z",
        "  2025-03-30 03:30:00 CEST (+0200) = 2025-03-30T01:30:00Z",
        "  2025-03-31 02:30:00 CEST (+0200) = 2025-03-31T00:30:00Z",
    ]
    assert text.splitlines()[3].startswith("Why: not a union of crons")


def test_leap_day_fires_even_when_iteration_starts_on_the_day() -> None:
    rule = "DTSTART;TZID=UTC:20240229T090000\nRRULE:FREQ=YEARLY"
    export = build_export(RecurrenceSpec(rule=rule))
    after = datetime.fromisoformat("2024-02-29T08:59:30+00:00")  # the daemon's last iteration
    through = datetime.fromisoformat("2032-03-01T00:00:00+00:00")
    fired = evaluate_schedule(
        export.schedule, schedule_ticks(export.schedule, after=after, through=through)
    )
    assert [o.date().isoformat() for o in fired.occurrences] == [
        "2024-02-29",
        "2028-02-29",
        "2032-02-29",
    ]
