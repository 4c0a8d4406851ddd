"""Every registered vendor honours the same contract against its sandbox.

For each vendor of the registry, the first partitioned export of its catalog goes through the
pipeline's vendor protocol with nothing vendor-specific in the test: build the body for a partition,
submit, observe completion the way the vendor declares (poll the status, or read the callback it
POSTs to a receiver on loopback through the adapter's verifier), download every file, normalize them
with the export's declared schema, and compare the Parquet with the records the sandbox's generator
says it exported (by ``id``, or by the group keys of rows that have none). A new vendor is covered as soon as it is registered and has a catalog entry.
"""

import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from export_pipelines.catalog import AsyncExport
from export_pipelines.demo.verify import comparable_rows
from export_pipelines.normalize import Lineage, write_parquet
from export_pipelines.pipeline.spec import ExportSpec
from export_pipelines.sandbox.hellodata.config import HelloDataSandboxConfig
from export_pipelines.sandbox.registry import registered
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.transport import download_to_file
from export_pipelines.vendors import VENDORS
from export_pipelines.vendors.base import (
    CallbackSettings,
    Completion,
    RemoteState,
    RemoteStatus,
    VendorAdapter,
    VendorClient,
    Window,
)
from export_pipelines.vendors.hellodata.resource import WEBHOOK_PUBLIC_URL_ENV
from export_pipelines_tests.sandbox_setup import sandbox_config

DEFS = Path(__file__).resolve().parents[1] / "export_pipelines" / "defs"
#: How long a sandbox job may take here before the test gives up (a guard, not an assertion).
GIVE_UP_SECONDS = 120


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    callbacks_to_loopback = HelloDataSandboxConfig(
        completion_delay_seconds=0.5, allow_loopback_webhooks=True
    )
    with SandboxServer(sandbox_config(hellodata=callbacks_to_loopback)) as server:
        yield server


class Callbacks:
    """A loopback HTTP endpoint that keeps every POST (raw body, headers lower-cased as an ASGI
    server hands them over) and answers 200."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[bytes, dict[str, str]]] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.put((body, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def callbacks() -> Iterator[Callbacks]:
    endpoint = Callbacks()
    yield endpoint
    endpoint.close()


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


def wait_for_callback(
    adapter: VendorAdapter[object], callbacks: Callbacks, secret: str, job_id: str
) -> RemoteStatus:
    """The completion the vendor POSTed, verified and read by the adapter as the receiver does."""
    give_up = time.monotonic() + GIVE_UP_SECONDS
    while time.monotonic() < give_up:
        body, headers = callbacks.received.get(timeout=GIVE_UP_SECONDS)
        delivery = adapter.read_delivery(body, headers, CallbackSettings(secret=secret))
        if delivery.vendor_job_id == job_id:
            return delivery.status
    raise AssertionError(f"no callback for job {job_id}")


def wait_until_done(client: VendorClient, job_id: str) -> RemoteStatus:
    give_up = time.monotonic() + GIVE_UP_SECONDS
    status = client.status(job_id)
    while status.state is RemoteState.RUNNING and time.monotonic() < give_up:
        time.sleep(0.2)
        status = client.status(job_id)
    return status


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_submit_status_download_normalize_equals_the_generator(
    vendor: str,
    sandbox: SandboxServer,
    callbacks: Callbacks,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    adapter = VENDORS[vendor]
    monkeypatch.setenv(WEBHOOK_PUBLIC_URL_ENV, callbacks.url)
    spec = first_partitioned_export(vendor)
    body = adapter.build_body(spec.request, first_window(spec))
    resource = adapter.resource_class(
        base_url=sandbox.base_url(vendor), api_key=sandbox.api_key(vendor)
    )
    client = resource.client()
    try:
        job_id = client.submit(body).vendor_job_id
        if adapter.completion is Completion.CALLBACK:
            status = wait_for_callback(adapter, callbacks, sandbox.api_key(vendor), job_id)
        else:
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

    records = list(registered(vendor).expected_records(sandbox.url, job_id, body))
    assert records, f"pick a {vendor} partition with records"
    got, expected = comparable_rows(written.path, records)
    assert got == expected
    assert set(table.column("_source_file").to_pylist()) <= {p.name for p in downloaded}
