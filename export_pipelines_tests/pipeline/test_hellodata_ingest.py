"""A HelloData delivery through the real pipeline: the receiver records it, the sensor launches
raw+table once, and the Parquet file holds ``gcsBlob.numberRows`` rows, typed per scope.

The file host stands in for Google Cloud Storage, which cannot be made real here: a plain static
HTTP server on loopback serving a gzip CSV in the vendor's documented layout (two ``number_units``
headers for two aggregates), typed per scope. The same replay against the HelloData sandbox, through
the daemon, is ``test_hellodata_daemon.py``.
"""

import functools
import gzip
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster._core.test_utils import create_run_for_test

from export_pipelines import settings
from export_pipelines.ledger import JobState
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.sensor import build_status_sensor
from export_pipelines.webhooks import ReceiverSettings
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import failure_messages, materialize
from export_pipelines_tests.pipeline.test_hellodata_sensor import _tick
from export_pipelines_tests.webhooks.conftest import KEY, delivery_body, receiving

CSV = (
    b"msa,as_of_month,asking_rent,effective_rent,number_units,number_units\n"
    b'"Nashville-Davidson-Murfreesboro-Franklin, TN",2024-01-01,1510.25,1490,900,300\n'
    b"Memphis,2024-01-01,,,120,120\n"
    b"Atlanta,2024-01-01,1700,1650.5,2000,410\n"
)


@pytest.fixture
def file_host(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "gcs"
    folder.mkdir()
    (folder / "export.csv.gz").write_bytes(gzip.compress(CSV))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_replayed_delivery_lands_the_data_once_with_the_vendor_row_count(
    project: Project, file_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Downloads may reach the configured vendor host: the loopback file host here.
    monkeypatch.setenv(settings.vendor_base_url_env("hellodata"), file_host)
    monkeypatch.setenv(settings.vendor_api_key_env("hellodata"), KEY)
    ledger = project.ledger()
    job, _ = ledger.claim(
        vendor="hellodata",
        export="rent_survey_by_market",
        partition_key="2024-01-01",
        partitioned=True,
        window=None,
        fingerprint="e" * 64,
        body={"format": "csv", "name": "survey", "dataset": {}},
        window_fixed=True,
        run_id=None,
    )
    ledger.mark_submitted(job.id, "q-land")
    body = delivery_body("q-land", url=f"{file_host}/export.csv.gz", rows=3)
    with receiving(ReceiverSettings(ledger_url=ledger.url, secrets={"hellodata": KEY})) as r:
        outcomes = [r.deliver(body).json()["outcome"] for _ in range(2)]
    assert outcomes == ["completed", "duplicate"]

    sensor = build_status_sensor("hellodata")
    [request] = _tick(project, sensor, base_url=file_host).run_requests
    # The daemon creates the requested run before the next tick, which then asks for nothing.
    create_run_for_test(project.instance(), job_name="__ASSET_JOB", tags=request.tags)
    assert _tick(project, sensor, base_url=file_host).run_requests == []
    result = materialize(
        project.definitions(),
        project.instance(),
        list(request.asset_selection or []),
        request.partition_key,
    )
    assert result.success, failure_messages(result)

    table = pq.read_table(
        project.data / "lake/hellodata/rent_survey_by_market/2024-01-01/data.parquet"
    )
    assert table.num_rows == 3 == ledger.get(job.id).vendor_rows
    assert table.column("number_units_sum").to_pylist() == [900, 120, 2000]
    assert table.column("number_units_max").to_pylist() == [300, 120, 410]
    assert table.column("asking_rent_avg").to_pylist() == [1510.25, None, 1700.0]
    landed = ledger.get(job.id)
    assert landed.state is JobState.INGESTED and landed.rows == 3
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [c.metadata for c in checks]
    assert keys.table_key("hellodata", "rent_survey_by_market") in request.asset_selection
