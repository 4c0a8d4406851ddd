"""Issue 14: a vendor job failed for a transient reason is resubmitted by the connection's retry
policy, up to its maximum; past it the job stays failed with the vendor's reason.

Rebilly documents ``failureReason: max-retries-reached`` (its own retries spent: transient) and
``record-limit-exceeded`` (too large: ``test_split_windows.py``). The sandbox fails the next
exports it creates with a reason (``POST /_sandbox/rebilly/fail-next``); the status sensor ticks
on a real instance and the runs it asks for are executed in-process with their tags.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData

from export_pipelines.ledger import JobState
from export_pipelines.pipeline import keys
from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.rebilly.config import RebillySandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import failure_messages
from export_pipelines_tests.pipeline.rebilly_support import expected_rows, table_rows
from export_pipelines_tests.pipeline.recovery_support import (
    Driver,
    arm_failures,
    rebilly_catalog,
    sandbox_exports,
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    vendor = RebillySandboxConfig(queued_seconds=0.1, completion_delay_seconds=0.3)
    config = SandboxConfig(port=0, rebilly=vendor)  # type: ignore[call-arg]
    with SandboxServer(config) as server:
        yield server


def _exports_of(project: Project, day: str) -> list[str]:
    return [
        e["id"]
        for e in sandbox_exports(project)
        if e["request"]["dateRange"]["start"] == f"{day}T00:00:00Z"
    ]


def _failed_tick(driver: Driver, job_id: int) -> SensorExecutionData:
    """Tick until the sensor sees the job's failure; that tick's result."""
    ledger = driver.project.ledger()
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        result = driver.tick()
        if ledger.get(job_id).state is not JobState.RUNNING:
            return result
        time.sleep(0.2)
    raise AssertionError(f"ledger job {job_id} still running after 30 s")


def test_a_transient_failure_is_resubmitted_once_and_the_partition_lands(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = rebilly_catalog(project, tmp_path, monkeypatch, "resubmit_failed: {max_attempts: 2}")
    day, ledger = "2024-03-05", project.ledger()
    arm_failures(project, "max-retries-reached", times=1)
    driver.request(day)
    (first,) = ledger.jobs("rebilly")

    seen = _failed_tick(driver, first.id)
    (again,) = seen.run_requests or []
    assert again.run_key == keys.resubmit_run_key("rebilly", first.id)
    assert again.partition_key == day
    assert list(again.asset_selection or []) == [keys.request_key("rebilly", "invoices")]
    assert any(
        "max-retries-reached; resubmitting as attempt 2 of 2" in (d or "")
        for _, _, d in ledger.get(first.id).history
    )
    # The failure is surfaced on the request asset too.
    (observed,) = seen.asset_events
    assert observed.asset_key == keys.request_key("rebilly", "invoices")
    assert observed.partition == day

    # The resubmission run claims a second job of the same window and body …
    assert driver.run(again).success
    first, second = ledger.jobs("rebilly")
    assert (first.state, first.superseded_by) == (JobState.SUPERSEDED, second.id)
    assert second.attempt == 2 and second.fingerprint == first.fingerprint
    assert second.state is JobState.RUNNING
    # … a tick that sees the same failure again asks for nothing more (one run per failed job).
    driver.until_settled()
    assert len(_exports_of(project, day)) == 2  # the sandbox saw exactly two creates

    second = ledger.get(second.id)
    assert second.state is JobState.INGESTED
    path = project.data / "lake" / "rebilly" / "invoices" / day / "data.parquet"
    assert table_rows(pq.read_table(path)) == expected_rows(
        project.sandbox, second.vendor_job_id or "", second.request_body
    )


def test_past_the_maximum_the_job_stays_failed_with_the_vendors_reason(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = rebilly_catalog(project, tmp_path, monkeypatch, "resubmit_failed: {max_attempts: 2}")
    day, ledger = "2024-03-06", project.ledger()
    arm_failures(project, "max-retries-reached", times=2)
    driver.request(day)
    driver.until_settled()

    first, second = ledger.jobs("rebilly")
    assert first.state is JobState.SUPERSEDED and first.superseded_by == second.id
    assert second.state is JobState.FAILED and second.attempt == 2
    assert second.error == (
        "the vendor reported failure: max-retries-reached; gave up after 2 attempt(s) "
        "(resubmit_failed.max_attempts = 2)"
    )
    assert len(_exports_of(project, day)) == 2
    assert not (project.data / "lake" / "rebilly" / "invoices" / day / "data.parquet").exists()
    # The last tick that saw it said so on the request asset.
    said = [
        e.metadata["what_happened"].value  # type: ignore[union-attr]
        for t in driver.ticks
        for e in t.asset_events
    ]
    assert any("gave up after 2 attempt(s)" in str(text) for text in said), said
    # Materializing the raw asset by hand fails with the vendor's reason.
    job = driver.definitions.resolve_implicit_global_asset_job_def()
    raw = job.execute_in_process(
        instance=project.instance(),
        asset_selection=[keys.raw_key("rebilly", "invoices")],
        partition_key=day,
        raise_on_error=False,
    )
    assert not raw.success
    assert "max-retries-reached; gave up after 2 attempt(s)" in failure_messages(raw)


def test_max_attempts_1_never_resubmits(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = rebilly_catalog(project, tmp_path, monkeypatch, "resubmit_failed: {max_attempts: 1}")
    day, ledger = "2024-03-07", project.ledger()
    arm_failures(project, "max-retries-reached", times=1)
    driver.request(day)
    driver.until_settled()
    (job,) = ledger.jobs("rebilly")
    assert job.state is JobState.FAILED and "gave up after 1 attempt(s)" in (job.error or "")
    assert len(_exports_of(project, day)) == 1
    assert driver.runs == {}
