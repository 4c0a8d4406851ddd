"""Issue 14: a job with no progress past ``stuck_after_seconds`` is marked, cancelled where the
vendor documents a cancel (Rebilly's ``DELETE /data-exports/{id}``), and surfaced; a vendor without
one (Enterpret) is only marked and surfaced. Sandbox jobs here never finish on their own."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from export_pipelines.ledger import JobState, LedgerResource
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.recovery import Recovery, is_stuck, last_progress
from export_pipelines.pipeline.sensor import build_status_sensor
from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.rebilly.config import RebillySandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.enterpret.resource import EnterpretResource
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import failure_messages
from export_pipelines_tests.pipeline.rebilly_support import sandbox_control
from export_pipelines_tests.pipeline.recovery_support import rebilly_catalog


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(  # type: ignore[call-arg]
        port=0,
        rebilly=RebillySandboxConfig(queued_seconds=0, completion_delay_seconds=600),
        enterpret=EnterpretSandboxConfig(completion_delay_seconds=600),
    )
    with SandboxServer(config) as server:
        yield server


def test_a_stuck_rebilly_export_is_marked_cancelled_and_surfaced(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = rebilly_catalog(project, tmp_path, monkeypatch, "stuck_after_seconds: 1")
    day, ledger = "2024-03-05", project.ledger()
    driver.request(day)
    (job,) = ledger.jobs("rebilly")
    assert job.state is JobState.RUNNING
    moving = driver.tick()  # within the second: polled, not stuck
    assert ledger.get(job.id).state is JobState.RUNNING and not moving.asset_events

    time.sleep(1.2)
    stopped = driver.tick()

    job = ledger.get(job.id)
    assert job.state is JobState.TIMED_OUT
    assert (job.error or "").startswith("stuck: no progress for more than 1 s")
    assert f"cancelled at rebilly (job {job.vendor_job_id})" in [d for _, _, d in job.history]
    with sandbox_control(project.sandbox) as control:
        deleted = control.get("/deleted").json()["deleted"]
        assert {"id": job.vendor_job_id, "status": "processing"} in deleted
        assert control.get(f"/exports/{job.vendor_job_id}").status_code == 404
    (observed,) = stopped.asset_events
    assert observed.asset_key == keys.request_key("rebilly", "invoices")
    assert observed.partition == day
    assert "cancelled at rebilly" in str(observed.metadata["what_happened"].value)
    assert stopped.run_requests == []
    # The raw asset, materialized by hand, fails saying why.
    raw = driver.definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=project.instance(),
        asset_selection=[keys.raw_key("rebilly", "invoices")],
        partition_key=day,
        raise_on_error=False,
    )
    assert not raw.success and "is timed_out: stuck: no progress" in failure_messages(raw)


def _enterpret_job(project: Project, partition: str) -> int:
    start = datetime.fromisoformat(partition).replace(tzinfo=UTC)
    body = {
        "listRecords": {
            "timerange": {
                "startTime": int(start.timestamp()),
                "endTime": int((start + timedelta(days=1)).timestamp()),
            }
        },
        "pageSize": 50,
    }
    ledger = project.ledger()
    job, _ = ledger.claim(
        vendor="enterpret",
        export="feedback_daily",
        partition_key=partition,
        partitioned=True,
        window=(start, start + timedelta(days=1)),
        fingerprint=partition.ljust(64, "0"),
        body=body,
        window_fixed=True,
        run_id=None,
    )
    ledger.mark_submitted(job.id, project.sandbox.enterpret.submit(body).query_id)
    return job.id


def test_a_vendor_without_cancel_is_marked_and_surfaced_and_left_alone(project: Project) -> None:
    job_id = _enterpret_job(project, "2024-03-01")
    sensor = build_status_sensor("enterpret", policies=Recovery(stuck_after_seconds=1))
    time.sleep(1.2)
    resource = EnterpretResource(
        base_url=project.sandbox.base_url("enterpret"),
        api_key=project.sandbox.api_key("enterpret"),
    )
    with dg.build_sensor_context(
        instance=project.instance(),
        resources={"enterpret": resource, "ledger": LedgerResource()},
        definitions=project.definitions(),
    ) as context:
        result = sensor.evaluate_tick(context)

    job = project.ledger().get(job_id)
    assert job.state is JobState.TIMED_OUT and (job.error or "").startswith("stuck:")
    note = f"enterpret documents no cancel, so its job {job.vendor_job_id} was left alone"
    assert note in [d for _, _, d in job.history]
    (observed,) = result.asset_events
    assert observed.asset_key == keys.request_key("enterpret", "feedback_daily")
    vendor_jobs = {j.query_id: j for j in project.sandbox.enterpret.jobs()}
    assert job.vendor_job_id in vendor_jobs  # still there: nothing was asked of the vendor


def test_reported_progress_restarts_the_stuck_clock(project: Project) -> None:
    """A vendor reporting parts ready (HiEnergy's chunked reports) is stuck only once its parts
    stop moving; a job reporting nothing is stuck counting from its submit."""
    ledger = project.ledger()
    job_id = _enterpret_job(project, "2024-03-02")
    policy = Recovery(stuck_after_seconds=1)
    submitted = ledger.get(job_id)
    assert last_progress(submitted) == submitted.submitted_at

    time.sleep(0.7)
    ledger.record_poll(job_id, (1, 4))
    ledger.record_poll(job_id, (1, 4))  # the same parts again: no progress
    moved = ledger.get(job_id)
    assert last_progress(moved) > (submitted.submitted_at or moved.created_at)
    time.sleep(0.5)
    now = datetime.now(UTC)
    assert is_stuck(submitted, policy, now)  # counted from the submit, it would be
    assert not is_stuck(moved, policy, now)  # counted from the last part, it is not
    assert is_stuck(moved, policy, now + timedelta(seconds=1))
    assert not is_stuck(moved, Recovery(), now + timedelta(days=1))  # no rule: never stuck
