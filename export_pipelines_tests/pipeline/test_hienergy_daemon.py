"""HiEnergy end to end through a real ``dagster-daemon``: its status sensor polls the sandbox, records a
chunked report's parts as they finish, and launches the raw+table runs in their own processes.

Requests run in this process against the same instance (as UI launches would); everything after
them is the daemon's own code path. Three phases share one daemon:

A. every export of the catalog once, and one of them submitted a second time while the vendor is
   still building it (the vendor answers 409: two submissions, one report);
B. a chunked day whose first part URL the vendor refuses mid-run (the run reads the report again);
C. a resubmission inside the dedupe window (the vendor reuses its finished report).
"""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest

from export_pipelines.demo import processes
from export_pipelines.ledger import JobRecord, JobState, Ledger, SubmitRecord
from export_pipelines.pipeline import keys
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines_tests.hienergy_truth import expected_rows, row_differences, table_rows
from export_pipelines_tests.pipeline.conftest import PROJECT, Project
from export_pipelines_tests.pipeline.helpers import failure_messages, materialize
from export_pipelines_tests.sandbox_setup import hienergy_config, sandbox_config

VENDOR = "hienergy"
EXPORTS = {
    "clicks_daily": ("clicks_details_excel", "2024-03-11"),
    "advertisers_monthly": ("advertisers_csv", "2024-04-01"),
    "coupon_deals_weekly": ("deals_excel", "2024-03-17"),
    "hot_advertisers": ("hot_advertisers_excel", None),
}
CHUNKED_DAY = "2024-03-12"
#: A guard against a wedged daemon, not an assertion on speed.
GIVE_UP_SECONDS = 240


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """A day of clicks comes in 4 parts of 50 rows, one finishing every 3 s: the sensor (every 5 s)
    sees the parts grow, and a report stays in flight long enough to be submitted twice."""
    config = sandbox_config(
        hienergy=hienergy_config(delay_seconds=1.0, part_delay_seconds=3.0, rows_per_part=50)
    )
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def he(project: Project) -> Project:
    """The project fixture (it points every registered vendor at this module's sandbox)."""
    return project


def _top_level_reports(sandbox: SandboxServer) -> int:
    answer = httpx.get(
        f"{sandbox.base_url(VENDOR)}/exports",
        params={"limit": "100"},
        headers={"X-Api-Key": sandbox.api_key(VENDOR)},
        timeout=10,
    ).raise_for_status()
    return sum(1 for e in answer.json()["exports"] if e.get("parent_report_id") is None)


def _wait_ingested(ledger: Ledger, job_ids: list[int], daemon: object, log: str) -> list[JobRecord]:
    give_up = time.monotonic() + GIVE_UP_SECONDS
    while time.monotonic() < give_up and daemon.poll() is None:  # type: ignore[attr-defined]
        jobs = [ledger.get(job_id) for job_id in job_ids]
        if all(j.state in (JobState.INGESTED, JobState.FAILED) for j in jobs):
            break
        time.sleep(1)
    jobs = [ledger.get(job_id) for job_id in job_ids]
    assert all(j.state is JobState.INGESTED for j in jobs), (
        [(j.export, j.state.value, j.error) for j in jobs],
        Path(log).read_text()[-3000:],
    )
    return jobs


def _wait_runs_finished(instance: dg.DagsterInstance) -> None:
    """The ledger says ingested a moment before a run ends: stopping the daemon then would
    interrupt its run workers, so wait for every run to finish first."""
    give_up = time.monotonic() + GIVE_UP_SECONDS
    while time.monotonic() < give_up and not all(r.is_finished for r in instance.get_runs()):
        time.sleep(0.5)


def _request(he: Project, export: str, partition: str | None, resubmit: bool = False) -> int:
    run_config = (
        {"ops": {f"hienergy__{export}__request": {"config": {"resubmit": True}}}}
        if resubmit
        else None
    )
    result = materialize(
        he.definitions(), he.instance(), [keys.request_key(VENDOR, export)], partition, run_config
    )
    assert result.success, failure_messages(result)
    return int(
        result.asset_materializations_for_node(f"hienergy__{export}__request")[0]
        .metadata["ledger_job_id"]
        .value
    )


def _sensor_run(instance: dg.DagsterInstance, job: JobRecord) -> dg.DagsterRun:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={keys.ingests_job_tag(job.id): "1"}))
    assert runs, f"no raw+table run was launched for ledger job {job.id}"
    assert runs[0].tags.get("dagster/sensor_name") == keys.status_sensor_name(VENDOR)
    return runs[0]


