"""Connhex's standing (``type: recurring``) exports through the pipeline, against the sandbox over
HTTP and a real Dagster instance: one vendor request for the whole export, each run's jobs landing
in the partition of their window.

The sandbox's clock is set half an hour behind the last partition's end, so the vendor has made the
runs of the first two partitions (missed runs are made at once) and not yet the third's; the test
moves the clock on to see that one turn done. Each partition's Parquet is compared with the
generator's points of exactly that partition's window, computed here from the generator alone.
Also: two partitions of a fresh export racing to create the request, a job the vendor fails (and
the partition resubmitted as a one-off), a create whose answer was lost, and the catalog's own
standing export as the demo lands and verifies it.
"""

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest

from export_pipelines import settings
from export_pipelines.catalog import AsyncExport
from export_pipelines.lake import LakeResource
from export_pipelines.ledger import JobState, Ledger, LedgerResource, StandingState, SubmitRecord
from export_pipelines.ledger.store import default_ledger_url
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.assets import build_export_assets
from export_pipelines.pipeline.sensor import build_status_sensor
from export_pipelines.pipeline.spec import ExportSpec
from export_pipelines.pipeline.standing import record_slot
from export_pipelines.pipeline.window import Target
from export_pipelines.sandbox import SandboxServer
from export_pipelines.sandbox.connhex import ConnhexGenerator, ConnhexSandboxConfig, GeneratorParams
from export_pipelines.vendors.base import Window
from export_pipelines.vendors.connhex.resource import ConnhexResource
from export_pipelines_tests.pipeline.helpers import (
    export_keys,
    failure_messages,
    materialize,
    reset_passed,
    run_request,
)
from export_pipelines_tests.sandbox_setup import sandbox_config

PROJECT = Path(__file__).resolve().parents[2]
HOUR = timedelta(hours=1)
EXPORT = "points_standing"
PARTITION_FORMAT = "%Y-%m-%d-%H:%M"


@dataclass
class Standing:
    sandbox: SandboxServer
    data: Path
    spec: ExportSpec
    definitions: dg.Definitions
    resource: ConnhexResource
    #: The first partition's start; partitions 0, 1 and 2 are the three hours from there.
    start: datetime

    def window(self, k: int) -> Window:
        return Window(self.start + k * HOUR, self.start + (k + 1) * HOUR)

    def partition(self, k: int) -> str:
        return self.window(k).start.strftime(PARTITION_FORMAT)

    def control(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.sandbox.url}/_sandbox/connhex", timeout=60)

    def api(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.sandbox.api_key('connhex')}"}
        return httpx.Client(base_url=self.sandbox.base_url("connhex"), headers=headers, timeout=60)

    def ledger(self) -> Ledger:
        return Ledger(default_ledger_url())

    def recurring_requests(self) -> list[dict[str, Any]]:
        with self.api() as api:
            answer = api.get("/exports", params={"type": "recurring"}).raise_for_status().json()
        return list(answer["results"])

    def all_requests(self) -> int:
        with self.api() as api:
            return len(api.get("/exports").raise_for_status().json()["results"])


def _generator(sandbox: SandboxServer) -> ConnhexGenerator:
    """The deployment's generator, rebuilt from the parameters its control endpoint reports."""
    params = httpx.get(f"{sandbox.url}/_sandbox/connhex/generator", timeout=10)
    return ConnhexGenerator(GeneratorParams.from_dict(params.raise_for_status().json()))


def _export_document(start: datetime, generator: ConnhexGenerator) -> dict[str, Any]:
    """An hourly standing export of two items (two devices on two channels)."""
    items = [
        {
            "filename": f"device-{n}",
            "params": {
                "target": {"value": generator.publishers[n]},
                "channelId": generator.channels[n],
                "subtopic": "events.data",
                "outputFormat": "long",
            },
        }
        for n in (0, 1)
    ]
    return {
        "vendor": "connhex",
        "export": EXPORT,
        "partitioning": "hourly",
        "start": start.isoformat(),
        "request": {"type": "recurring", "format": {"extension": "csv"}, "items": items},
    }


