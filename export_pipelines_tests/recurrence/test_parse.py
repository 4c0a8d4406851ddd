"""Reading the four forms of recurrence, what durations mean, and the errors bad input gets."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from export_pipelines.recurrence import RecurrenceError, RecurrenceSpec, parse_recurrence
from export_pipelines_tests.recurrence.harness import utc

BERLIN = ZoneInfo("Europe/Berlin")


def _local(instants: list[datetime], zone: str = "Europe/Berlin") -> list[str]:
    return [i.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S") for i in instants]


def test_rrule_block_with_tzid() -> None:
    recurrence = parse_recurrence(
        "DTSTART;TZID=Europe/Berlin:20250301T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO,FR;COUNT=3"
    )
    assert recurrence.kind == "rrule"
    assert recurrence.tz == "Europe/Berlin"
    assert _local(recurrence.occurrences_after(utc(2025, 1, 1), 5)) == [
        "2025-03-03 09:00:00",
        "2025-03-07 09:00:00",
        "2025-03-10 09:00:00",
    ]


def test_rrule_forms_without_tzid_take_the_defaults() -> None:
    floating = parse_recurrence(
        "DTSTART:20250301T090000\nRRULE:FREQ=DAILY", default_tz="America/New_York"
    )
    assert floating.tz == "America/New_York"
    assert floating.first == datetime(2025, 3, 1, 14, tzinfo=UTC)
    on_one_line = parse_recurrence("DTSTART;TZID=Europe/Berlin:20250301T090000 RRULE:FREQ=DAILY")
    assert on_one_line.first == datetime(2025, 3, 1, 8, tzinfo=UTC)
    utc_start = parse_recurrence(
        "DTSTART:20250301T090000Z\nRRULE:FREQ=DAILY", default_tz="Asia/Tokyo"
    )
    assert utc_start.tz == "UTC"
    for bare in ("RRULE:FREQ=DAILY;BYHOUR=9", "FREQ=DAILY;BYHOUR=9"):
        recurrence = parse_recurrence(
            bare, default_start=datetime(2025, 3, 1), default_tz="Europe/Berlin"
        )
        assert _local(recurrence.occurrences_after(utc(2025, 1, 1), 2)) == [
            "2025-03-01 09:00:00",
            "2025-03-02 09:00:00",
        ]


def test_iso_durations_recur_from_the_start_without_drift() -> None:
    """From 31 January by P1M: every month's last day, not 28 February then the 28ths."""
    monthly = parse_recurrence(
        "P1M", default_start=datetime(2025, 1, 31, 9), default_tz="Europe/Berlin"
    )
    assert _local(monthly.occurrences_after(utc(2025, 1, 1), 5)) == [
        "2025-01-31 09:00:00",
        "2025-02-28 09:00:00",
        "2025-03-31 09:00:00",
        "2025-04-30 09:00:00",
        "2025-05-31 09:00:00",
    ]
    leap = parse_recurrence("P1Y", default_start=datetime(2024, 2, 29, 9), default_tz="UTC")
    assert _local(leap.occurrences_after(utc(2024, 1, 1), 5), "UTC")[:5] == [
        "2024-02-29 09:00:00",
        "2025-02-28 09:00:00",
        "2026-02-28 09:00:00",
        "2027-02-28 09:00:00",
        "2028-02-29 09:00:00",
    ]


def test_mixed_duration_adds_calendar_parts_then_elapsed_time() -> None:
    recurrence = parse_recurrence(
        "P1Y6M4DT12H30M5S", default_start=datetime(2025, 1, 1), default_tz="Europe/Berlin"
    )
    # k=1: 2025-01-01 + 1y6m4d = 2026-07-05 00:00 CEST, then 12:30:05 elapsed
    # k=2: 2025-01-01 + 3y0m8d = 2028-01-09 00:00 CET, then 25:00:10 elapsed
    assert _local(recurrence.occurrences_after(utc(2025, 1, 1), 2)) == [
        "2026-07-05 12:30:05",
        "2028-01-10 01:00:10",
    ]
    assert recurrence.plan.kind == "sensor"


def test_repeating_intervals() -> None:
    counted = parse_recurrence("R3/2025-03-01T09:00:00/PT15M", default_tz="Europe/Berlin")
    assert counted.kind == "repeating interval"
    assert _local(counted.occurrences_after(utc(2025, 1, 1), 10)) == [
        "2025-03-01 09:00:00",
        "2025-03-01 09:15:00",
        "2025-03-01 09:30:00",
    ]
    endless = parse_recurrence("R/2025-03-01T08:00:00Z/P1D", default_tz="Europe/Berlin")
    # the start's offset fixes the instant; the wall clock is the zone's: 09:00 all year
    assert _local(endless.occurrences_after(utc(2025, 7, 1), 1)) == ["2025-07-01 09:00:00"]
    assert endless.plan.kind == "cron"


