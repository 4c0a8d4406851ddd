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
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from export_pipelines.ledger import JobState
from export_pipelines.pipeline import keys
from export_pipelines.sandbox.config import EnterpretSandboxConfig
from export_pipelines.sandbox.hellodata.config import HelloDataSandboxConfig
from export_pipelines.sandbox.rebilly.config import RebillySandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines_tests.pipeline import kill_support as kill
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import (
    expected_ids,
    failure_messages,
    materialize,
    parquet_ids,
)
from export_pipelines_tests.pipeline.rebilly_support import (
    load_catalog,
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
    return Catalog(project, tmp_path / "catalog", monkeypatch)


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

        def landed() -> bool:
            assert daemon.alive(), daemon.log_tail()
            runs = kill.runs_of_job(instance, job)
            return ledger.get(job.id).state is JobState.INGESTED and all(
                r.is_finished for r in runs
            )

        kill.wait_for("the partition to land", landed)

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
def test_the_daemon_killed_mid_poll_adopts_the_job_when_it_restarts(
    project: Project, catalog: Catalog
) -> None:
    sandbox, ledger, instance = project.sandbox, catalog.ledger, catalog.instance
    day = ENTERPRET_DAYS[1]
    meter = kill.Meter(sandbox)
    jobs_before = len(sandbox.enterpret.jobs())
    # The first status poll is held 20 s by the vendor: the daemon dies while waiting for it.
    sandbox.add_fault("enterpret", "fetch", delay_seconds=20, times=1)
    fetch = ("enterpret", "POST", "/fetch")
    catalog.request("enterpret", "feedback_daily", day)
    (job,) = ledger.jobs(vendor="enterpret")
    with catalog.daemon.running() as daemon:
        kill.wait_for("a status poll in flight", lambda: meter.route(*fetch)["in_flight"] == 1)
        daemon.kill()
    assert ledger.get(job.id).state is JobState.RUNNING

    with catalog.daemon.running() as daemon:

        def landed() -> bool:
            assert daemon.alive(), daemon.log_tail()
            runs = kill.runs_of_job(instance, job)
            return (
                ledger.get(job.id).state is JobState.INGESTED
                and len(runs) == 1
                and runs[0].is_finished
            )

        kill.wait_for("the adopted job to land", landed)

    (run,) = kill.runs_of_job(instance, job)
    assert run.status is dg.DagsterRunStatus.SUCCESS
    landed_job = ledger.get(job.id)
    table = project.data / "lake" / "enterpret" / "feedback_daily" / day / "data.parquet"
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    want = expected_ids(sandbox, start, start.replace(day=start.day + 1))
    assert parquet_ids(table) == want and landed_job.rows == len(want) > 0
    # Polled again after the restart, never submitted again.
    assert len(sandbox.enterpret.jobs()) == jobs_before + 1
    assert meter.route("enterpret", "POST", "/submit")["served"] == 1
    assert meter.route(*fetch)["served"] >= 2
    assert landed_job.polls >= 1 and landed_job.attempt == 1
    kill.assert_settled(ledger)
