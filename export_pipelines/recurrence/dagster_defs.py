"""The Dagster schedule or sensor that fires a recurring export.

A `CronPlan` is a plain schedule on the cron union; a `FilteredCronPlan` a schedule on the cron
superset whose evaluation skips ticks that are not occurrences; a `SensorPlan` a sensor acting as
the scheduler, whose cursor (persisted by Dagster with each tick) records how far occurrences have
been handled, so a restarted daemon re-evaluating a tick launches nothing twice (the run keys are
the occurrences); its first tick fires what fell due since a user turned it on. All evaluations
re-check that the instant is an occurrence within the rule's span: crons have no start and no
COUNT or UNTIL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import dagster as dg
from dagster._time import get_current_datetime

from export_pipelines.recurrence.errors import RecurrenceError
from export_pipelines.recurrence.firing import (
    OCCURRENCE_TAG,
    RECURRENCE_TAG,
    OccurrenceRequests,
    SensorCursor,
    iso_utc,
    parse_iso_utc,
    schedule_firing,
    sensor_firing,
)
from export_pipelines.recurrence.plan import CronPlan, FilteredCronPlan, SensorPlan
from export_pipelines.recurrence.recurrence import describe_plan
from export_pipelines.recurrence.spec import RecurrenceSpec

#: How many upcoming occurrences a schedule's or sensor's description lists.
OCCURRENCES_DESCRIBED = 5

RecurrenceDefinition = dg.ScheduleDefinition | dg.SensorDefinition


def definition_name(name: str) -> str:
    """``<export>_recurrence``: the schedule's or sensor's name (Dagster names are ``\\w+``)."""
    return re.sub(r"\W", "_", name) + "_recurrence"


def build_recurrence_definitions(
    *,
    name: str,
    spec: RecurrenceSpec,
    target: dg.AssetSelection | Sequence[dg.AssetKey] | Sequence[str],
    partitions_def: dg.PartitionsDefinition | None,
    description_extra: str = "",
) -> list[RecurrenceDefinition]:
    """The schedule or sensor firing export ``name``'s request asset(s) ``target`` per ``spec``.

    Stopped unless ``spec.enabled``: recurring vendor exports cost quota, so a user opts in.
    """
    if partitions_def is not None and not isinstance(
        partitions_def, dg.TimeWindowPartitionsDefinition
    ):
        raise RecurrenceError(
            f"export {name!r}: a recurrence needs an unpartitioned or time-partitioned export,"
            f" not {type(partitions_def).__name__}"
        )
    recurrence = spec.recurrence
    requests = OccurrenceRequests(name, recurrence, partitions_def)
    plan = recurrence.plan
    description = "\n\n".join(
        part for part in (description_extra, recurrence.describe(n=OCCURRENCES_DESCRIBED)) if part
    )
    metadata = {
        "export_pipelines/recurrence_rule": recurrence.text,
        "export_pipelines/recurrence_plan": describe_plan(plan),
    }
    if isinstance(plan, SensorPlan):
        sensor_status = (
            dg.DefaultSensorStatus.RUNNING if spec.enabled else dg.DefaultSensorStatus.STOPPED
        )
        return [
            dg.SensorDefinition(
                name=definition_name(name),
                evaluation_fn=_sensor_evaluation(spec, requests),
                minimum_interval_seconds=plan.minimum_interval_seconds,
                description=description,
                default_status=sensor_status,
                target=target,
                metadata=metadata,
            )
        ]
    cron_schedule: str | list[str]
    if isinstance(plan, CronPlan):
        strings = list(plan.cron_strings)
        cron_schedule = strings[0] if len(strings) == 1 else strings
    else:
        assert isinstance(plan, FilteredCronPlan)
        cron_schedule = plan.cron_string
    status = dg.DefaultScheduleStatus.RUNNING if spec.enabled else dg.DefaultScheduleStatus.STOPPED
    return [
        dg.ScheduleDefinition(
            name=definition_name(name),
            cron_schedule=cron_schedule,
            execution_timezone=plan.timezone,
            execution_fn=_schedule_evaluation(spec, requests),
            description=description,
            default_status=status,
            target=target,
            metadata=metadata,
        )
    ]


def _schedule_evaluation(spec: RecurrenceSpec, requests: OccurrenceRequests):
    def evaluate(
        context: dg.ScheduleEvaluationContext,
    ) -> Iterator[dg.RunRequest | dg.SkipReason]:
        last_fired = None
        if spec.catch_up == "all":
            last_fired = _last_fired(context.instance, requests.name)
        firing = schedule_firing(
            requests.recurrence,
            tick=context.scheduled_execution_time,
            now=get_current_datetime(),
            catch_up=spec.catch_up,
            max_catch_up=spec.max_catch_up,
            last_fired=last_fired,
        )
        if isinstance(firing, str):
            yield dg.SkipReason(firing)
            return
        run_requests = requests.run_requests(firing)
        if not run_requests:
            yield dg.SkipReason(
                f"{iso_utc(firing[-1])} closes no partition yet (before the first partition ends)"
            )
            return
        yield from run_requests

    return evaluate


def _sensor_evaluation(spec: RecurrenceSpec, requests: OccurrenceRequests):
    recurrence = requests.recurrence

    def evaluate(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        now = get_current_datetime()
        cursor = SensorCursor.loads(context.cursor)
        started = context.last_sensor_start_time
        if (
            cursor is None
            and not context.cursor
            and started is not None
            and started <= now.timestamp()
        ):
            # first tick since the sensor was turned on: occurrences since then are due
            cursor = SensorCursor(through=datetime.fromtimestamp(started, UTC))
        if cursor is None:
            upcoming = recurrence.occurrences_after(now, 1)
            following = f"; next occurrence {iso_utc(upcoming[0])}" if upcoming else ""
            unreadable = " (the previous cursor was unreadable)" if context.cursor else ""
            return dg.SensorResult(
                skip_reason=f"started{unreadable}: occurrences after {iso_utc(now)} fire"
                f"{following}",
                cursor=SensorCursor(through=now).dumps(),
            )
        through = max(now, cursor.through)
        due, dropped = sensor_firing(
            recurrence,
            cursor=cursor,
            now=through,
            catch_up=spec.catch_up,
            max_catch_up=spec.max_catch_up,
        )
        if dropped:
            context.log.info(
                f"Occurrences missed before {iso_utc(due[0])} are not fired"
                f" (catch-up: {spec.catch_up}, at most {spec.max_catch_up})"
            )
        new_cursor = SensorCursor(
            through=through, last_fired=due[-1] if due else cursor.last_fired
        ).dumps()
        run_requests = requests.run_requests(due)
        if run_requests:
            return dg.SensorResult(run_requests=run_requests, cursor=new_cursor)
        upcoming = recurrence.occurrences_after(through, 1)
        reason = f"next occurrence {iso_utc(upcoming[0])}" if upcoming else "the rule has ended"
        if due:
            reason = f"{iso_utc(due[-1])} closes no partition yet; {reason}"
        return dg.SensorResult(skip_reason=reason, cursor=new_cursor)

    return evaluate


def _last_fired(instance: dg.DagsterInstance, name: str) -> datetime | None:
    """The latest occurrence a run of this recurrence was launched for (run storage persists it)."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RECURRENCE_TAG: name}), limit=10)
    fired = [parse_iso_utc(run.tags[OCCURRENCE_TAG]) for run in runs if OCCURRENCE_TAG in run.tags]
    return max(fired, default=None)
