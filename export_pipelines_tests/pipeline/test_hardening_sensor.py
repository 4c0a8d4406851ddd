"""The status sensor under trouble (issue 6, items 4 and 9): one broken answer, failed ingest runs.

Runs are real: the raw+table run a tick requests is executed in-process on the instance with the
request's tags, against the sandbox, and fails where the sandbox is told to refuse the files.
"""

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import httpx
import pytest

from export_pipelines.ledger import JobState, Ledger, LedgerResource
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.sensor import GAVE_UP, build_status_sensor
from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.enterpret.resource import EnterpretResource
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import failure_messages, run_request


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Jobs here finish only when a test completes them."""
    config = SandboxConfig(port=0, enterpret=EnterpretSandboxConfig(completion_delay_seconds=600))
    with SandboxServer(config) as server:
        yield server


def _submit(project: Project, ledger: Ledger, partition: str) -> int:
    start = datetime.fromisoformat(partition).replace(tzinfo=UTC)
    end = start.replace(day=start.day + 1)
    body = {
        "listRecords": {
            "timerange": {"startTime": int(start.timestamp()), "endTime": int(end.timestamp())}
        },
        "pageSize": 25,
    }
    job, _ = ledger.claim(
        vendor="enterpret",
        export="feedback_daily",
        partition_key=partition,
        partitioned=True,
        window=(start, end),
        fingerprint=partition.ljust(64, "0"),
        body=body,
        window_fixed=True,
        run_id=None,
    )
    ledger.mark_submitted(job.id, project.sandbox.enterpret.submit(body).query_id)
    return job.id


def _tick(project: Project, sensor: dg.SensorDefinition, base_url: str | None = None):
    resource = EnterpretResource(
        base_url=base_url or project.sandbox.base_url("enterpret"),
        api_key=project.sandbox.api_key("enterpret"),
        max_attempts=1,
    )
    with dg.build_sensor_context(
        instance=project.instance(),
        resources={"enterpret": resource, "ledger": LedgerResource()},
        definitions=project.definitions(),
    ) as context:
        return sensor.evaluate_tick(context)


def _run(project: Project, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    return run_request(project.definitions(), project.instance(), request)


class _BrokenGzipProxy(http.server.ThreadingHTTPServer):
    """Forwards to the sandbox, except that ``fetch`` of one queryID answers 200 with a body that
    claims gzip and is not (what a broken proxy or vendor edge sends now and then)."""

    def __init__(self, upstream: str, broken_query_id: str) -> None:
        self.upstream = upstream
        self.broken_query_id = broken_query_id
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: _BrokenGzipProxy

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.endswith("/fetch") and json.loads(body).get("queryID") == (
            self.server.broken_query_id
        ):
            self._answer(200, b"\x1f\x8b this is not a gzip stream", {"Content-Encoding": "gzip"})
            return
        upstream = httpx.post(
            self.server.upstream + self.path,
            content=body,
            headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
        )
        self._answer(upstream.status_code, upstream.content, {})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_one_broken_fetch_answer_does_not_stop_the_tick(
    project: Project, capfd: pytest.CaptureFixture[str]
) -> None:
    ledger = project.ledger()
    broken = _submit(project, ledger, "2024-03-01")
    done = _submit(project, ledger, "2024-03-02")
    project.sandbox.enterpret.complete(ledger.get(done).vendor_job_id)
    proxy = _BrokenGzipProxy(
        project.sandbox.base_url("enterpret"), ledger.get(broken).vendor_job_id
    )
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        result = _tick(project, build_status_sensor("enterpret"), base_url=proxy.base_url)
    finally:
        proxy.shutdown()
        proxy.server_close()

    [request] = result.run_requests
    assert request.run_key == keys.ingest_run_key("enterpret", done)
    assert ledger.get(done).state is JobState.COMPLETED
    assert ledger.get(broken).state is JobState.RUNNING
    logged = capfd.readouterr().err
    # The transport names the broken body (an undecodable gzip) as an answer it could not read.
    assert f"(ledger job {broken}) failed: OutcomeUnknown" in logged
    assert "DecodingError" in logged
    assert "1 failed to poll" in logged


def test_a_failed_ingest_run_is_relaunched_under_a_new_key_until_it_works(
    project: Project,
) -> None:
    ledger = project.ledger()
    job_id = _submit(project, ledger, "2024-03-04")
    project.sandbox.enterpret.complete(ledger.get(job_id).vendor_job_id)
    sensor = build_status_sensor("enterpret")

    [first] = _tick(project, sensor).run_requests
    assert first.run_key == keys.ingest_run_key("enterpret", job_id, 1)
    assert ledger.get(job_id).ingest_attempt == 1
    project.sandbox.add_fault("enterpret", "file", status=404, times=1000)
    failed = _run(project, first)
    assert not failed.success and "404" in failure_messages(failed)
    assert ledger.get(job_id).state is JobState.COMPLETED

    [second] = _tick(project, sensor).run_requests
    assert second.run_key == keys.ingest_run_key("enterpret", job_id, 2)
    assert second.run_key != first.run_key
    assert second.tags[keys.INGEST_ATTEMPT_TAG] == "2"
    job = ledger.get(job_id)
    assert job.ingest_attempt == 2
    assert any(f"ingest run {failed.run_id} failed; relaunch 2" == d for _, _, d in job.history)
    # Not launched yet (no daemon here): asked again under the same key, which the daemon
    # launches once; no new attempt.
    [again] = _tick(project, sensor).run_requests
    assert again.run_key == second.run_key and ledger.get(job_id).ingest_attempt == 2

    project.sandbox.clear_faults()
    worked = _run(project, second)
    assert worked.success, failure_messages(worked)
    assert ledger.get(job_id).state is JobState.INGESTED
    assert _tick(project, sensor).run_requests == []


def test_relaunches_stop_at_the_maximum_and_say_so_once(project: Project) -> None:
    ledger = project.ledger()
    job_id = _submit(project, ledger, "2024-03-05")
    project.sandbox.enterpret.complete(ledger.get(job_id).vendor_job_id)
    sensor = build_status_sensor("enterpret", max_ingest_attempts=2)
    project.sandbox.add_fault("enterpret", "file", status=404, times=1000)

    [first] = _tick(project, sensor).run_requests
    assert not _run(project, first).success
    [second] = _tick(project, sensor).run_requests
    last = _run(project, second)
    assert not last.success

    assert _tick(project, sensor).run_requests == []
    assert _tick(project, sensor).run_requests == []
    job = ledger.get(job_id)
    assert job.state is JobState.COMPLETED and job.ingest_attempt == 2
    assert (job.error or "").startswith(GAVE_UP) and last.run_id in (job.error or "")
    gave_up = [d for _, _, d in job.history if d and GAVE_UP in d]
    assert len(gave_up) == 1