@contextmanager
def _standing_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, vendor_behind: bool
) -> Iterator[Standing]:
    """Three hourly partitions ending at the current hour; with ``vendor_behind`` the vendor's
    clock at half past partition 1's run, so partition 2's run is not made yet."""
    now = datetime.now(UTC)
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    start = this_hour - 3 * HOUR
    offset = ((this_hour - HOUR / 2) - now).total_seconds() if vendor_behind else 0.0
    config = sandbox_config(
        connhex=ConnhexSandboxConfig(
            clock_offset_seconds=offset, queued_seconds=0.05, completion_delay_seconds=0.1
        )
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(tmp_path / "data"))
    monkeypatch.delenv(settings.LEDGER_URL_ENV, raising=False)
    with SandboxServer(config) as server:
        resource = ConnhexResource(
            base_url=server.base_url("connhex"),
            api_key=server.api_key("connhex"),
            wait_timeout_seconds=60,
            poll_interval_seconds=0.1,
        )
        spec = AsyncExport.model_validate(_export_document(start, _generator(server))).to_spec()
        definitions = dg.Definitions(
            assets=build_export_assets(spec),
            resources={"connhex": resource, "ledger": LedgerResource(), "lake": LakeResource()},
            executor=dg.in_process_executor,
        )
        yield Standing(server, tmp_path / "data", spec, definitions, resource, start)


@pytest.fixture
def standing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Standing]:
    with _standing_export(tmp_path, monkeypatch, vendor_behind=True) as export:
        yield export


@pytest.fixture
def standing_in_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Standing]:
    """The vendor's clock is ours (a lost create is looked for by its creation time)."""
    with _standing_export(tmp_path, monkeypatch, vendor_behind=False) as export:
        yield export


def _materialize(
    standing: Standing, k: int, selection: list[dg.AssetKey] | None = None
) -> dg.ExecuteInProcessResult:
    return materialize(
        standing.definitions,
        dg.DagsterInstance.get(),
        selection or export_keys("connhex", EXPORT),
        standing.partition(k),
    )


