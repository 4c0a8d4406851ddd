"""Runs over ranges of partitions: a backfill's request runs, and the raw+table runs the status
sensor launches for adjacent partitions that finish together (``partitions_per_run``).

A run costs a process loading the code location, so a year of daily partitions must not be 730
runs. Here the request asset is run over a range as the backfill daemon runs it (the range tags
its ``BackfillPolicy`` sets), the sensor's tick is evaluated against the sandbox, and the run it
asks for is executed in process: every partition is asked for once, lands in its own Parquet with
its own metadata, and one partition that fails does not take the others down with it.
"""

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import dagster as dg
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from export_pipelines.ledger import JobRecord, JobState, LedgerResource
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.sensor import build_status_sensor
from export_pipelines.pipeline.spec import DEFAULT_PARTITIONS_PER_RUN
from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.enterpret.resource import EnterpretResource
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import (
    day,
    expected_ids,
    failure_messages,
    parquet_ids,
)

VENDOR, EXPORT = "enterpret", "feedback_daily"
REQUEST = keys.request_key(VENDOR, EXPORT)
RAW = keys.raw_key(VENDOR, EXPORT)
TABLE = keys.table_key(VENDOR, EXPORT)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Jobs finish only when a test completes them; a few records a day."""
    config = SandboxConfig(
        port=0,
        enterpret=EnterpretSandboxConfig(completion_delay_seconds=600, record_count=10_000),
    )
    with SandboxServer(config) as server:
        yield server


def _days(first: str, count: int) -> list[str]:
    start = date.fromisoformat(first)
    return [(start + timedelta(days=n)).isoformat() for n in range(count)]


def _range_tags(days: list[str]) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: days[0], ASSET_PARTITION_RANGE_END_TAG: days[-1]}


def _run(
    project: Project, selection: list[dg.AssetKey], tags: dict[str, str]
) -> dg.ExecuteInProcessResult:
    job = project.definitions().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=project.instance(), asset_selection=selection, tags=tags, raise_on_error=False
    )


def _metadata(project: Project, key: dg.AssetKey, partition: str) -> dict[str, Any]:
    records = project.instance().fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    )
    [record] = records.records
    materialization = record.asset_materialization
    assert materialization is not None
    return {name: value.value for name, value in materialization.metadata.items()}


def _tick(project: Project) -> list[dg.RunRequest]:
    resource = EnterpretResource(
        base_url=project.sandbox.base_url(VENDOR),
        api_key=project.sandbox.api_key(VENDOR),
        max_attempts=1,
    )
    with dg.build_sensor_context(
        instance=project.instance(),
        resources={VENDOR: resource, "ledger": LedgerResource()},
        definitions=project.definitions(),
    ) as context:
        result = build_status_sensor(VENDOR).evaluate_tick(context)
    return list(result.run_requests or [])


def _jobs_by_day(project: Project) -> dict[str, JobRecord]:
    return {job.partition_key: job for job in project.ledger().jobs(VENDOR, EXPORT)}


def _request_range(project: Project, days: list[str]) -> dict[str, JobRecord]:
    result = _run(project, [REQUEST], _range_tags(days))
    assert result.success, failure_messages(result)
    return _jobs_by_day(project)


def test_a_range_run_asks_for_each_partition_once_and_records_each(project: Project) -> None:
    days = _days("2024-05-01", 5)
    jobs = _request_range(project, days)

    assert sorted(jobs) == days
    assert len(project.sandbox.enterpret.jobs()) == len(days)
    for key in days:
        job = jobs[key]
        assert job.window_start == day(key) and job.window_end == day(key) + timedelta(days=1)
        seen = _metadata(project, REQUEST, key)
        assert seen["ledger_job_id"] == job.id and seen["action"] == "submitted"
        assert seen["window_start"] == day(key).isoformat()

    # The same range again (a retried backfill) adopts every job: nothing more at the vendor.
    _request_range(project, days)
    assert len(project.sandbox.enterpret.jobs()) == len(days)
    assert all(_metadata(project, REQUEST, key)["action"] == "adopted" for key in days)


def test_adjacent_partitions_that_finish_together_are_ingested_in_range_runs(
    project: Project,
) -> None:
    # 40 days, one of which (the fifth) is still running when the sensor looks: a stretch of 4,
    # then one of 35, which the cap of partitions per run cuts into 31 and 4.
    days = _days("2024-06-01", 40)
    jobs = _request_range(project, days)
    late = days[4]
    for key in days:
        if key != late:
            project.sandbox.enterpret.complete(jobs[key].vendor_job_id)

    requests = _tick(project)
    stretches = [keys.ingested_jobs(request.tags) for request in requests]
    by_id = {job.id: key for key, job in jobs.items()}
    assert [[by_id[i] for i in ids] for ids in stretches] == [
        days[:4],
        days[5 : 5 + DEFAULT_PARTITIONS_PER_RUN],
        days[5 + DEFAULT_PARTITIONS_PER_RUN :],
    ]
    for request, ids in zip(requests, stretches, strict=True):
        assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == by_id[ids[0]]
        assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == by_id[ids[-1]]
        assert request.partition_key is None
        assert set(request.asset_selection or []) == {RAW, TABLE}
    # Asked for once: the next tick asks for nothing more while the runs exist.
    for request in requests:
        result = _run(project, list(request.asset_selection or []), dict(request.tags))
        assert result.success, failure_messages(result)
    assert _tick(project) == []

    landed = _jobs_by_day(project)
    for key in days:
        if key == late:
            assert landed[key].state is JobState.RUNNING
            continue
        job = landed[key]
        assert job.state is JobState.INGESTED
        path = project.data / "lake" / VENDOR / EXPORT / key / "data.parquet"
        start = day(key)
        want = expected_ids(project.sandbox, start, start + timedelta(days=1))
        assert parquet_ids(path) == want and job.rows == len(want)
        seen = _metadata(project, TABLE, key)  # each partition's own figures
        assert seen["ledger_job_id"] == job.id and seen["dagster/row_count"] == len(want)
        assert _metadata(project, RAW, key)["ledger_job_id"] == job.id

    # The late one, finishing alone, gets a run of its own partition.
    project.sandbox.enterpret.complete(landed[late].vendor_job_id)
    [alone] = _tick(project)
    assert alone.partition_key == late
    assert keys.ingested_jobs(alone.tags) == [landed[late].id]


def test_a_partition_failing_in_a_range_run_leaves_the_others_landed(project: Project) -> None:
    days = _days("2024-08-01", 4)
    jobs = _request_range(project, days)
    for key in days:
        project.sandbox.enterpret.complete(jobs[key].vendor_job_id)
    [request] = _tick(project)
    tags = dict(request.tags)
    downloaded = _run(project, [RAW], tags)
    assert downloaded.success, failure_messages(downloaded)
    # One partition's raw file goes bad on disk (same size, so it is not downloaded again).
    broken = days[2]
    folder = project.data / "raw" / VENDOR / EXPORT / broken / f"job-{jobs[broken].id:06d}"
    [raw_file] = [path for path in folder.iterdir() if path.is_file()]
    raw_file.write_bytes(b"x" * raw_file.stat().st_size)

    result = _run(project, [RAW, TABLE], tags)

    assert not result.success
    message = failure_messages(result)
    assert f"ledger job {jobs[broken].id}" in message and "1 of the run's 4 partitions" in message
    landed = _jobs_by_day(project)
    for key in days:
        table = project.data / "lake" / VENDOR / EXPORT / key / "data.parquet"
        if key == broken:
            assert landed[key].state is JobState.DOWNLOADED and not table.exists()
            continue
        assert landed[key].state is JobState.INGESTED and table.exists()
        assert _metadata(project, TABLE, key)["ledger_job_id"] == landed[key].id

    # The sensor asks again for the one that failed, alone, as its second attempt.
    [again] = _tick(project)
    assert again.partition_key == broken
    assert keys.ingested_jobs(again.tags) == [jobs[broken].id]
    assert again.tags[keys.INGEST_ATTEMPT_TAG] == "2"
