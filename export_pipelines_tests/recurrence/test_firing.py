"""What each occurrence submits and which occurrences fire after downtime or a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from export_pipelines.recurrence import (
    OCCURRENCE_TAG,
    RECURRENCE_TAG,
    WINDOW_END_TAG,
    WINDOW_START_TAG,
    RecurrenceError,
    RecurrenceSpec,
    build_recurrence_definitions,
)
from export_pipelines_tests.recurrence.harness import (
    SensorRun,
    build_export,
    evaluate_schedule,
    fresh_instance,
    schedule_ticks,
    utc,
)

DAILY_9 = "DTSTART;TZID=Europe/Berlin:20250301T090000\nRRULE:FREQ=DAILY"
#: Seconds make this a sensor plan: cron cannot fire at second 30.
DAILY_9_SENSOR = "DTSTART;TZID=Europe/Berlin:20250301T090030\nRRULE:FREQ=DAILY"
BERLIN_DAILY = dg.DailyPartitionsDefinition(start_date="2025-03-01", timezone="Europe/Berlin")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _occurrences(requests: list[dg.RunRequest]) -> list[str]:
    return [r.tags[OCCURRENCE_TAG] for r in requests]


def test_count_and_until_stop_the_ticks() -> None:
    for ending in ("COUNT=3", "UNTIL=20250303T080000Z"):
        export = build_export(RecurrenceSpec(rule=f"{DAILY_9};{ending}"))
        ticks = schedule_ticks(export.schedule, after=utc(2025, 2, 27), through=utc(2025, 3, 12))
        fired = evaluate_schedule(export.schedule, ticks, repository_def=export.repository_def)
        assert _occurrences(fired.requests) == [
            "2025-03-01T08:00:00Z",
            "2025-03-02T08:00:00Z",
            "2025-03-03T08:00:00Z",
        ]
        assert fired.evaluations == 13  # 27 February to 11 March
        assert all("not an occurrence" in m for m in fired.skip_messages)
    export = build_export(RecurrenceSpec(rule=f"{DAILY_9_SENSOR};COUNT=2"))
    run = SensorRun(export.sensor, None)
    for day in range(27, 38):
        run.tick(datetime(2025, 2, 1, 9, tzinfo=UTC) + timedelta(days=day))
    assert _occurrences(run.fired.requests) == ["2025-03-01T08:00:30Z", "2025-03-02T08:00:30Z"]
    assert run.fired.skip_messages[-1] == "the rule has ended"


def test_unpartitioned_requests_carry_the_window_they_close() -> None:
    export = build_export(RecurrenceSpec(rule=DAILY_9))
    ticks = schedule_ticks(export.schedule, after=utc(2025, 3, 1), through=utc(2025, 3, 31, 12))
    fired = evaluate_schedule(export.schedule, ticks, repository_def=export.repository_def)
    spring_forward = fired.requests[29]
    assert spring_forward.tags[WINDOW_START_TAG] == "2025-03-29T08:00:00Z"
    assert spring_forward.tags[WINDOW_END_TAG] == "2025-03-30T07:00:00Z"  # 09:00 summer time
    assert spring_forward.tags[RECURRENCE_TAG] == "orders"
    assert spring_forward.run_key == "orders@2025-03-30T07:00:00Z"
    first = fired.requests[0]
    assert first.tags[WINDOW_END_TAG] == "2025-03-01T08:00:00Z"
    assert first.tags[WINDOW_START_TAG] == "2025-02-28T08:00:00Z", "one gap back from the first"
    assert len({r.run_key for r in fired.requests}) == len(fired.requests)


def test_a_lone_occurrence_has_no_window_start() -> None:
    export = build_export(RecurrenceSpec(rule=f"{DAILY_9};COUNT=1"))
    ticks = schedule_ticks(export.schedule, after=utc(2025, 3, 1), through=utc(2025, 3, 2))
    [request] = evaluate_schedule(export.schedule, ticks).requests
    assert WINDOW_START_TAG not in request.tags
    assert request.tags[WINDOW_END_TAG] == "2025-03-01T08:00:00Z"


@pytest.mark.parametrize(
    ("rule", "partitions_def", "expected"),
    [
        # 09:00 closes nothing new since midnight: the partition that ended is yesterday's
        (DAILY_9, BERLIN_DAILY, ["2025-03-01", "2025-03-02", "2025-03-03"]),
        # at midnight the day that just ended
        (
            "DTSTART;TZID=Europe/Berlin:20250303T000000\nRRULE:FREQ=DAILY",
            BERLIN_DAILY,
            ["2025-03-02", "2025-03-03", "2025-03-04"],
        ),
        # hourly partitions in UTC, occurrences at :30 past the hour in Berlin
        (
            "DTSTART;TZID=Europe/Berlin:20250302T093000\nRRULE:FREQ=HOURLY;COUNT=3",
            dg.HourlyPartitionsDefinition(start_date="2025-03-01-00:00"),
            ["2025-03-02-07:00", "2025-03-02-08:00", "2025-03-02-09:00"],
        ),
    ],
)
def test_partitioned_requests_ask_for_the_partition_that_just_ended(
    rule: str, partitions_def: dg.TimeWindowPartitionsDefinition, expected: list[str]
) -> None:
    export = build_export(RecurrenceSpec(rule=rule), partitions_def=partitions_def)
    ticks = list(
        schedule_ticks(export.schedule, after=utc(2025, 3, 1, 12), through=utc(2025, 3, 9))
    )
    fired = evaluate_schedule(export.schedule, ticks, repository_def=export.repository_def)
    assert [r.partition_key for r in fired.requests][:3] == expected
    assert all(WINDOW_START_TAG not in r.tags for r in fired.requests)


def test_an_occurrence_before_the_first_partition_ends_is_skipped() -> None:
    export = build_export(RecurrenceSpec(rule=DAILY_9), partitions_def=BERLIN_DAILY)
    ticks = schedule_ticks(export.schedule, after=utc(2025, 2, 28, 12), through=utc(2025, 3, 2, 12))
    fired = evaluate_schedule(export.schedule, ticks, repository_def=export.repository_def)
    assert [r.partition_key for r in fired.requests] == ["2025-03-01"]
    assert any("closes no partition" in m for m in fired.skip_messages)


def _missed_ticks(schedule: dg.ScheduleDefinition, after: datetime, through: datetime) -> list:
    return list(schedule_ticks(schedule, after=after, through=through))


def test_schedule_latest_fires_only_the_latest_missed_occurrence() -> None:
    """The daemon replays up to five missed ticks of a partitioned schedule; `latest` keeps one."""
    export = build_export(RecurrenceSpec(rule=DAILY_9), partitions_def=BERLIN_DAILY)
    missed = _missed_ticks(export.schedule, utc(2025, 3, 2, 12), utc(2025, 3, 9, 12))[-5:]
    fired = evaluate_schedule(
        export.schedule, missed, repository_def=export.repository_def, now=utc(2025, 3, 9, 12)
    )
    assert _occurrences(fired.requests) == ["2025-03-09T08:00:00Z"]
    assert sum("superseded" in m for m in fired.skip_messages) == 4


def test_schedule_all_fires_missed_occurrences_up_to_the_bound() -> None:
    spec = RecurrenceSpec(rule=DAILY_9, catch_up="all", max_catch_up=3)
    export = build_export(spec)
    with fresh_instance() as instance:
        before = _missed_ticks(export.schedule, utc(2025, 3, 1), utc(2025, 3, 2, 12))
        evaluate_schedule(export.schedule, before, instance=instance, launch=True)
        # daemon down from 3 to 9 March; it evaluates only the latest tick of an unpartitioned job
        latest = _missed_ticks(export.schedule, utc(2025, 3, 2, 12), utc(2025, 3, 9, 12))[-1:]
        fired = evaluate_schedule(
            export.schedule, latest, instance=instance, now=utc(2025, 3, 9, 12), launch=True
        )
        assert _occurrences(fired.requests) == [
            "2025-03-07T08:00:00Z",
            "2025-03-08T08:00:00Z",
            "2025-03-09T08:00:00Z",
        ]
        # the daemon re-evaluating that tick after a crash launches nothing new
        again = evaluate_schedule(
            export.schedule, latest, instance=instance, now=utc(2025, 3, 9, 12)
        )
        assert again.requests == []
        assert "already fired" in again.skip_messages[0]


def test_partitioned_schedule_all_respects_the_bound_across_replayed_ticks() -> None:
    spec = RecurrenceSpec(rule=DAILY_9, catch_up="all", max_catch_up=3)
    export = build_export(spec, partitions_def=BERLIN_DAILY)
    with fresh_instance() as instance:
        before = _missed_ticks(export.schedule, utc(2025, 3, 1, 12), utc(2025, 3, 2, 12))
        evaluate_schedule(
            export.schedule,
            before,
            instance=instance,
            repository_def=export.repository_def,
            launch=True,
        )
        replayed = _missed_ticks(export.schedule, utc(2025, 3, 2, 12), utc(2025, 3, 9, 12))[-5:]
        fired = evaluate_schedule(
            export.schedule,
            replayed,
            instance=instance,
            repository_def=export.repository_def,
            now=utc(2025, 3, 9, 12),
            launch=True,
        )
        assert [r.partition_key for r in fired.requests] == [
            "2025-03-06",
            "2025-03-07",
            "2025-03-08",
        ]


@pytest.mark.parametrize(
    ("catch_up", "expected"),
    [
        ("latest", ["2025-03-09T08:00:30Z"]),
        ("all", [f"2025-03-0{d}T08:00:30Z" for d in range(6, 10)]),
    ],
)
def test_sensor_catch_up_after_downtime(catch_up: str, expected: list[str]) -> None:
    export = build_export(RecurrenceSpec(rule=DAILY_9_SENSOR, catch_up=catch_up, max_catch_up=4))
    assert export.sensor.minimum_interval_seconds == 30
    run = SensorRun(export.sensor, None)
    run.tick(utc(2025, 3, 1, 12))
    assert run.tick(utc(2025, 3, 2, 8, 0, 45))  # on time
    late = run.tick(utc(2025, 3, 9, 12))  # after a week down
    assert _occurrences(late) == expected


def test_sensor_never_fires_an_occurrence_twice_across_a_restart() -> None:
    export = build_export(RecurrenceSpec(rule=DAILY_9_SENSOR, catch_up="all"))
    run = SensorRun(export.sensor, None)
    run.tick(utc(2025, 3, 1, 12))
    persisted = run.cursor
    first = run.tick(utc(2025, 3, 2, 8, 1))
    assert _occurrences(first) == ["2025-03-02T08:00:30Z"]
    # crash before the cursor was stored: the daemon re-runs the tick from the old cursor and
    # gets the same run key, which Dagster launches once
    replay = SensorRun(export.sensor, None, cursor=persisted)
    assert [r.run_key for r in replay.tick(utc(2025, 3, 2, 8, 1, 30))] == [first[0].run_key]
    # restart with the stored cursor: nothing is due again
    assert run.tick(utc(2025, 3, 2, 8, 2)) == []
    assert _occurrences(run.tick(utc(2025, 3, 3, 8, 1))) == ["2025-03-03T08:00:30Z"]


def test_sensor_first_tick_fires_what_fell_due_since_it_was_turned_on() -> None:
    export = build_export(RecurrenceSpec(rule=DAILY_9_SENSOR, catch_up="all"))
    run = SensorRun(export.sensor, None, started_at=utc(2025, 3, 1, 12))
    assert _occurrences(run.tick(utc(2025, 3, 3, 12))) == [
        "2025-03-02T08:00:30Z",
        "2025-03-03T08:00:30Z",
    ]
    without_start = SensorRun(export.sensor, None)
    assert without_start.tick(utc(2025, 3, 3, 12)) == []


def test_sensor_starts_afresh_on_an_unreadable_cursor() -> None:
    export = build_export(RecurrenceSpec(rule=DAILY_9_SENSOR))
    run = SensorRun(export.sensor, None, cursor="not json")
    assert run.tick(utc(2025, 3, 9, 12)) == []
    assert "unreadable" in run.fired.skip_messages[0]
    assert _occurrences(run.tick(utc(2025, 3, 10, 8, 1))) == ["2025-03-10T08:00:30Z"]


def test_sensor_tags_and_partitions() -> None:
    export = build_export(RecurrenceSpec(rule=DAILY_9_SENSOR), partitions_def=BERLIN_DAILY)
    run = SensorRun(export.sensor, None, export.repository_def)
    run.tick(utc(2025, 3, 4, 12))
    [request] = run.tick(utc(2025, 3, 5, 8, 1))
    assert request.partition_key == "2025-03-04"
    assert request.run_key == "orders@2025-03-05T08:00:30Z"


def test_definitions_are_stopped_unless_enabled_and_describe_the_rule() -> None:
    stopped = build_export(RecurrenceSpec(rule=DAILY_9)).schedule
    assert stopped.default_status == dg.DefaultScheduleStatus.STOPPED
    assert stopped.name == "orders_recurrence"
    assert stopped.execution_timezone == "Europe/Berlin"
    assert stopped.cron_schedule == "0 9 * * *"
    assert "FREQ=DAILY" in (stopped.description or "")
    assert "Next 5 occurrences" in (stopped.description or "")
    running = build_export(RecurrenceSpec(rule=DAILY_9, enabled=True)).schedule
    assert running.default_status == dg.DefaultScheduleStatus.RUNNING
    sensor = build_export(RecurrenceSpec(rule=DAILY_9_SENSOR, enabled=True)).sensor
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    union = build_export(RecurrenceSpec(rule="R/2025-03-01T00:00:00Z/PT90M")).schedule
    assert union.cron_schedule == ["0 */3 * * *", "30 1,4,7,10,13,16,19,22 * * *"]


def test_static_partitions_are_refused() -> None:
    with pytest.raises(RecurrenceError, match="time-partitioned"):
        build_recurrence_definitions(
            name="orders",
            spec=RecurrenceSpec(rule=DAILY_9),
            target=[dg.AssetKey("orders_request")],
            partitions_def=dg.StaticPartitionsDefinition(["a"]),
        )
