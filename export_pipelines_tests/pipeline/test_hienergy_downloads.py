"""A job's files downloaded in parallel (bounded): every part lands once, whole, despite broken
connections and a refused URL among the parallel downloads."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from export_pipelines.lake import LakeResource
from export_pipelines.ledger import FileUpdate, JobState, Ledger
from export_pipelines.pipeline import steps
from export_pipelines.pipeline.spec import ExportSpec
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors import adapter_for
from export_pipelines.vendors.base import RemoteState, Window
from export_pipelines.vendors.hienergy.client import HiEnergyClient
from export_pipelines.vendors.hienergy.request import HiEnergyRequest
from export_pipelines_tests.hienergy_truth import expected_rows
from export_pipelines_tests.sandbox_setup import hienergy_config, sandbox_config


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """A day of clicks (~180 rows) in parts of 20: nine or ten parts, more than the pool's four."""
    config = sandbox_config(hienergy=hienergy_config(rows_per_part=20, part_delay_seconds=0.0))
    with SandboxServer(config) as server:
        yield server


def test_every_part_lands_once_and_whole_through_cuts_and_a_refusal(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    request = HiEnergyRequest(report_type="clicks_details_excel")
    spec = ExportSpec(
        vendor="hienergy",
        name="clicks_daily",
        description="",
        cadence="daily",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=None,
        timezone="UTC",
        pool=None,
        request=request,
    )
    day = datetime(2024, 3, 4, tzinfo=UTC)
    body = adapter_for("hienergy").build_body(request, Window(day, day.replace(day=5)))
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    lake = LakeResource(root=str(tmp_path / "data"))
    client = HiEnergyClient(
        base_url=sandbox.base_url("hienergy"), api_key=sandbox.api_key("hienergy")
    )
    try:
        report_id = client.submit(body).vendor_job_id
        status = client.status(report_id)
        while status.state is RemoteState.RUNNING:
            time.sleep(0.05)
            status = client.status(report_id)
        assert len(status.files) > steps.DOWNLOAD_PARALLELISM
        job, _ = ledger.claim(
            vendor="hienergy",
            export="clicks_daily",
            partition_key="2024-03-04",
            partitioned=True,
            window=None,
            fingerprint="f",
            body=body,
            window_fixed=True,
            run_id=None,
        )
        ledger.mark_submitted(job.id, report_id)
        job = ledger.mark_completed(
            job.id, [FileUpdate(f.name, f.url, f.expires_at) for f in status.files], None
        )
        sandbox.add_fault("hienergy", "file", cut_after_bytes=900, times=3)
        sandbox.add_fault("hienergy", "file", status=403, times=1)
        job = steps.download_files(job, spec=spec, ledger=ledger, lake=lake, client=client)
    finally:
        client.close()
        sandbox.clear_faults()

    assert job.state is JobState.DOWNLOADED
    assert all(f.local_path and Path(f.local_path).stat().st_size == f.bytes for f in job.files)
    assert any(detail == "file URLs refreshed" for _, _, detail in job.history)
    with lake.writing(lake.table("hienergy", "clicks_daily", job.partition_key)) as dest:
        written, _ = steps.normalize_job(job, spec=spec, lake=lake, dest=dest)
    want = expected_rows(sandbox.url, report_id, body)
    assert written.rows == len(want)
    assert [written.rows_per_source[f.name] for f in job.files] == [20] * (len(want) // 20) + (
        [len(want) % 20] if len(want) % 20 else []
    )