def _points(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Points as comparable tuples, in one order (the file's order is the vendor's)."""
    times = pd.to_datetime(frame["time"], utc=True).map(lambda t: int(t.timestamp()))
    rows = zip(
        times,
        frame["publisher"],
        frame["channel"],
        frame["name"],
        frame["unit"],
        frame["value"].round(9),
        strict=True,
    )
    return sorted(rows)


def _expected(standing: Standing, generator: ConnhexGenerator, k: int) -> list[tuple[Any, ...]]:
    """The generator's points of both items' series in exactly partition k's window."""
    window = standing.window(k)
    start, end = int(window.start.timestamp()), int(window.end.timestamp())
    frames = [generator.frame([n], n, range(4), start, end, arrival_order=True) for n in (0, 1)]
    points = pd.concat(frames, ignore_index=True)
    points["time"] = pd.to_datetime(points["time"], unit="s", utc=True)
    return _points(points)


def _table(standing: Standing, k: int) -> pd.DataFrame:
    path = standing.data / "lake" / "connhex" / EXPORT / standing.partition(k) / "data.parquet"
    return pq.read_table(path).to_pandas()


def _tick(standing: Standing) -> list[dg.RunRequest]:
    sensor = build_status_sensor("connhex", minimum_interval_seconds=1)
    with dg.build_sensor_context(
        instance=dg.DagsterInstance.get(),
        resources={"connhex": standing.resource, "ledger": LedgerResource()},
        definitions=standing.definitions,
    ) as context:
        return list(sensor.evaluate_tick(context).run_requests or [])


def _tick_until_launched(standing: Standing, seconds: float = 30) -> list[dg.RunRequest]:
    give_up = time.monotonic() + seconds
    while not (runs := _tick(standing)) and time.monotonic() < give_up:
        time.sleep(0.2)
    return runs


def test_partitions_in_any_order_share_one_standing_request(standing: Standing) -> None:
    generator = _generator(standing.sandbox)
    # The partition whose run the vendor has not made yet goes first: only its slot is recorded.
    pending = _materialize(standing, 2, [keys.request_key("connhex", EXPORT)])
    assert pending.success, failure_messages(pending)
    for k in (1, 0):
        result = _materialize(standing, k)
        assert result.success, failure_messages(result)

    (request,) = standing.recurring_requests()
    assert standing.all_requests() == 1  # nothing else was submitted for any partition
    assert request["periodicity"] == "PT1H"
    assert request["periodStart"] == int((standing.start + HOUR).timestamp())
    ledger = standing.ledger()
    (record,) = ledger.standing_requests("connhex")
    assert (record.state, record.vendor_request_id) == (StandingState.CREATED, request["id"])
    jobs = {job.partition_key: job for job in ledger.jobs(vendor="connhex")}
    assert sorted(jobs) == sorted(standing.partition(k) for k in range(3))
    for k in range(3):
        job = jobs[standing.partition(k)]
        start = int(standing.window(k).start.timestamp())
        assert job.vendor_job_id == f"{request['id']}@{start}"
        assert (job.submit_outcome, job.attempt) == (SubmitRecord.STANDING, 1)
    for k in (0, 1):
        assert jobs[standing.partition(k)].state is JobState.INGESTED
        table = _table(standing, k)
        assert len(table) == jobs[standing.partition(k)].rows
        assert _points(table) == _expected(standing, generator, k) != []
        # Two items: two ZIPs, one per item's job of that run.
        assert len(jobs[standing.partition(k)].files) == 2

    # The vendor has not run partition 2's hour: polled, it stays running, never failed.
    assert _tick(standing) == []
    assert ledger.get(jobs[standing.partition(2)].id).state is JobState.RUNNING

    with standing.control() as control:
        control.post("/clock/advance", json={"seconds": 3600}).raise_for_status()
    (run,) = _tick_until_launched(standing)
    assert run.partition_key == standing.partition(2)
    assert run.tags[keys.LEDGER_JOB_TAG] == str(jobs[standing.partition(2)].id)
    result = _materialize(
        standing, 2, [keys.raw_key("connhex", EXPORT), keys.table_key("connhex", EXPORT)]
    )
    assert result.success, failure_messages(result)
    assert _points(_table(standing, 2)) == _expected(standing, generator, 2) != []
    assert len(standing.recurring_requests()) == 1
    assert standing.all_requests() == 1
    assert [r.id for r in ledger.standing_requests()] == [record.id]


def test_concurrent_partitions_of_a_fresh_export_create_one_standing_request(
    standing: Standing,
) -> None:
    # The create is held a second, so the second run finds the first one's claim in flight.
    standing.sandbox.add_fault("connhex", "create", delay_seconds=1.0, times=2)
    barrier = threading.Barrier(2)
    outcomes: dict[int, Any] = {}

    def request(k: int) -> None:
        barrier.wait()
        try:
            with standing.resource.client() as client:
                window = standing.window(k)
                submission, record = record_slot(
                    standing.spec,
                    Target(standing.partition(k), True, window),
                    ledger=standing.ledger(),
                    client=client,
                    run_id=f"run-{k}",
                )
                outcomes[k] = (submission.job, record)
        except Exception as exc:
            outcomes[k] = exc

    threads = [threading.Thread(target=request, args=(k,)) for k in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert all(isinstance(o, tuple) for o in outcomes.values()), outcomes
    (request_,) = standing.recurring_requests()
    assert {record.vendor_request_id for _, record in outcomes.values()} == {request_["id"]}
    assert {job.vendor_job_id.split("@")[0] for job, _ in outcomes.values()} == {request_["id"]}
    assert len(standing.ledger().standing_requests()) == 1


def test_a_job_the_vendor_fails_fails_its_partition_with_the_vendors_reason(
    standing: Standing,
) -> None:
    with standing.control() as control:
        # The first job the sandbox makes fails: item 0's job of the first run (partition 0).
        control.post("/fail-next", json={"times": 1}).raise_for_status()
    result = _materialize(standing, 0)
    assert not result.success
    messages = failure_messages(result)
    (request,) = standing.recurring_requests()
    failed = next(job for job in request["jobs"] if job["status"] == "failed")
    assert failed["itemIndex"] == 0
    assert f"job {failed['id']} (item 0) failed" in messages
    assert f"recurring export {request['id']}" in messages
    (job,) = standing.ledger().jobs(vendor="connhex")
    assert job.state is JobState.FAILED
    assert failed["id"] in (job.error or "")
    # The partition after it is unaffected: its own run's jobs are done.
    later = _materialize(standing, 1)
    assert later.success, failure_messages(later)
    assert standing.all_requests() == 1

    # As the failure advises, ``resubmit: true`` asks for the failed partition's window once.
    resubmit = {"ops": {f"connhex__{EXPORT}__request": {"config": {"resubmit": True}}}}
    again = materialize(
        standing.definitions,
        dg.DagsterInstance.get(),
        export_keys("connhex", EXPORT),
        standing.partition(0),
        run_config=resubmit,
    )
    assert again.success, failure_messages(again)
    assert standing.all_requests() == 2 and len(standing.recurring_requests()) == 1
    generator = _generator(standing.sandbox)
    assert _points(_table(standing, 0)) == _expected(standing, generator, 0) != []


def test_the_catalogs_standing_export_lands_as_the_demo_verifies_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog's ``raw_points_hourly_recurring`` for the demo's partitions, on a sandbox
    capped as the demo's is: the Parquet holds exactly what the demo's verifier says the vendor
    made for each run (``expected_records`` of the slot)."""
    from export_pipelines.definitions import defs
    from export_pipelines.demo.runner import DEMO_FROM, plan
    from export_pipelines.demo.verify import lake_problems

    export = "raw_points_hourly_recurring"
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(tmp_path / "data"))
    monkeypatch.delenv(settings.LEDGER_URL_ENV, raising=False)
    config = sandbox_config(connhex=ConnhexSandboxConfig(max_recurring_runs=24))
    with SandboxServer(config) as server:
        monkeypatch.setenv(settings.vendor_base_url_env("connhex"), server.base_url("connhex"))
        monkeypatch.setenv(settings.vendor_api_key_env("connhex"), server.api_key("connhex"))
        definitions = defs()
        launches = [
            launch
            for launch in plan(definitions)
            if launch.key == keys.request_key("connhex", export)
        ]
        assert [launch.partition for launch in launches] == [
            DEMO_FROM.strftime(PARTITION_FORMAT),
            (DEMO_FROM + HOUR).strftime(PARTITION_FORMAT),
        ]
        for launch in launches:
            result = materialize(
                definitions,
                dg.DagsterInstance.get(),
                export_keys("connhex", export),
                launch.partition,
            )
            assert result.success, failure_messages(result)
        jobs = Ledger(default_ledger_url()).jobs(vendor="connhex", export=export)
        assert [job.state for job in jobs] == [JobState.INGESTED] * 2
        assert all(job.rows for job in jobs)
        assert lake_problems(jobs, tmp_path / "data", server.url) == []
        headers = {"Authorization": f"Bearer {server.api_key('connhex')}"}
        listed = httpx.get(
            f"{server.base_url('connhex')}/exports", headers=headers, timeout=30
        ).json()["results"]
        assert [r["type"] for r in listed] == ["recurring"]
        assert len(listed[0]["jobs"]) == 24  # the cap: a day of runs, made at once


def test_a_create_whose_answer_was_lost_is_found_not_made_again(
    standing_in_step: Standing,
) -> None:
    standing = standing_in_step
    # The vendor creates the request, then the answer is a 502: the create's outcome is unknown.
    standing.sandbox.add_fault("connhex", "create", status=502, after_processing=True)
    request = [keys.request_key("connhex", EXPORT)]
    first = _materialize(standing, 0, request)
    assert not first.success
    assert "the next run looks for it first" in failure_messages(first)
    (made,) = standing.recurring_requests()
    (record,) = standing.ledger().standing_requests()
    assert (record.state, record.submit_outcome) == (StandingState.CREATING, SubmitRecord.AMBIGUOUS)

    second = _materialize(standing, 0, request)
    assert second.success, failure_messages(second)
    assert [r["id"] for r in standing.recurring_requests()] == [made["id"]]
    (record,) = standing.ledger().standing_requests()
    assert (record.state, record.vendor_request_id) == (StandingState.CREATED, made["id"])
    (job,) = standing.ledger().jobs(vendor="connhex")
    assert job.vendor_job_id == f"{made['id']}@{int(standing.window(0).start.timestamp())}"


def _run(standing: Standing, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    result = run_request(standing.definitions, dg.DagsterInstance.get(), request)
    assert result.success, failure_messages(result)
    return result


def test_a_create_refused_for_hours_defers_the_partitions_until_the_reset(
    standing: Standing,
) -> None:
    """The vendor's quota is spent (a 429 asking for two hours): the standing request cannot be
    created, so each partition's job is deferred, not failed; once the reset has come the
    sensor asks for the partitions' requests, which create the request once and name the
    slots; the partitions land."""
    spent = standing.sandbox.add_fault("connhex", "create", status=429, retry_after=7200)
    request = [keys.request_key("connhex", EXPORT)]
    first = _materialize(standing, 0, request)
    assert first.success, failure_messages(first)
    [materialization] = first.get_asset_materialization_events()
    said = {k: v.value for k, v in materialization.materialization.metadata.items()}
    assert (said["action"], said["state"], said["standing_request_id"]) == (
        "deferred",
        "deferred",
        None,
    )
    ledger = standing.ledger()
    (record,) = ledger.standing_requests("connhex")
    assert record.state is StandingState.FAILED and "HTTP 429" in (record.error or "")
    # The next partition's create is not even sent while the quota is known to be spent.
    watch = standing.sandbox.add_fault("connhex", "create", status=429, retry_after=1, times=100)
    second = _materialize(standing, 1, request)
    assert second.success, failure_messages(second)
    assert spent.fired == 1 and watch.fired == 0 and standing.all_requests() == 0
    jobs = sorted(ledger.jobs(vendor="connhex"), key=lambda j: j.partition_key)
    assert [j.partition_key for j in jobs] == [standing.partition(0), standing.partition(1)]
    assert all(j.state is JobState.DEFERRED and j.vendor_job_id is None for j in jobs)
    assert jobs[0].not_before == jobs[1].not_before is not None
    assert "so the vendor was not asked" in (jobs[1].error or "")

    assert _tick(standing) == []  # not due before the reset
    standing.sandbox.clear_faults()
    reset_passed(ledger.url, *jobs)
    [due] = _tick(standing)
    assert due.tags[keys.DEFERRED_JOBS_TAG] == f"{jobs[0].id},{jobs[1].id}"
    result = _run(standing, due)
    actions = {
        e.materialization.partition: e.materialization.metadata["action"].value
        for e in result.get_asset_materialization_events()
    }
    assert actions == {standing.partition(0): "recorded", standing.partition(1): "recorded"}
    (made,) = standing.recurring_requests()
    assert standing.all_requests() == 1
    for job, k in zip(jobs, (0, 1), strict=True):
        named = ledger.get(job.id)  # the same ledger job, taken up again
        start = int(standing.window(k).start.timestamp())
        assert named.vendor_job_id == f"{made['id']}@{start}"
        assert named.state in (JobState.RUNNING, JobState.COMPLETED) and named.not_before is None
    assert len(ledger.jobs(vendor="connhex")) == 2

    generator = _generator(standing.sandbox)
    landed: list[int] = []
    give_up = time.monotonic() + 60
    while any(ledger.get(j.id).state is not JobState.INGESTED for j in jobs):
        assert time.monotonic() < give_up, [ledger.get(j.id).state for j in jobs]
        for run in _tick(standing):
            assert keys.DEFERRED_JOBS_TAG not in run.tags and keys.DEFERRED_OF_TAG not in run.tags
            landed += keys.ingested_jobs(run.tags)
            _run(standing, run)
        time.sleep(0.2)
    assert sorted(landed) == [j.id for j in jobs]
    for k in (0, 1):
        assert _points(_table(standing, k)) == _expected(standing, generator, k) != []
