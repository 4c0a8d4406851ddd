"""Firing a recurrence through Dagster's own evaluation, and the reference it is compared with.

The reference is python-dateutil's expansion of the RRULE read as RFC 5545 instants (PEP 495
``fold=0``), repeats of one instant counted once. Schedules are evaluated at every tick Dagster's
scheduler iterates for their cron and zone (``schedule_execution_time_iterator``, what the daemon
uses), with the clock frozen just after the tick; sensors tick by tick with the cursor each tick
returns, as the daemon persists it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.test_utils import create_run_for_test, freeze_time
from dagster._utils.schedules import schedule_execution_time_iterator
from dateutil.rrule import rrulestr

from export_pipelines.recurrence import (
    OCCURRENCE_TAG,
    RecurrenceSpec,
    build_recurrence_definitions,
)

#: How long after its tick the daemon gets round to evaluating a schedule.
EVALUATION_DELAY = timedelta(seconds=7)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def reference_occurrences(
    text: str, *, through: datetime, after: datetime | None = None, limit: int | None = None
) -> list[datetime]:
    """dateutil's expansion of ``text`` as instants, ``after < o <= through``, the first
    ``limit`` of them if given."""
    rule = rrulestr(text, tzids=ZoneInfo)
    found: set[datetime] = set()
    for wall in rule:
        instant = wall.astimezone(UTC)
        # Instants run out of order only within a DST gap, so two days on nothing is missed.
        if instant > through + timedelta(days=2):
            break
        if instant <= through and (after is None or instant > after):
            found.add(instant)
            if limit is not None and len(found) >= limit:
                through = min(through, max(found))
    return sorted(found)[:limit]


def occurrence_of(request: dg.RunRequest) -> datetime:
    return datetime.fromisoformat(request.tags[OCCURRENCE_TAG]).astimezone(UTC)


@dataclass
class Fired:
    """What an evaluation run launched: each request with the instant it was launched at."""

    requests: list[dg.RunRequest] = field(default_factory=list)
    launched_at: list[datetime] = field(default_factory=list)
    evaluations: int = 0
    skip_messages: list[str] = field(default_factory=list)

    @property
    def occurrences(self) -> list[datetime]:
        return [occurrence_of(r) for r in self.requests]


#: How long before a tick the daemon's previous iteration ran (it loops about every 30 s).
DAEMON_LOOP = timedelta(seconds=30)


def schedule_ticks(
    schedule: dg.ScheduleDefinition, *, after: datetime, through: datetime
) -> Iterator[datetime]:
    """The ticks Dagster's scheduler fires for ``schedule``, ``after < tick <= through``.

    Iterated as the daemon does: afresh on each loop from its last iteration (here
    `DAEMON_LOOP` before the coming tick) or just after the last tick, whichever is later, with
    Dagster's own ``schedule_execution_time_iterator``.
    """

    def first_from(timestamp: float) -> datetime:
        iterator = schedule_execution_time_iterator(
            timestamp, schedule.cron_schedule, schedule.execution_timezone
        )
        return next(iterator)

    last = after.timestamp()
    while True:
        coming = first_from(last + 1)
        tick = first_from(max(last + 1, coming.timestamp() - DAEMON_LOOP.total_seconds()))
        if tick.astimezone(UTC) > through:
            return
        if tick.astimezone(UTC) > after:
            yield tick
        last = tick.timestamp()


def evaluate_schedule(
    schedule: dg.ScheduleDefinition,
    ticks: Iterable[datetime],
    *,
    instance: dg.DagsterInstance | None = None,
    repository_def: dg.RepositoryDefinition | None = None,
    now: datetime | None = None,
    launch: bool = False,
    fired: Fired | None = None,
) -> Fired:
    """Evaluate ``schedule`` at each tick (clock at ``now`` or just after the tick).

    ``launch`` records each request as a run in ``instance``, as the daemon would.
    """
    fired = fired or Fired()
    for tick in ticks:
        with freeze_time(now or tick + EVALUATION_DELAY):
            context = dg.build_schedule_context(
                instance=instance, scheduled_execution_time=tick, repository_def=repository_def
            )
            data = schedule.evaluate_tick(context)
        fired.evaluations += 1
        if data.skip_message:
            fired.skip_messages.append(data.skip_message)
        for request in data.run_requests or []:
            fired.requests.append(request)
            fired.launched_at.append(tick.astimezone(UTC))
            if launch:
                assert instance is not None
                create_run_for_test(instance, job_name="recurrence_test", tags=request.tags)
    return fired


@dataclass
class SensorRun:
    """A sensor evaluated tick by tick, its cursor carried from one tick to the next."""

    sensor: dg.SensorDefinition
    instance: dg.DagsterInstance | None
    repository_def: dg.RepositoryDefinition | None = None
    cursor: str | None = None
    fired: Fired = field(default_factory=Fired)
    #: When a user turned the sensor on (Dagster passes it to every tick).
    started_at: datetime | None = None

    def tick(self, at: datetime) -> list[dg.RunRequest]:
        with freeze_time(at):
            context = dg.build_sensor_context(
                instance=self.instance,
                cursor=self.cursor,
                repository_def=self.repository_def,
                last_sensor_start_time=self.started_at.timestamp() if self.started_at else None,
            )
            data = self.sensor.evaluate_tick(context)
        self.cursor = data.cursor
        self.fired.evaluations += 1
        if data.skip_message:
            self.fired.skip_messages.append(data.skip_message)
        requests = list(data.run_requests or [])
        self.fired.requests.extend(requests)
        self.fired.launched_at.extend(at for _ in requests)
        return requests


def sensor_tick_times(
    occurrences: list[datetime], interval_seconds: int, *, start: datetime
) -> list[datetime]:
    """A daemon's ticks, less the ones with nothing due: one tick within the interval after
    each occurrence (the daemon ticks every interval) and one between each pair."""
    times = {start}
    for index, occurrence in enumerate(occurrences):
        times.add(occurrence + timedelta(seconds=(index * 7919) % max(1, interval_seconds)))
        if index + 1 < len(occurrences):
            times.add(occurrence + (occurrences[index + 1] - occurrence) / 2)
    return sorted(times)


@dataclass
class Export:
    """A toy export: its request asset, the recurrence's definitions and a repository."""

    definition: dg.ScheduleDefinition | dg.SensorDefinition
    repository_def: dg.RepositoryDefinition
    asset_key: dg.AssetKey

    @property
    def schedule(self) -> dg.ScheduleDefinition:
        assert isinstance(self.definition, dg.ScheduleDefinition)
        return self.definition

    @property
    def sensor(self) -> dg.SensorDefinition:
        assert isinstance(self.definition, dg.SensorDefinition)
        return self.definition


