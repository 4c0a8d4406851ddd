"""Killed processes lose nothing (issue 14): SIGKILL at the worst moment, restart, and check.

Each test runs the deployment's processes as children: ``dagster-daemon`` over a small catalog
(its sensors tick every second), the run workers its code server spawns, the webhook receiver.
The sandbox holds a process where the test wants it (a download dripped, a status poll or a
submit's answer held, a delivery blocked on the ledger); the test SIGKILLs it there and lets the
restart or the recovery run. Then: each partition landed once with the sandbox generator's rows,
the vendor was asked for one export, no partial Parquet was ever visible, and every ledger job is
in a state that is an outcome, its events telling how it got there.
"""

import os
import signal
import sqlite3
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from dagster._core.definitions.selector import (
    PartitionRangeSelector,
    PartitionsByAssetSelector,
    PartitionsSelector,
)
from dagster._core.execution.backfill import PartitionBackfill

from export_pipelines.demo import processes
from export_pipelines.demo.verify import comparable_rows
from export_pipelines.ledger import JobState
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.sensor import RELAUNCH_AFTER
from export_pipelines.sandbox.config import EnterpretSandboxConfig
from export_pipelines.sandbox.hellodata import SANDBOX_VENDOR as HELLODATA_SANDBOX
from export_pipelines.sandbox.hellodata.config import HelloDataSandboxConfig
from export_pipelines.sandbox.hellodata.simulator import Attempt
from export_pipelines.sandbox.rebilly import SANDBOX_VENDOR as REBILLY_SANDBOX
from export_pipelines.sandbox.rebilly.config import RebillySandboxConfig
from export_pipelines.sandbox.registry import registered
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.hellodata.resource import WEBHOOK_PUBLIC_URL_ENV
from export_pipelines_tests.pipeline import kill_support as kill
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import (
    expected_ids,
    failure_messages,
    materialize,
    parquet_ids,
)
from export_pipelines_tests.pipeline.rebilly_support import (
    expected_rows,
    load_catalog,
    table_rows,
    write_catalog_project,
)
from export_pipelines_tests.sandbox_setup import sandbox_config

#: Enterpret's simulated account holds these two days only, 12,000 records each: a table write
#: of a day lasts long enough to be caught midway.
ENTERPRET_DAYS = ("2024-03-01", "2024-03-02")
ENTERPRET_RECORDS = 24_000
PAGE_SIZE = 3_000

CATALOG = textwrap.dedent(
    f"""\
    type: export_pipelines.catalog.VendorConnection
    attributes: {{vendor: enterpret, poll_every_seconds: 1}}
    ---
    type: export_pipelines.catalog.AsyncExport
    attributes:
      vendor: enterpret
      export: feedback_daily
      partitioning: daily
      start: "2024-01-01"
      pool: enterpret
      request: {{pageSize: {PAGE_SIZE}}}
    ---
    type: export_pipelines.catalog.VendorConnection
    attributes: {{vendor: rebilly, poll_every_seconds: 1}}
    ---
    type: export_pipelines.catalog.AsyncExport
    attributes:
      vendor: rebilly
      export: transactions_daily
      partitioning: daily
      start: "2024-01-01"
      pool: rebilly
      request: {{name: transactions daily, resource: transactions, format: csv}}
    ---
    type: export_pipelines.catalog.VendorConnection
    attributes: {{vendor: hellodata, poll_every_seconds: 1}}
    ---
    type: export_pipelines.catalog.AsyncExport
    attributes:
      vendor: hellodata
      export: rent_by_market
      partitioning: monthly
      start: "2024-01-01"
      pool: hellodata
      request:
        format: csv
        name: Rent by market
        dataset:
          scopes:
            - {{column: msa}}
            - {{column: as_of_month}}
            - {{column: asking_rent, aggregate: Avg}}
          filters:
            - {{column: state, filter: {{in: [TN, GA]}}}}
    """
)
LOCATION = "killed_catalog"

