"""The catalog's HiEnergy exports against the sandbox, run in-process on a real instance.

Every report type lands exactly the generator's rows; a chunked day comes in parts and lands whole;
an expired part URL is refreshed by reading the report again; a resubmission in the dedupe window
reuses the vendor's report; a refused key names the vendor, never the key.
"""

from collections.abc import Iterator

import httpx
import pyarrow.parquet as pq
import pytest

from export_pipelines import settings
from export_pipelines.ledger import JobState, SubmitRecord
from export_pipelines.pipeline import keys
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines_tests.hienergy_truth import expected_rows, row_differences, table_rows
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import export_keys, failure_messages, materialize
from export_pipelines_tests.sandbox_setup import hienergy_config, sandbox_config

VENDOR = "hienergy"
#: export → (report type, a partition with rows; None for the unpartitioned export)
EXPORTS = {
    "clicks_daily": ("clicks_details_excel", "2024-03-04"),
    "advertisers_monthly": ("advertisers_csv", "2024-03-01"),
    "coupon_deals_weekly": ("deals_excel", "2024-03-03"),
    "hot_advertisers": ("hot_advertisers_excel", None),
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Reports finish within a second; a day of clicks (~180 rows) comes in parts of 50."""
    with SandboxServer(sandbox_config(hienergy=hienergy_config(delay_seconds=0.3))) as server:
        yield server


@pytest.fixture
def he(project: Project) -> Project:
    """The project fixture (it points every registered vendor at this module's sandbox)."""
    return project


def _reports_in_sandbox(sandbox: SandboxServer) -> int:
    answer = httpx.get(
        f"{sandbox.base_url(VENDOR)}/exports",
        params={"limit": "100"},
        headers={"X-Api-Key": sandbox.api_key(VENDOR)},
        timeout=10,
    ).raise_for_status()
    return len(answer.json()["exports"])


def _lake(project: Project, export: str, partition: str | None) -> str:
    return str(project.data / "lake" / VENDOR / export / (partition or "all") / "data.parquet")


@pytest.mark.parametrize("export", sorted(EXPORTS))
def test_each_report_type_lands_exactly_the_generated_rows(he: Project, export: str) -> None:
    report_type, partition = EXPORTS[export]
    result = materialize(he.definitions(), he.instance(), export_keys(VENDOR, export), partition)
    assert result.success, failure_messages(result)

    (job,) = he.ledger().jobs(export=export)
    assert job.state is JobState.INGESTED and job.vendor_job_id
    want = expected_rows(he.sandbox.url, job.vendor_job_id, job.request_body)
    assert want, f"pick a partition of {export} that holds rows"
    path = _lake(he, export, partition)
    assert row_differences(table_rows(path, report_type), want) == []
    suffix = ".csv" if report_type.endswith("_csv") else ".xlsx"
    assert all(f.name.endswith(suffix) for f in job.files)
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [(keys.ROWS_CHECK, True)]


def test_a_chunked_day_is_downloaded_part_by_part_and_lands_whole(he: Project) -> None:
    result = materialize(
        he.definitions(), he.instance(), export_keys(VENDOR, "clicks_daily"), "2024-03-05"
    )
    assert result.success, failure_messages(result)
    (job,) = he.ledger().jobs(export="clicks_daily")
    assert job.progress is not None and job.progress[0] == job.progress[1] >= 3
    assert [f.name for f in job.files] == [f"part-{i:05d}.xlsx" for i in range(job.progress[1])]
    assert all(0 < (f.rows or 0) <= 50 for f in job.files)

    table = pq.read_table(_lake(he, "clicks_daily", "2024-03-05"))
    assert sorted(set(table.column("_source_file").to_pylist())) == [f.name for f in job.files]
    assert job.vendor_job_id is not None
    want = expected_rows(he.sandbox.url, job.vendor_job_id, job.request_body)
    assert table.column("id").to_pylist() == [row["id"] for row in want]

    raw = result.asset_materializations_for_node("hienergy__clicks_daily__raw")[0].metadata
    assert (raw["parts_ready"].value, raw["total_parts"].value) == job.progress
    assert raw["files"].value == job.progress[1]


def test_an_expired_part_url_is_refreshed_by_reading_the_report_again(he: Project) -> None:
    he.sandbox.add_fault(VENDOR, "file", status=403, times=1)
    result = materialize(
        he.definitions(), he.instance(), export_keys(VENDOR, "clicks_daily"), "2024-03-06"
    )
    assert result.success, failure_messages(result)
    (job,) = he.ledger().jobs(export="clicks_daily")
    assert any(detail == "file URLs refreshed" for _, _, detail in job.history)
    assert job.vendor_job_id is not None and len(job.files) >= 3
    want = expected_rows(he.sandbox.url, job.vendor_job_id, job.request_body)
    assert (
        row_differences(
            table_rows(_lake(he, "clicks_daily", "2024-03-06"), "clicks_details_excel"), want
        )
        == []
    )


def test_a_resubmission_in_the_dedupe_window_reuses_the_vendor_report(he: Project) -> None:
    definitions, instance = he.definitions(), he.instance()
    first = materialize(
        definitions, instance, export_keys(VENDOR, "coupon_deals_weekly"), "2024-03-10"
    )
    assert first.success, failure_messages(first)
    reports = _reports_in_sandbox(he.sandbox)

    again = materialize(
        definitions,
        instance,
        export_keys(VENDOR, "coupon_deals_weekly"),
        "2024-03-10",
        run_config={
            "ops": {"hienergy__coupon_deals_weekly__request": {"config": {"resubmit": True}}}
        },
    )
    assert again.success, failure_messages(again)
    assert _reports_in_sandbox(he.sandbox) == reports
    old, new = he.ledger().jobs(export="coupon_deals_weekly")
    assert old.state is JobState.SUPERSEDED and new.state is JobState.INGESTED
    assert new.submit_outcome is SubmitRecord.DEDUPED
    assert new.vendor_job_id == old.vendor_job_id
    request = again.asset_materializations_for_node("hienergy__coupon_deals_weekly__request")[0]
    assert request.metadata["submit_outcome"].value == "deduped"


def test_a_refused_key_fails_the_request_naming_the_vendor_never_the_key(
    he: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "he-wrong-but-secret-7731"
    monkeypatch.setenv(settings.vendor_api_key_env(VENDOR), secret)
    result = materialize(
        he.definitions(), he.instance(), [keys.request_key(VENDOR, "clicks_daily")], "2024-03-07"
    )
    assert not result.success
    message = failure_messages(result)
    assert "hienergy" in message and "401" in message
    assert all(secret not in str(event) for event in result.all_events)
    (job,) = he.ledger().jobs(export="clicks_daily")
    assert job.state is JobState.FAILED and secret not in (job.error or "")