def build_export(
    spec: RecurrenceSpec,
    *,
    name: str = "orders",
    partitions_def: dg.PartitionsDefinition | None = None,
) -> Export:
    @dg.asset(name=f"{name}_request", partitions_def=partitions_def)
    def request_asset() -> None:
        return None

    [definition] = build_recurrence_definitions(
        name=name, spec=spec, target=[request_asset.key], partitions_def=partitions_def
    )
    schedules = [definition] if isinstance(definition, dg.ScheduleDefinition) else []
    sensors = [definition] if isinstance(definition, dg.SensorDefinition) else []
    defs = dg.Definitions(assets=[request_asset], schedules=schedules, sensors=sensors)
    return Export(definition, defs.get_repository_def(), request_asset.key)


def fire_through_dagster(
    spec: RecurrenceSpec,
    *,
    after: datetime,
    through: datetime,
    instance: dg.DagsterInstance | None = None,
    expected: list[datetime] | None = None,
) -> Fired:
    """Every request the recurrence's schedule or sensor launches in (after, through].

    A sensor is ticked after each expected occurrence (``expected``, the reference), as a daemon
    ticking every ``minimum_interval_seconds`` would, and in between.
    """
    export = build_export(spec)
    if isinstance(export.definition, dg.ScheduleDefinition):
        ticks = schedule_ticks(export.schedule, after=after, through=through)
        return evaluate_schedule(
            export.schedule, ticks, instance=instance, repository_def=export.repository_def
        )
    assert expected is not None, "a sensor needs the times to tick at"
    interval = export.sensor.minimum_interval_seconds or 30
    run = SensorRun(export.sensor, instance, export.repository_def)
    for at in sensor_tick_times(expected, interval, start=after):
        if at < through:
            run.tick(at)
    run.tick(through)
    return run.fired


@contextmanager
def fresh_instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance
