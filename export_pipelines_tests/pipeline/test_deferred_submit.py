"""A submit refused because the vendor's quota is spent for hours is deferred to the reset, not
failed: the request run succeeds saying when, later submits of the vendor are deferred without
asking it, and the status sensor asks for each deferred submit once its time has come.

Against the sandbox over HTTP and the real ledger: the refusal is a 429 with ``Retry-After: 7200``
injected on the vendor's submit route (the fault mechanism of
``test_status_sensor.py::test_a_quota_spent_for_hours_defers_the_vendors_polls_to_the_reset``),
far beyond the transport's ``max_retry_after_seconds`` (120 s). Two hours cannot pass in a test, so
"the reset has come" is the ledger's ``not_before`` moved into the past.
"""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest

from export_pipelines.ledger import JobRecord, JobState, LedgerResource, SubmitRecord
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.sensor import build_status_sensor
from export_pipelines.sandbox.hellodata.config import HelloDataSandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.base import VendorResource
from export_pipelines.vendors.enterpret.resource import EnterpretResource
from export_pipelines.vendors.hellodata.resource import WEBHOOK_PUBLIC_URL_ENV, HelloDataResource
from export_pipelines.webhooks import ReceiverSettings
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import (
    day,
    expected_ids,
    failure_messages,
    materialize,
    parquet_ids,
    reset_passed,
    run_request,
)
from export_pipelines_tests.pipeline.kill_support import Meter
from export_pipelines_tests.sandbox_setup import sandbox_config
from export_pipelines_tests.webhooks.conftest import receiving

REQUEST = keys.request_key("enterpret", "feedback_daily")
RAW = keys.raw_key("enterpret", "feedback_daily")
HOURS_2 = 7200


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Enterpret finishes a job within half a second; HelloData calls back a loopback receiver."""
    hellodata = HelloDataSandboxConfig(completion_delay_seconds=0.3, allow_loopback_webhooks=True)
    with SandboxServer(sandbox_config(hellodata=hellodata)) as server:
        yield server


def _request(
    project: Project, partition: str | None, key: dg.AssetKey = REQUEST
) -> dg.ExecuteInProcessResult:
    result = materialize(project.definitions(), project.instance(), [key], partition)
    assert result.success, failure_messages(result)
    return result


def _said(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """The request asset's materialization metadata, as plain values."""
    [materialization] = result.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    return {name: value.value for name, value in metadata.items()}


