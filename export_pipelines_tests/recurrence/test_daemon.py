"""End to end through Dagster's scheduler and sensor daemons, restarted between iterations.

The daemon iterations run in-process with the clock frozen; each iteration opens a new workspace
(a restarted daemon) and some are repeated at the same instant (a daemon that died after
launching and came back). Whatever happens, each occurrence is launched at most once.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import (
    InProcessTestWorkspaceLoadTarget,
    create_test_daemon_workspace_context,
    freeze_time,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._scheduler.scheduler import launch_scheduled_runs

from export_pipelines.recurrence import OCCURRENCE_TAG, RECURRENCE_TAG

TARGET = InProcessTestWorkspaceLoadTarget(
    InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable,
            module_name="export_pipelines_tests.recurrence.daemon_location",
            attribute="defs",
        ),
        location_name="recurrence_test",
    )
)
LOG = logging.getLogger("recurrence_daemon_test")


def _daemon_iteration(instance: dg.DagsterInstance, at: datetime) -> None:
    with freeze_time(at), create_test_daemon_workspace_context(TARGET, instance) as context:
        list(launch_scheduled_runs(context, LOG, end_datetime_utc=at, iteration_times={}))
        list(
            execute_sensor_iteration(
                context, LOG, threadpool_executor=None, submit_threadpool_executor=None
            )
        )


def _launched(instance: dg.DagsterInstance, name: str) -> list[str]:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RECURRENCE_TAG: name}))
    return sorted(run.tags[OCCURRENCE_TAG] for run in runs)


@pytest.mark.slow
def test_daemons_fire_each_occurrence_once_across_restarts_and_downtime() -> None:
    overrides = {
        "run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"}
    }
    with dg.instance_for_test(overrides=overrides) as instance:
        started = datetime(2025, 3, 1, 12, tzinfo=UTC)
        with (
            freeze_time(started),
            create_test_daemon_workspace_context(TARGET, instance) as context,
        ):
            location = context.create_request_context().get_code_location("recurrence_test")
            repository = next(iter(location.get_repositories().values()))
            instance.start_schedule(repository.get_schedule("fridays_recurrence"))
            instance.start_sensor(repository.get_sensor("daily_recurrence"))
        # up daily (each iteration twice: a restart right after launching), then down a week
        days = [started + timedelta(days=d, hours=-2) for d in range(1, 8)]
        for at in [*days, started + timedelta(days=14, hours=-2)]:
            _daemon_iteration(instance, at)
            _daemon_iteration(instance, at + timedelta(seconds=5))
        daily = _launched(instance, "daily")
        assert daily == [f"2025-03-{d:02}T08:00:30Z" for d in (2, 3, 4, 5, 6, 7, 8, 13, 14, 15)], (
            "every day while up, then the 3 most recent after the week down (max_catch_up=3)"
        )
        assert _launched(instance, "fridays") == ["2025-03-07T08:00:00Z"]
        # a month later: the scheduler replays only the latest missed tick of an unpartitioned
        # job; catch_up=all with max_catch_up=2 also launches the one before it
        _daemon_iteration(instance, datetime(2025, 5, 3, tzinfo=UTC))
        assert _launched(instance, "fridays") == [
            "2025-03-07T08:00:00Z",
            "2025-04-04T07:00:00Z",
            "2025-05-02T07:00:00Z",
        ]
        all_runs = instance.get_runs()
        assert not [
            k for k, n in Counter(r.tags[OCCURRENCE_TAG] for r in all_runs).items() if n > 1
        ]
        assert all(started <= datetime.fromisoformat(r.tags[OCCURRENCE_TAG]) for r in all_runs)
