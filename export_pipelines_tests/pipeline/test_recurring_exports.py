"""The catalog's recurrences, evaluated by Dagster, drive real request runs against the sandbox."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.test_utils import freeze_time

from export_pipelines.ledger import JobState
from export_pipelines.pipeline import keys
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import day, failure_messages

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def _evaluate(project: Project, name: str, at: datetime) -> list[dg.RunRequest]:
    """The schedule's tick at ``at``, evaluated a few seconds later as the daemon would."""
    definitions = project.definitions()
    schedule = definitions.resolve_schedule_def(name)
    with (
        freeze_time(at + timedelta(seconds=5)),
        dg.build_schedule_context(
            instance=project.instance(),
            scheduled_execution_time=at,
            repository_def=definitions.get_repository_def(),
        ) as context,
    ):
        result = schedule.evaluate_tick(context)
    return list(result.run_requests or [])


def _launch(project: Project, export: str, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Run what the schedule asked for: the export's request asset, with its partition and tags."""
    job = project.definitions().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=project.instance(),
        asset_selection=[keys.request_key("enterpret", export)],
        partition_key=request.partition_key,
        tags=request.tags,
        raise_on_error=False,
    )


def test_the_daily_recurrence_submits_the_day_that_just_ended(project: Project) -> None:
    schedule = project.definitions().resolve_schedule_def("enterpret__feedback_daily_recurrence")
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.execution_timezone == "Europe/Berlin"
    assert "RRULE:FREQ=DAILY" in (schedule.description or "")
    assert schedule.default_status is dg.DefaultScheduleStatus.STOPPED

    [request] = _evaluate(
        project, "enterpret__feedback_daily_recurrence", datetime(2024, 3, 31, 6, tzinfo=BERLIN)
    )
    assert request.partition_key == "2024-03-30"  # spring-forward morning: the UTC day before
    result = _launch(project, "feedback_daily", request)
    assert result.success, failure_messages(result)
    [job] = project.ledger().jobs(export="feedback_daily")
    assert job.partition_key == "2024-03-30" and job.state is JobState.RUNNING


def test_the_fortnightly_recurrence_exports_the_window_since_the_previous_occurrence(
    project: Project,
) -> None:
    name = "enterpret__low_ratings_recent_recurrence"
    assert _evaluate(project, name, datetime(2024, 1, 8, 9, tzinfo=NEW_YORK)) == []  # off week
    [request] = _evaluate(project, name, datetime(2024, 1, 15, 9, tzinfo=NEW_YORK))
    start = datetime.fromisoformat(request.tags[keys.WINDOW_START_TAG])
    end = datetime.fromisoformat(request.tags[keys.WINDOW_END_TAG])
    assert (start, end) == (
        datetime(2024, 1, 1, 9, tzinfo=NEW_YORK),
        datetime(2024, 1, 15, 9, tzinfo=NEW_YORK),
    )

    result = _launch(project, "low_ratings_recent", request)
    assert result.success, failure_messages(result)
    [job] = project.ledger().jobs(export="low_ratings_recent")
    assert (job.window_start, job.window_end) == (start, end)
    assert job.partition_key == "20240101T140000Z_20240115T140000Z"
    exported = project.sandbox.enterpret.summary(job.vendor_job_id)
    assert (exported["window_start"], exported["window_end"]) == (
        int(start.timestamp()),
        int(end.timestamp()),
    )
    # The same occurrence evaluated again adopts the job instead of submitting a second one.
    again = _launch(project, "low_ratings_recent", request)
    assert again.success and len(project.ledger().jobs(export="low_ratings_recent")) == 1


def test_the_weekly_iso_interval_submits_the_week_that_just_ended(project: Project) -> None:
    [request] = _evaluate(
        project, "enterpret__store_reviews_weekly_recurrence", day("2024-03-11").replace(hour=2)
    )
    assert request.partition_key == "2024-03-03"