def _logs(project: Project, result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(e.user_message for e in project.instance().all_logs(result.run_id))


def _vendor_jobs_for(project: Project, partition: str) -> list[str]:
    start = int(day(partition).timestamp())
    return [
        job.query_id
        for job in project.sandbox.enterpret.jobs()
        if project.sandbox.enterpret.summary(job.query_id)["window_start"] == start
    ]


def _only_job(project: Project, partition: str, vendor: str = "enterpret") -> JobRecord:
    [job] = [j for j in project.ledger().jobs(vendor=vendor) if j.partition_key == partition]
    return job


def _tick(project: Project, vendor: str, resource: VendorResource) -> Any:
    with dg.build_sensor_context(
        instance=project.instance(),
        resources={vendor: resource, "ledger": LedgerResource()},
        definitions=project.definitions(),
    ) as context:
        return build_status_sensor(vendor).evaluate_tick(context)


def _enterpret(project: Project) -> EnterpretResource:
    return EnterpretResource(
        base_url=project.sandbox.base_url("enterpret"),
        api_key=project.sandbox.api_key("enterpret"),
    )


def _run(project: Project, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    result = run_request(project.definitions(), project.instance(), request)
    assert result.success, failure_messages(result)
    return result


def _deferred_requests(result: Any) -> list[dg.RunRequest]:
    """The tick's request runs for deferred jobs: of one job, or of a range of them."""
    return [
        r
        for r in result.run_requests or []
        if keys.DEFERRED_OF_TAG in r.tags or keys.DEFERRED_JOBS_TAG in r.tags
    ]


def test_a_submit_refused_for_hours_is_deferred_and_its_run_succeeds(project: Project) -> None:
    partition = "2024-03-11"
    spent = project.sandbox.add_fault("enterpret", "submit", status=429, retry_after=HOURS_2)
    asked = datetime.now(UTC)

    result = _request(project, partition)

    said = _said(result)
    assert (said["action"], said["state"], said["vendor_job_id"]) == ("deferred", "deferred", None)
    not_before = datetime.fromisoformat(said["not_before"])
    assert asked + timedelta(seconds=HOURS_2 - 5) < not_before
    assert not_before < datetime.now(UTC) + timedelta(seconds=HOURS_2 + 5)
    logs = _logs(project, result)
    assert f"deferred until {not_before:%Y-%m-%d %H:%M:%S} UTC" in logs
    assert "when the status sensor submits it" in logs
    job = _only_job(project, partition)
    assert (job.state, job.not_before, job.vendor_job_id) == (JobState.DEFERRED, not_before, None)
    assert "HTTP 429" in (job.error or "") and "7200 s" in (job.error or "")
    assert job.submit_outcome is None and not job.possible_orphan
    assert spent.fired == 1 and _vendor_jobs_for(project, partition) == []  # nothing created

    # Its raw asset, materialized by hand, says why there is nothing to download and when.
    raw = materialize(project.definitions(), project.instance(), [RAW], partition)
    assert not raw.success
    message = failure_messages(raw)
    assert f"ledger job {job.id} is not submitted yet (enterpret's quota was spent)" in message
    assert f"deferred until {not_before:%Y-%m-%d %H:%M:%S} UTC" in message
    assert "the status sensor submits it" in message


def test_while_the_quota_is_spent_another_submit_is_deferred_without_asking_the_vendor(
    project: Project,
) -> None:
    project.sandbox.add_fault("enterpret", "submit", status=429, retry_after=HOURS_2)
    _request(project, "2024-03-12")
    first = _only_job(project, "2024-03-12")
    meter = Meter(project.sandbox)
    # Armed for every further submit: any that reached the vendor would fire it.
    watch = project.sandbox.add_fault("enterpret", "submit", status=429, retry_after=1, times=100)

    result = _request(project, "2024-03-13")

    said = _said(result)
    assert (said["action"], said["state"]) == ("deferred", "deferred")
    assert said["not_before"] == first.not_before.isoformat()  # type: ignore[union-attr]
    assert "so the vendor was not asked" in _logs(project, result)
    second = _only_job(project, "2024-03-13")
    assert (second.state, second.not_before) == (JobState.DEFERRED, first.not_before)
    assert "not sent" in (second.error or "")
    assert watch.fired == 0
    assert meter.route("enterpret", "POST", "/async/submit")["served"] == 0
    assert _vendor_jobs_for(project, "2024-03-13") == []


def test_the_sensor_submits_each_deferred_job_once_its_time_has_come_and_it_lands(
    project: Project,
) -> None:
    days = ["2024-03-14", "2024-03-15"]
    spent = project.sandbox.add_fault("enterpret", "submit", status=429, retry_after=HOURS_2)
    for partition in days:
        _request(project, partition)
    jobs = [_only_job(project, partition) for partition in days]
    assert {job.state for job in jobs} == {JobState.DEFERRED} and spent.fired == 1

    # Before the reset: the sensor asks for nothing.
    early = _tick(project, "enterpret", _enterpret(project))
    assert _deferred_requests(early) == [] and not early.run_requests

    reset_passed(project.ledger().url, *jobs)
    due = _tick(project, "enterpret", _enterpret(project))
    # The two days are adjacent: one request run over both, as a backfill's would be.
    [request] = _deferred_requests(due)
    assert [request] == due.run_requests
    ids = [job.id for job in jobs]
    assert request.run_key == keys.deferred_batch_run_key("enterpret", ids, 1)
    assert request.tags[keys.DEFERRED_JOBS_TAG] == ",".join(map(str, ids))
    assert (
        request.tags["dagster/asset_partition_range_start"],
        request.tags["dagster/asset_partition_range_end"],
    ) == (days[0], days[-1])
    assert list(request.asset_selection or []) == [REQUEST]

    result = _run(project, request)
    assert result.success
    actions = {
        event.materialization.partition: event.materialization.metadata["action"].value
        for event in result.get_asset_materialization_events()
    }
    assert actions == dict.fromkeys(days, "submitted")
    for job, partition in zip(jobs, days, strict=True):
        submitted = project.ledger().get(job.id)  # the same ledger job, taken up again
        assert submitted.state in (JobState.RUNNING, JobState.COMPLETED)
        assert (submitted.attempt, submitted.submit_outcome) == (1, SubmitRecord.CREATED)
        assert submitted.not_before is None and submitted.deferrals == 1
        assert _vendor_jobs_for(project, partition) == [submitted.vendor_job_id]
        assert [
            j.id for j in project.ledger().jobs("enterpret") if j.partition_key == partition
        ] == [job.id]

    # Further ticks ask for no submit again; the partitions land.
    launched: set[str] = set()
    ingested: list[int] = []
    give_up = time.monotonic() + 60
    while any(project.ledger().get(j.id).state is not JobState.INGESTED for j in jobs):
        assert time.monotonic() < give_up, [project.ledger().get(j.id).state for j in jobs]
        tick = _tick(project, "enterpret", _enterpret(project))
        assert _deferred_requests(tick) == []
        for request in tick.run_requests or []:
            if request.run_key not in launched:
                launched.add(request.run_key or "")
                ingested += keys.ingested_jobs(request.tags)
                _run(project, request)
        time.sleep(0.2)
    # One raw+table run each (or one over both days, when they finish in the same tick).
    assert sorted(ingested) == sorted(job.id for job in jobs)
    for partition in days:
        path = project.data / f"lake/enterpret/feedback_daily/{partition}/data.parquet"
        next_day = (day(partition) + timedelta(days=1)).date().isoformat()
        assert parquet_ids(path) == expected_ids(project.sandbox, day(partition), day(next_day))
    for partition in days:
        assert len(_vendor_jobs_for(project, partition)) == 1  # one create each, in all


def test_a_callback_vendors_deferred_submit_is_asked_for_by_its_sensor_and_lands(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HelloData: its 429 says when in ``RateLimit: …;t=<seconds>``; its sensor polls nothing."""
    ledger, sandbox, partition = project.ledger(), project.sandbox, "2024-03-01"
    request_key = keys.request_key("hellodata", "rent_survey_by_market")
    key = sandbox.api_key("hellodata")
    resource = HelloDataResource(base_url=sandbox.base_url("hellodata"), api_key=key)
    with receiving(ReceiverSettings(ledger_url=ledger.url, secrets={"hellodata": key})) as r:
        monkeypatch.setenv(WEBHOOK_PUBLIC_URL_ENV, r.url)
        spent = sandbox.add_fault(
            "hellodata", "export", status=429, headers={"RateLimit": f'"default";r=0;t={HOURS_2}'}
        )
        said = _said(_request(project, partition, request_key))
        assert (said["action"], said["state"]) == ("deferred", "deferred") and spent.fired == 1
        job = _only_job(project, partition, "hellodata")
        assert job.state is JobState.DEFERRED

        assert not _tick(project, "hellodata", resource).run_requests  # not due yet
        reset_passed(project.ledger().url, job)
        [request] = _tick(project, "hellodata", resource).run_requests
        assert request.run_key == keys.deferred_run_key("hellodata", job.id, 1)
        assert request.tags[keys.DEFERRED_OF_TAG] == str(job.id)
        assert _said(_run(project, request))["action"] == "submitted"

        # The sandbox calls the receiver back; the next ticks launch the raw+table run once.
        give_up = time.monotonic() + 60
        while ledger.get(job.id).state is not JobState.COMPLETED:
            assert time.monotonic() < give_up, ledger.get(job.id)
            time.sleep(0.2)
        [ingest] = _tick(project, "hellodata", resource).run_requests
        assert ingest.run_key == keys.ingest_run_key("hellodata", job.id, 1)
        _run(project, ingest)
    landed = ledger.get(job.id)
    assert landed.state is JobState.INGESTED and landed.rows == landed.vendor_rows
    assert [j.id for j in ledger.jobs("hellodata")] == [job.id]
