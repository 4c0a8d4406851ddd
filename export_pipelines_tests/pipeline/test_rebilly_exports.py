"""Rebilly exports run in-process against a real instance and the sandbox: a failed export fails its
run with the vendor's ``failureReason``; a signed link that really expired is refreshed by reading
the export again; an export restricted by ``fields`` keeps the other columns null."""

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest

from export_pipelines import settings
from export_pipelines.ledger import JobState
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.steps import apply_status
from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.rebilly.config import RebillySandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.rebilly.client import RebillyClient
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import export_keys, failure_messages, materialize
from export_pipelines_tests.pipeline.rebilly_support import (
    expected_rows,
    load_catalog,
    sandbox_control,
    table_rows,
    write_catalog_project,
)

DAY = "2024-03-05"
SIGNED_LINK_SECONDS = 2

CATALOG = textwrap.dedent(
    """\
    type: export_pipelines.catalog.VendorConnection
    attributes: {vendor: rebilly, sensor_running: false}
    ---
    type: export_pipelines.catalog.AsyncExport
    attributes:
      vendor: rebilly
      export: invoices
      partitioning: daily
      start: "2024-01-01"
      request: {name: invoices, resource: invoices, format: xml}
    ---
    type: export_pipelines.catalog.AsyncExport
    attributes:
      vendor: rebilly
      export: customers_slim
      partitioning: daily
      start: "2024-01-01"
      request:
        name: customers slim
        resource: customers
        format: json-api
        fields: [id, email, lifetimeRevenue]
    """
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(
        port=0,
        rebilly=RebillySandboxConfig(
            queued_seconds=0.1,
            completion_delay_seconds=0.3,
            signed_link_ttl_seconds=SIGNED_LINK_SECONDS,
        ),
    )
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def catalog(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Project, dg.Definitions]:
    monkeypatch.setenv(settings.vendor_base_url_env("rebilly"), project.sandbox.base_url("rebilly"))
    monkeypatch.setenv(settings.vendor_api_key_env("rebilly"), project.sandbox.api_key("rebilly"))
    root = tmp_path / "rebilly_catalog"
    module = write_catalog_project(root, CATALOG)
    monkeypatch.syspath_prepend(str(root))
    return project, load_catalog(module)


def _client(sandbox: SandboxServer) -> RebillyClient:
    return RebillyClient(base_url=sandbox.base_url("rebilly"), api_key=sandbox.api_key("rebilly"))


def test_a_failed_export_fails_its_run_with_the_failure_reason(
    catalog: tuple[Project, dg.Definitions],
) -> None:
    project, definitions = catalog
    with sandbox_control(project.sandbox) as control:
        armed = control.post("/fail-next", json={"failureReason": "record-limit-exceeded"})
        assert armed.is_success, armed.text
    result = materialize(definitions, project.instance(), export_keys("rebilly", "invoices"), DAY)
    assert not result.success
    message = failure_messages(result)
    assert "the vendor reported failure: record-limit-exceeded" in message, message
    (job,) = project.ledger().jobs(vendor="rebilly")
    assert job.state is JobState.FAILED and "record-limit-exceeded" in (job.error or "")
    assert not (project.data / "lake" / "rebilly" / "invoices" / DAY / "data.parquet").exists()


def test_an_expired_signed_link_is_refreshed_by_reading_the_export_again(
    catalog: tuple[Project, dg.Definitions],
) -> None:
    project, definitions = catalog
    instance, ledger = project.instance(), project.ledger()
    request = materialize(definitions, instance, [keys.request_key("rebilly", "invoices")], DAY)
    assert request.success, failure_messages(request)
    (job,) = ledger.jobs(vendor="rebilly")
    assert job.vendor_job_id is not None
    # Poll as the status sensor would, until the ledger holds the completed export's link …
    with _client(project.sandbox) as client:
        while job.state is JobState.RUNNING:
            time.sleep(0.1)
            job = apply_status(ledger, job, client.status(job.vendor_job_id))
    assert job.state is JobState.COMPLETED
    first_link = job.files[0].url
    # … then let the vendor's link lifetime pass before anything downloads it.
    time.sleep(SIGNED_LINK_SECONDS + 1.5)
    ingest = materialize(
        definitions,
        instance,
        [keys.raw_key("rebilly", "invoices"), keys.table_key("rebilly", "invoices")],
        DAY,
    )
    assert ingest.success, failure_messages(ingest)
    job = ledger.get(job.id)
    assert job.state is JobState.INGESTED
    assert job.files[0].url != first_link
    assert any(detail == "file URLs refreshed" for _, _, detail in job.history)
    path = project.data / "lake" / "rebilly" / "invoices" / DAY / "data.parquet"
    assert table_rows(pq.read_table(path)) == expected_rows(
        project.sandbox, job.vendor_job_id or "", job.request_body
    )


def test_fields_restrict_the_columns_the_others_stay_null(
    catalog: tuple[Project, dg.Definitions],
) -> None:
    project, definitions = catalog
    result = materialize(
        definitions, project.instance(), export_keys("rebilly", "customers_slim"), DAY
    )
    assert result.success, failure_messages(result)
    (job,) = project.ledger().jobs(vendor="rebilly")
    assert job.request_body["fields"] == ["id", "email", "lifetimeRevenue"]
    path = project.data / "lake" / "rebilly" / "customers_slim" / DAY / "data.parquet"
    rows: list[dict[str, Any]] = table_rows(pq.read_table(path))
    assert rows and job.vendor_rows == len(rows)
    kept = {"id", "email", "lifetime_revenue_amount", "lifetime_revenue_currency"}
    assert all(value is None for row in rows for name, value in row.items() if name not in kept)
    expected = expected_rows(project.sandbox, job.vendor_job_id or "", job.request_body)
    assert [{k: r[k] for k in kept} for r in rows] == [{k: r[k] for k in kept} for r in expected]
    assert all(row["lifetime_revenue_amount"] is not None for row in rows)


def test_a_create_whose_answer_was_lost_is_found_by_listing_not_created_twice(
    catalog: tuple[Project, dg.Definitions],
) -> None:
    project, definitions = catalog
    day = "2024-03-07"
    instance, ledger = project.instance(), project.ledger()
    # The vendor creates the export, then the answer is replaced by a 500 (outcome unknown).
    project.sandbox.add_fault("rebilly", "create", status=500, after_processing=True)
    lost = materialize(definitions, instance, [keys.request_key("rebilly", "invoices")], day)
    assert not lost.success
    (job,) = ledger.jobs(vendor="rebilly")
    assert job.vendor_job_id is None

    def created_for_day() -> list[str]:
        with sandbox_control(project.sandbox) as control:
            exports = control.get("/exports").json()["exports"]
        return [
            e["id"]
            for e in exports
            if e["request"]["name"] == "invoices"
            and e["request"]["dateRange"]["start"] == f"{day}T00:00:00Z"
        ]

    (created,) = created_for_day()
    again = materialize(definitions, instance, export_keys("rebilly", "invoices"), day)
    assert again.success, failure_messages(again)
    (job,) = [j for j in ledger.jobs(vendor="rebilly") if j.state is JobState.INGESTED]
    assert job.vendor_job_id == created and created_for_day() == [created]
    assert any("found after an ambiguous submit" in (d or "") for _, _, d in job.history)