def test_cron_with_zone_and_start() -> None:
    cron = parse_recurrence("0   9 * * 1-5", default_tz="Europe/Berlin")
    assert cron.kind == "cron"
    assert cron.plan.kind == "cron"
    assert cron.plan.cron_strings == ("0 9 * * 1-5",)  # type: ignore[union-attr]
    assert cron.first is None, "a cron has no beginning"
    started = parse_recurrence(
        "0 9 * * *", default_start=datetime(2025, 3, 1, 12), default_tz="Europe/Berlin"
    )
    assert _local([started.first or utc(1970, 1, 1)]) == ["2025-03-02 09:00:00"]
    assert started.latest_occurrences(utc(2025, 3, 5), 10) == [
        datetime(2025, 3, d, 8, tzinfo=UTC) for d in (2, 3, 4)
    ]


@pytest.mark.parametrize(
    ("text", "kwargs", "reason"),
    [
        (
            "DTSTART;TZID=Europe/Berlin:20250301T090000\nRRULE:FREQ=FORTNIGHTLY",
            {},
            "invalid RRULE: invalid 'FREQ': FORTNIGHTLY",
        ),
        (
            "DTSTART;TZID=Europe/Berlin:20250301T090000\nRRULE:FREQ=DAILY;BYDAYS=MO",
            {},
            "unknown parameter",
        ),
        ("P1X", {"default_start": datetime(2025, 3, 1)}, "invalid ISO-8601 duration 'P1X'"),
        ("P1.5D", {"default_start": datetime(2025, 3, 1)}, "fractional"),
        ("PT0S", {"default_start": datetime(2025, 3, 1)}, "longer than zero"),
        ("P1D", {}, "the duration 'P1D' needs a start"),
        ("R/2025-13-45T09:00:00/P1D", {}, "invalid start '2025-13-45T09:00:00'"),
        ("R0/2025-03-01T09:00:00/P1D", {}, "R0 has no occurrences"),
        ("R/2025-03-01T09:00:00/2025-04-01T09:00:00", {}, "unsupported repeating interval"),
        (
            "DTSTART;TZID=Mars/Olympus_Mons:20250301T090000\nRRULE:FREQ=DAILY",
            {},
            "unknown time zone 'Mars/Olympus_Mons'",
        ),
        ("0 9 * * *", {"default_tz": "Europe/Paris-ish"}, "unknown time zone 'Europe/Paris-ish'"),
        ("61 * * * *", {}, "not a valid 5-field cron"),
        ("0 9 * *", {}, "not a valid 5-field cron"),
        ("*/90 * * * *", {}, "a step larger than its field's range"),
        ("FREQ=DAILY", {}, "the RRULE has no DTSTART"),
        (
            "DTSTART;TZID=Europe/Berlin:20250301T090000\nRRULE:FREQ=DAILY;COUNT=3;UNTIL=20250401T000000Z",
            {},
            "COUNT and UNTIL must not both be given",
        ),
        (
            "DTSTART;TZID=Europe/Berlin:20250301T090000\nRRULE:FREQ=DAILY;UNTIL=20250401T000000",
            {},
            "UNTIL values must be specified in UTC",
        ),
        (
            "DTSTART;TZID=Europe/Berlin:20250301T090000\nRRULE:FREQ=DAILY\nEXDATE:20250302T090000",
            {},
            "no RDATE, EXDATE",
        ),
        (
            "DTSTART;TZID=UTC:20250301T090000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
            {},
            "has no occurrences",
        ),
        ("", {}, "empty"),
    ],
)
def test_invalid_rules_say_why(text: str, kwargs: dict, reason: str) -> None:
    with pytest.raises(RecurrenceError, match=None) as raised:
        parse_recurrence(text, **kwargs)
    assert reason in str(raised.value)


def test_spec_validation_carries_the_parsers_reason() -> None:
    with pytest.raises(ValidationError) as raised:
        RecurrenceSpec(rule="DTSTART;TZID=Europe/Berlin:20250301T090000\nRRULE:FREQ=FORTNIGHTLY")
    assert "invalid recurrence rule: invalid RRULE: invalid 'FREQ': FORTNIGHTLY" in str(
        raised.value
    )
    with pytest.raises(ValidationError, match="max_catch_up"):
        RecurrenceSpec(rule="0 9 * * *", max_catch_up=0)


def test_spec_resolves_from_component_yaml() -> None:
    spec = RecurrenceSpec.resolve_from_yaml(
        "rule: P1D\nstart: 2025-03-01T09:00:00\ntimezone: Europe/Berlin\ncatch_up: all\n"
    )
    assert spec.start == "2025-03-01T09:00:00"
    assert spec.catch_up == "all"
    assert spec.recurrence.plan.kind == "cron"
    assert spec.recurrence.first == datetime(2025, 3, 1, 9, tzinfo=BERLIN)
    assert RecurrenceSpec(rule="P1D", start=datetime(2025, 3, 1)).start == "2025-03-01T00:00:00"