#: How long an orphaned code server is left to end the tick it was evaluating (its held poll
#: answers after 6 s) before the test reaps it.
ORPHAN_TICK_SECONDS = 15.0


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    first = datetime.fromisoformat(ENTERPRET_DAYS[0]).replace(tzinfo=UTC)
    config = sandbox_config(
        enterpret=EnterpretSandboxConfig(
            completion_delay_seconds=0.5,
            record_count=ENTERPRET_RECORDS,
            dataset_start=first,
            dataset_end=first.replace(day=first.day + len(ENTERPRET_DAYS)),
        ),
        rebilly=RebillySandboxConfig(queued_seconds=0.2, completion_delay_seconds=0.5),
        hellodata=HelloDataSandboxConfig(
            completion_delay_seconds=2.0,
            allow_loopback_webhooks=True,
            webhook_backoff_seconds=2.0,
        ),
    )
    with SandboxServer(config) as server:
        yield server


class Catalog:
    """The test's catalog as a code location, and the daemon that serves it."""

    def __init__(self, project: Project, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        module = write_catalog_project(root, CATALOG, name=LOCATION, folder="vendors")
        monkeypatch.syspath_prepend(str(root))
        self.definitions = load_catalog(module)
        kill.tighten_monitoring(project.home)
        workspace = kill.catalog_workspace(project.home, root, module, LOCATION)
        env = {**os.environ, **project.env, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
        self.daemon = kill.Daemon(project, workspace, env)
        self.instance = project.instance()
        self.ledger = project.ledger()  # its tables exist before the daemon's processes open it

    def request(self, vendor: str, export: str, partition: str) -> None:
        key = keys.request_key(vendor, export)
        result = materialize(self.definitions, self.instance, [key], partition)
        assert result.success, failure_messages(result)


@pytest.fixture
def catalog(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    return Catalog(project, tmp_path / LOCATION, monkeypatch)


class TableWatch:
    """Looks at a partition's table location every few milliseconds while the test runs: every
    file ever seen there must be a whole Parquet file (its footer readable) of ``rows`` rows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: list[int] = []
        self.broken: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            if not self.path.exists():
                continue
            try:
                self.seen.append(pq.read_metadata(self.path).num_rows)
            except FileNotFoundError:
                continue
            except Exception as exc:
                self.broken.append(f"{type(exc).__name__}: {exc}")

    def __enter__(self) -> "TableWatch":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _staged(folder: Path) -> list[Path]:
    """A write in progress at the table location: the writer's temporaries or the staged file."""
    try:
        return [p for p in folder.iterdir() if "staged" in p.name]
    except FileNotFoundError:
        return []


def _parts(folder: Path) -> list[Path]:
    """Downloads in progress: ``.part`` files holding at least a byte."""
    if not folder.exists():
        return []
    return [p for p in folder.rglob("*.part") if p.stat().st_size > 0]


@pytest.mark.slow
def test_a_run_killed_mid_download_then_mid_write_lands_once_and_nothing_partial_shows(
    project: Project, catalog: Catalog
) -> None:
    sandbox, ledger, instance = project.sandbox, catalog.ledger, catalog.instance
    day = ENTERPRET_DAYS[0]
    table = project.data / "lake" / "enterpret" / "feedback_daily" / day / "data.parquet"
    meter = kill.Meter(sandbox)
    jobs_before = len(sandbox.enterpret.jobs())
    # One file of the export comes at 20 KB/s, so the first ingest run is caught downloading it.
    sandbox.add_fault("enterpret", "file", drip_bytes_per_second=20_000, times=1)
    with TableWatch(table) as watch, catalog.daemon.running() as daemon:
        catalog.request("enterpret", "feedback_daily", day)
        (job,) = ledger.jobs(vendor="enterpret")

        def attempt_running(n: int) -> dg.DagsterRun | None:
            assert daemon.alive(), daemon.log_tail()
            runs = kill.runs_of_job(instance, job)
            if len(runs) >= n and kill.run_worker_pid(instance, runs[n - 1].run_id):
                return runs[n - 1]
            return None

        first = kill.wait_for("the first ingest run", lambda: attempt_running(1))
        raw = project.data / "raw" / "enterpret" / "feedback_daily" / day
        kill.wait_for("a download in progress", lambda: _parts(raw))
        pid = kill.run_worker_pid(instance, first.run_id)
        assert pid is not None
        kill.kill_descendant(pid, daemon.pid)
        assert not table.exists()

        # The code server marks the dead run failed; the sensor relaunches it (attempt 2), whose
        # download resumes from the bytes on disk and whose table write is caught midway.
        second = kill.wait_for("the second ingest run", lambda: attempt_running(2))
        second_pid = kill.run_worker_pid(instance, second.run_id)
        assert second_pid is not None
        writing = kill.wait_for("the table being written", lambda: _staged(table.parent))
        kill.kill_descendant(second_pid, daemon.pid, signal.SIGSTOP)
        held = _staged(table.parent)
        assert held and not table.exists(), (writing, held)
        kill.kill_descendant(second_pid, daemon.pid)
        assert not table.exists()

        daemon.wait_until_ingested("the partition to land", instance, ledger, job, runs=None)

    runs = kill.runs_of_job(instance, job)
    assert [r.tags[keys.INGEST_ATTEMPT_TAG] for r in runs] == ["1", "2", "3"]
    assert [r.status for r in runs] == [
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.SUCCESS,
    ]
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    want = expected_ids(sandbox, start, start.replace(day=start.day + 1))
    assert parquet_ids(table) == want and len(want) > 0
    landed_job = ledger.get(job.id)
    assert landed_job.rows == len(want) and landed_job.attempt == 1
    # Never a partial file at the location; the killed writer's temporaries were swept.
    assert watch.broken == [] and set(watch.seen) == {len(want)}
    assert _staged(table.parent) == [] and list(table.parent.iterdir()) == [table]
    # The vendor was asked for one export, once.
    assert len(sandbox.enterpret.jobs()) == jobs_before + 1
    assert meter.route("enterpret", "POST", "/submit")["served"] == 1
    story = kill.details(landed_job)
    assert "ingest run 1 requested" in story
    assert f"ingest run {runs[0].run_id} failed; relaunch 2" in story
    assert f"ingest run {runs[1].run_id} failed; relaunch 3" in story
    kill.assert_settled(ledger)


@pytest.mark.slow
@pytest.mark.parametrize("alone", [False, True], ids=["with-its-code-server", "alone"])
def test_the_daemon_killed_mid_poll_adopts_the_job_when_it_restarts(
    project: Project, catalog: Catalog, alone: bool
) -> None:
    """Killed with its process group, the poll dies with it and the restarted daemon polls again.
    Killed alone, its orphaned code server may finish the tick (record the completion, then ask for
    the ingest run, an answer nobody receives) or be cut off with its caller, whichever gRPC does
    first; in every case the restarted daemon lands the job once, without a second submit, and a
    completion the orphan recorded is launched at once."""
    sandbox, ledger, instance = project.sandbox, catalog.ledger, catalog.instance
    day = ENTERPRET_DAYS[1]
    meter = kill.Meter(sandbox)
    jobs_before = len(sandbox.enterpret.jobs())
    # The first status poll is held by the vendor: the daemon dies while waiting for it.
    sandbox.add_fault("enterpret", "fetch", delay_seconds=6 if alone else 20, times=1)
    fetch = ("enterpret", "POST", "/fetch")
    catalog.request("enterpret", "feedback_daily", day)
    (job,) = ledger.jobs(vendor="enterpret")
    orphans = None
    with catalog.daemon.running() as daemon:
        kill.wait_for("a status poll in flight", lambda: meter.route(*fetch)["in_flight"] == 1)
        if alone:
            orphans = daemon.kill_alone()
        else:
            daemon.kill()
    try:
        if alone:
            # The held poll ends after 6 s; give the orphan's tick time to record what it got.
            time.sleep(ORPHAN_TICK_SECONDS)
            kill.reap_group(orphans)
            orphans = None
            left = ledger.get(job.id)
            assert left.state in (JobState.RUNNING, JobState.COMPLETED), left.state
            assert kill.runs_of_job(instance, job) == []
        else:
            assert ledger.get(job.id).state is JobState.RUNNING

        with catalog.daemon.running() as daemon:
            daemon.wait_until_ingested("the adopted job to land", instance, ledger, job)
    finally:
        if orphans is not None:
            kill.reap_group(orphans)

    (run,) = kill.runs_of_job(instance, job)
    assert run.status is dg.DagsterRunStatus.SUCCESS
    landed_job = ledger.get(job.id)
    if alone and left.state is JobState.COMPLETED:
        # Launched by the restarted daemon's first ticks, not after the grace for manual runs.
        record = instance.get_run_record_by_id(run.run_id)
        assert landed_job.completed_at is not None and record is not None
        assert record.create_timestamp - landed_job.completed_at < RELAUNCH_AFTER / 2
    table = project.data / "lake" / "enterpret" / "feedback_daily" / day / "data.parquet"
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    want = expected_ids(sandbox, start, start.replace(day=start.day + 1))
    assert parquet_ids(table) == want and landed_job.rows == len(want) > 0
    # Polled (again, after a restart that lost the poll), never submitted again.
    assert len(sandbox.enterpret.jobs()) == jobs_before + 1
    assert meter.route("enterpret", "POST", "/submit")["served"] == 1
    polls = meter.route(*fetch)
    assert polls["served"] + polls["in_flight"] >= (1 if alone else 2)  # the held one counts
    assert landed_job.polls >= 1 and landed_job.attempt == 1
    assert kill.details(landed_job).count("ingest run 1 requested") == 1
    kill.assert_settled(ledger)


def _backfill_request(catalog: Catalog, vendor: str, export: str, partition: str) -> str:
    """The backfill the UI's "Materialize" of one partition adds: the daemon launches its run."""
    backfill_id = uuid.uuid4().hex[:8]
    backfill = PartitionBackfill.from_partitions_by_assets(
        backfill_id=backfill_id,
        asset_graph=catalog.definitions.resolve_asset_graph(),
        backfill_timestamp=time.time(),
        tags={},
        dynamic_partitions_store=catalog.instance,
        partitions_by_assets=[
            PartitionsByAssetSelector(
                asset_key=keys.request_key(vendor, export),
                partitions=PartitionsSelector(
                    ranges=[PartitionRangeSelector(start=partition, end=partition)]
                ),
            )
        ],
        title=f"{vendor}/{export} {partition}",
        description=None,
        run_config=None,
    )
    catalog.instance.add_backfill(backfill)
    return backfill_id


@pytest.mark.slow
def test_a_request_run_killed_before_recording_the_vendors_answer_adopts_the_vendors_job(
    project: Project, catalog: Catalog
) -> None:
    sandbox, ledger, instance = project.sandbox, catalog.ledger, catalog.instance
    day = "2024-03-05"
    meter = kill.Meter(sandbox)
    rebilly = sandbox.simulator(REBILLY_SANDBOX)
    exports_before = {e.id for e in rebilly.exports()}
    # The vendor creates the export, then holds its answer: the run dies in between.
    sandbox.add_fault("rebilly", "create", after_processing=True, delay_seconds=12, times=1)
    with catalog.daemon.running() as daemon:
        backfill_id = _backfill_request(catalog, "rebilly", "transactions_daily", day)

        def held() -> dg.DagsterRun | None:
            assert daemon.alive(), daemon.log_tail()
            created = [e for e in rebilly.exports() if e.id not in exports_before]
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
            if created and runs and meter.route("rebilly", "POST", "/data-exports")["in_flight"]:
                return runs[0]
            return None

        request_run = kill.wait_for("the vendor to hold its answer to the submit", held)
        (job,) = ledger.jobs(vendor="rebilly")
        assert job.state is JobState.SUBMITTING and job.vendor_job_id is None
        pid = kill.run_worker_pid(instance, request_run.run_id)
        assert pid is not None
        kill.kill_descendant(pid, daemon.pid)

        def ended() -> dg.DagsterRun | None:
            run = instance.get_run_by_id(request_run.run_id)
            return run if run is not None and run.is_finished else None

        failed = kill.wait_for("the code server to mark the dead run failed", ended)
        assert failed.status is dg.DagsterRunStatus.FAILURE
        assert ledger.get(job.id).vendor_job_id is None

        # Materialized again (as from the UI): the vendor is asked for the job it holds.
        catalog.request("rebilly", "transactions_daily", day)
        adopted_at = datetime.now(UTC)

        daemon.wait_until_ingested("the adopted export to land", instance, ledger, job)

    (created,) = [e for e in rebilly.exports() if e.id not in exports_before]
    landed_job = ledger.get(job.id)
    # Polled and launched by the next tick, not left to the grace for launches a crash lost.
    (ingest,) = kill.runs_of_job(instance, landed_job)
    record = instance.get_run_record_by_id(ingest.run_id)
    assert record is not None and record.create_timestamp - adopted_at < RELAUNCH_AFTER / 2
    assert ledger.jobs(vendor="rebilly") == [landed_job]
    assert landed_job.vendor_job_id == created.id and landed_job.attempt == 1
    create = meter.route("rebilly", "POST", "/data-exports")
    assert create["served"] + create["in_flight"] == 1  # the held answer may still be held
    assert meter.route("rebilly", "GET", "/data-exports")["served"] >= 1
    story = kill.details(landed_job)
    assert (
        f"submit outcome unknown: run {request_run.run_id} ended before it recorded the vendor's "
        "answer to its submit" in story
    )
    assert f"vendor job {created.id} found after an ambiguous submit (created)" in story
    table = project.data / "lake" / "rebilly" / "transactions_daily" / day / "data.parquet"
    rows = table_rows(pq.read_table(table))
    assert rows == expected_rows(sandbox, created.id, landed_job.request_body) and rows
    assert landed_job.rows == len(rows)
    kill.assert_settled(ledger)


@contextmanager
def _ledger_write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Hold the ledger's SQLite write lock: a writer then waits inside its transaction."""
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield connection
        connection.execute("ROLLBACK")
    finally:
        connection.close()


@pytest.mark.slow
def test_the_receiver_killed_mid_delivery_records_the_vendors_retry_once(
    project: Project, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, ledger, instance = project.sandbox, catalog.ledger, catalog.instance
    month = "2024-03-01"
    hellodata = sandbox.simulator(HELLODATA_SANDBOX)
    port = processes.free_port()
    receiver_env = {**os.environ, **project.env}
    logs = project.home.with_name("receiver-logs")
    ledger_file = project.home / "export_ledger.sqlite"
    receiver = processes.receiver_process(env=receiver_env, log_path=logs / "1.log", port=port)
    with receiver as (receiver_child, public):
        monkeypatch.setenv(WEBHOOK_PUBLIC_URL_ENV, public[WEBHOOK_PUBLIC_URL_ENV])
        project.env.update(public)
        catalog.request("hellodata", "rent_by_market", month)
        (job,) = ledger.jobs(vendor="hellodata")
        assert job.vendor_job_id is not None
        receiver_pid = receiver_child.pid
        history = ledger.get(job.id).history
        with _ledger_write_lock(ledger_file):

            def delivering() -> bool:
                attempts = hellodata.get(job.vendor_job_id or "").attempts
                return bool(attempts) and attempts[0].status is None and attempts[0].error is None

            kill.wait_for("the webhook delivery to reach the receiver", delivering)
            time.sleep(1.0)  # the receiver is now waiting inside its ledger transaction
            kill.kill_descendant(receiver_pid, receiver_pid)

            def answered() -> Attempt | None:
                attempt = hellodata.get(job.vendor_job_id or "").attempts[0]
                return attempt if attempt.error else None

            first = kill.wait_for("the vendor to see the delivery fail", answered)
        # The vendor saw the connection end unanswered (not its own timeout), and the ledger
        # holds nothing of the delivery: no row, no event, the job still running.
        assert first.status is None and "Timeout" not in (first.error or ""), first.error
        assert ledger.deliveries("hellodata") == []
        assert ledger.get(job.id).state is JobState.RUNNING
        assert ledger.get(job.id).history == history

    # Restarted where the vendor sends its retries.
    restarted = processes.webhook_receiver(env=receiver_env, log_path=logs / "2.log", port=port)
    with restarted:
        kill.wait_for(
            "the vendor's retry to be recorded",
            lambda: ledger.get(job.id).state is JobState.COMPLETED,
        )
    export = hellodata.get(job.vendor_job_id)
    assert export.attempts[-1].status == 200 and len(export.attempts) >= 2
    assert all(a.status is None for a in export.attempts[:-1])
    ((vendor_job_id, _, outcome, duplicates),) = ledger.deliveries("hellodata")
    assert vendor_job_id == job.vendor_job_id and outcome.startswith("completed")
    assert duplicates == 0

    with catalog.daemon.running() as daemon:
        daemon.wait_until_ingested("the delivered export to land", instance, ledger, job)

    landed_job = ledger.get(job.id)
    table = project.data / "lake" / "hellodata" / "rent_by_market" / month / "data.parquet"
    records = list(
        registered("hellodata").expected_records(
            sandbox.url, job.vendor_job_id, landed_job.request_body
        )
    )
    got, want = comparable_rows(table, records)
    assert got == want and got
    assert landed_job.rows == landed_job.vendor_rows == len(records)
    assert len([e for e in hellodata.exports() if e.query_uuid == job.vendor_job_id]) == 1
    kill.assert_settled(ledger)
