"""The status sensor's tick: a time budget, a fair backlog, deadlines, one run per finished job."""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from export_pipelines.ledger import JobState, Ledger, LedgerResource
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.sensor import build_status_sensor, quota_resets_at
from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.enterpret.resource import EnterpretResource
from export_pipelines_tests.pipeline.conftest import Project


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Jobs here finish only when a test completes them."""
    config = SandboxConfig(port=0, enterpret=EnterpretSandboxConfig(completion_delay_seconds=600))
    with SandboxServer(config) as server:
        yield server


WINDOW = (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC))


def _submit(project: Project, ledger: Ledger, partition: str) -> int:
    body = {
        "listRecords": {"timerange": {"startTime": 1709251200, "endTime": 1709337600}},
        "pageSize": 50,
    }
    job, _ = ledger.claim(
        vendor="enterpret",
        export="feedback_daily",
        partition_key=partition,
        partitioned=True,
        window=WINDOW,
        fingerprint=partition.ljust(64, "0"),
        body=body,
        window_fixed=True,
        run_id=None,
    )
    query_id = project.sandbox.enterpret.submit(body).query_id
    ledger.mark_submitted(job.id, query_id)
    return job.id


def _tick(
    project: Project,
    sensor: dg.SensorDefinition,
    cursor: str | None = None,
    **resource_overrides: object,
):
    resource = EnterpretResource(
        base_url=project.sandbox.base_url("enterpret"),
        api_key=project.sandbox.api_key("enterpret"),
        max_attempts=1,
        **resource_overrides,  # type: ignore[arg-type]
    )
    with dg.build_sensor_context(
        instance=project.instance(),
        resources={"enterpret": resource, "ledger": LedgerResource()},
        definitions=project.definitions(),
        cursor=cursor,
    ) as context:
        return sensor.evaluate_tick(context)


def test_finished_jobs_get_one_run_request_each_and_running_ones_wait(project: Project) -> None:
    ledger = project.ledger()
    done = _submit(project, ledger, "2024-03-01")
    waiting = _submit(project, ledger, "2024-03-02")
    project.sandbox.enterpret.complete(ledger.get(done).vendor_job_id)
    sensor = build_status_sensor("enterpret")

    result = _tick(project, sensor)
    [request] = result.run_requests
    assert request.run_key == keys.ingest_run_key("enterpret", done)
    assert request.partition_key == "2024-03-01"
    assert set(request.asset_selection or []) == {
        keys.raw_key("enterpret", "feedback_daily"),
        keys.table_key("enterpret", "feedback_daily"),
    }
    assert ledger.get(done).state is JobState.COMPLETED
    assert ledger.get(waiting).state is JobState.RUNNING
    jobs_before = len(project.sandbox.enterpret.jobs())
    # The daemon creates the requested run before the sensor's next tick (a request whose run
    # never appeared is asked for again: test_killed_processes.py).
    create_run_for_test(project.instance(), job_name="__ASSET_JOB", tags=request.tags)

    again = _tick(project, sensor)
    assert again.run_requests == [] and again.skip_message
    assert len(project.sandbox.enterpret.jobs()) == jobs_before  # a sensor never submits


def test_the_budget_bounds_a_tick_and_the_backlog_rotates(project: Project) -> None:
    ledger = project.ledger()
    job_ids = [_submit(project, ledger, f"2024-04-0{i}") for i in range(1, 5)]
    project.sandbox.add_fault("enterpret", "fetch", delay_seconds=0.6, times=100)
    sensor = build_status_sensor("enterpret", time_budget_seconds=1.0, poll_concurrency=1)

    _tick(project, sensor)
    # One poll at a time, each fetch takes 0.6 s and the budget is 1 s: the tick stops after one or
    # two jobs (asserted
    # by outcome, how many were polled, not by the wall clock of a shared machine).
    polled_first = {j for j in job_ids if ledger.get(j).polls}
    assert 0 < len(polled_first) < len(job_ids)

    _tick(project, sensor)
    polled_second = {j for j in job_ids if ledger.get(j).polls}
    assert polled_second > polled_first


def test_a_job_past_its_deadline_is_marked_timed_out(project: Project) -> None:
    ledger = project.ledger()
    job_id = _submit(project, ledger, "2024-05-01")
    time.sleep(1.1)
    result = _tick(project, build_status_sensor("enterpret"), job_deadline_seconds=1.0)
    assert result.run_requests == []
    job = ledger.get(job_id)
    assert job.state is JobState.TIMED_OUT and "deadline" in (job.error or "")


def test_a_vendor_failure_is_recorded_not_launched(project: Project) -> None:
    ledger = project.ledger()
    job_id = _submit(project, ledger, "2024-06-01")
    project.sandbox.enterpret.fail(ledger.get(job_id).vendor_job_id, "quota exceeded")
    result = _tick(project, build_status_sensor("enterpret"))
    assert result.run_requests == []
    job = ledger.get(job_id)
    assert job.state is JobState.FAILED and "quota exceeded" in (job.error or "")


def test_a_quota_spent_for_hours_defers_the_vendors_polls_to_the_reset(project: Project) -> None:
    """Issue 14: a 429 whose reset is hours away is not a failure and is not asked again early."""
    ledger = project.ledger()
    jobs = [_submit(project, ledger, day) for day in ("2024-03-01", "2024-03-02", "2024-03-03")]
    for job in jobs:
        project.sandbox.enterpret.complete(ledger.get(job).vendor_job_id)
    spent = project.sandbox.add_fault("enterpret", "fetch", status=429, retry_after=3 * 3600)
    sensor = build_status_sensor("enterpret", poll_concurrency=1)

    refused = _tick(project, sensor)
    resets_at = quota_resets_at(refused.cursor)
    assert resets_at is not None
    hours = (resets_at - datetime.now(UTC)).total_seconds() / 3600
    assert 2.9 < hours <= 3.0
    assert not refused.run_requests
    assert spent.fired == 1  # one refused poll, then no more asking in that tick
    assert {ledger.get(j).state for j in jobs} == {JobState.RUNNING}  # in flight, not failed

    # Before the reset: the vendor is not asked at all.
    project.sandbox.clear_faults()
    held = project.sandbox.add_fault("enterpret", "fetch", delay_seconds=0, times=100)
    deferred = _tick(project, sensor, cursor=refused.cursor)
    assert "quota is spent until" in (deferred.skip_message or "")
    assert held.fired == 0
    assert {ledger.get(j).state for j in jobs} == {JobState.RUNNING}

    # Once the reset has passed (a cursor from three hours ago), the jobs are polled and land.
    past = json.dumps({"quota_resets_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()})
    resumed = _tick(project, sensor, cursor=past)
    assert {r.run_key for r in resumed.run_requests} == {
        keys.ingest_run_key("enterpret", j) for j in jobs
    }
    assert held.fired == 3
