"""Every registered vendor honours the same contract against its sandbox.

For each vendor of the registry, the first partitioned export of its catalog goes through the
pipeline's vendor protocol with nothing vendor-specific in the test: build the body for a partition,
submit, poll the status until completed, download every file, normalize them with the export's
declared schema, and compare the Parquet's ``id`` column with the records the sandbox's generator
says it exported. A new vendor is covered as soon as it is registered and has a catalog entry.
"""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from export_pipelines.catalog import AsyncExport
from export_pipelines.normalize import Lineage, write_parquet
from export_pipelines.pipeline.spec import ExportSpec
from export_pipelines.sandbox.registry import registered
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.transport import download_to_file
from export_pipelines.vendors import VENDORS
from export_pipelines.vendors.base import RemoteState, RemoteStatus, VendorClient, Window
from export_pipelines_tests.sandbox_setup import fast_sandbox_config

DEFS = Path(__file__).resolve().parents[1] / "export_pipelines" / "defs"
#: How long a sandbox job may take here before the test gives up (a guard, not an assertion).
GIVE_UP_SECONDS = 120


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(fast_sandbox_config()) as server:
        yield server


def first_partitioned_export(vendor: str) -> ExportSpec:
    """The vendor's first partitioned catalog entry, validated as ``dg`` validates it."""
    documents = yaml.safe_load_all((DEFS / vendor / "defs.yaml").read_text())
    for document in documents:
        attributes = document["attributes"]
        if (
            document["type"].endswith("AsyncExport")
            and attributes.get("partitioning", "none") != "none"
        ):
            return AsyncExport.model_validate(attributes).to_spec()
    raise AssertionError(f"the {vendor} catalog has no partitioned export")


def first_window(spec: ExportSpec) -> Window:
    partitions = spec.partitions_def()
    assert partitions is not None
    keys = partitions.get_partition_keys()
    window = partitions.time_window_for_partition_key(keys[min(len(keys) - 1, 70)])
    return Window(window.start, window.end)


def wait_until_done(client: VendorClient, job_id: str) -> RemoteStatus:
    give_up = time.monotonic() + GIVE_UP_SECONDS
    status = client.status(job_id)
    while status.state is RemoteState.RUNNING and time.monotonic() < give_up:
        time.sleep(0.2)
        status = client.status(job_id)
    return status


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_submit_status_download_normalize_equals_the_generator(
    vendor: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    adapter = VENDORS[vendor]
    spec = first_partitioned_export(vendor)
    body = adapter.build_body(spec.request, first_window(spec))
    resource = adapter.resource_class(
        base_url=sandbox.base_url(vendor), api_key=sandbox.api_key(vendor)
    )
    client = resource.client()
    try:
        job_id = client.submit(body).vendor_job_id
        status = wait_until_done(client, job_id)
        assert status.state is RemoteState.COMPLETED, status
        assert status.files, "a completed job lists its files"
        downloaded = [
            download_to_file(
                f.url,
                tmp_path / "raw" / f.name,
                vendor=vendor,
                policy=client.download_policy,
                lock_dir=tmp_path / "locks",
                headers=client.download_headers(f.url),
            ).path
            for f in status.files
        ]
    finally:
        client.close()

    normalizer = adapter.normalizer_for(spec.request)
    written = write_parquet(
        tmp_path / "data.parquet",
        normalizer.schema,
        ((path.name, normalizer.batches(path, 1_000)) for path in downloaded),
        Lineage(spec.name, "p", vendor_job_id=job_id, ingested_at=datetime.now(UTC)),
    )
    table = pq.read_table(written.path)
    assert table.schema.remove_metadata() == written.schema.remove_metadata()

    expected = [
        str(record["id"])
        for record in registered(vendor).expected_records(sandbox.url, job_id, body)
    ]
    assert expected, f"pick a {vendor} partition with records"
    assert [str(value) for value in table.column("id").to_pylist()] == expected
    assert set(table.column("_source_file").to_pylist()) <= {p.name for p in downloaded}