@pytest.mark.slow
def test_the_daemon_adopts_refreshes_reuses_and_lands_every_report_type(he: Project) -> None:
    env = {**os.environ, **he.env}
    daemon_args = [
        processes.dagster_executable("dagster-daemon"),
        "run",
        "-w",
        str(PROJECT / "workspace.yaml"),
    ]
    ledger, instance = he.ledger(), he.instance()
    log_path = he.home / "daemon.log"
    before = _top_level_reports(he.sandbox)
    with processes.running(daemon_args, env=env, log_path=log_path, cwd=PROJECT) as daemon:
        # A: every report type; clicks submitted twice while the vendor builds it.
        first_clicks = _request(he, "clicks_daily", EXPORTS["clicks_daily"][1])
        adopted_clicks = _request(he, "clicks_daily", EXPORTS["clicks_daily"][1], resubmit=True)
        others = [
            _request(he, export, part)
            for export, (_, part) in EXPORTS.items()
            if export != "clicks_daily"
        ]
        phase_a = _wait_ingested(ledger, [adopted_clicks, *others], daemon, str(log_path))

        # B: the first part URL is refused once, mid-run.
        he.sandbox.add_fault(VENDOR, "file", status=403, times=1)
        (chunked,) = _wait_ingested(
            ledger, [_request(he, "clicks_daily", CHUNKED_DAY)], daemon, str(log_path)
        )

        # C: the same advertisers month again, inside the vendor's dedupe window.
        reports_before_reuse = _top_level_reports(he.sandbox)
        reused_id = _request(
            he, "advertisers_monthly", EXPORTS["advertisers_monthly"][1], resubmit=True
        )
        (reused,) = _wait_ingested(ledger, [reused_id], daemon, str(log_path))
        _wait_runs_finished(instance)
        reports_after_reuse = _top_level_reports(he.sandbox)

    # A: two submissions, one vendor report; every report type equals the generator's rows.
    superseded, adopted = ledger.get(first_clicks), phase_a[0]
    assert superseded.state is JobState.SUPERSEDED
    assert adopted.submit_outcome is SubmitRecord.ADOPTED
    assert adopted.vendor_job_id == superseded.vendor_job_id
    assert _top_level_reports(he.sandbox) - before == len(EXPORTS) + 1  # + B's day; C made none
    for job in phase_a:
        report_type, partition = EXPORTS[job.export]
        path = he.data / "lake" / VENDOR / job.export / (partition or "all") / "data.parquet"
        assert job.vendor_job_id is not None
        want = expected_rows(he.sandbox.url, job.vendor_job_id, job.request_body)
        assert want and row_differences(table_rows(path, report_type), want) == [], job.export

    # B: parts recorded as they grew, by the sensor; the refused URL refreshed; the rows whole.
    progress = [d for _, _, d in chunked.history if d and d.startswith("progress ")]
    assert chunked.progress is not None and chunked.progress[1] >= 3
    assert (
        len(progress) >= 2
        and progress[-1] == f"progress {chunked.progress[1]}/{chunked.progress[1]} parts"
    )
    assert any(d == "file URLs refreshed" for _, _, d in chunked.history)
    assert chunked.vendor_job_id is not None
    path = he.data / "lake" / VENDOR / "clicks_daily" / CHUNKED_DAY / "data.parquet"
    want = expected_rows(he.sandbox.url, chunked.vendor_job_id, chunked.request_body)
    assert row_differences(table_rows(path, "clicks_details_excel"), want) == []
    run = _sensor_run(instance, chunked)
    raw = instance.get_latest_materialization_event(keys.raw_key(VENDOR, "clicks_daily"))
    assert raw is not None and raw.run_id == run.run_id
    metadata = raw.asset_materialization.metadata  # type: ignore[union-attr]
    assert (metadata["parts_ready"].value, metadata["total_parts"].value) == chunked.progress
    logged = [e.user_message for e in instance.all_logs(run.run_id) if "parts" in e.user_message]
    assert any(f"progress {chunked.progress[1]}/{chunked.progress[1]} parts" in m for m in logged)

    # C: the finished report reused, recorded as such, and ingested by a sensor-launched run.
    assert reused.submit_outcome is SubmitRecord.DEDUPED
    assert reports_after_reuse == reports_before_reuse
    assert (
        reused.vendor_job_id
        == next(j for j in phase_a if j.export == "advertisers_monthly").vendor_job_id
    )
    assert _sensor_run(instance, reused).status is dg.DagsterRunStatus.SUCCESS
