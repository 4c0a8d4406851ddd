"""Submits whose answer is lost, and submits that never left (issue 6, items 2, 5 and 8).

Everything runs against the sandbox over HTTP and the real ledger: the ambiguous submit is a real
read timeout on a submit the sandbox goes on to process, so the vendor really holds the job the
client never heard of.
"""

import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from export_pipelines.ledger import JobState, SubmitRecord
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.spec import ExportSpec
from export_pipelines.pipeline.steps import StepFailed
from export_pipelines.pipeline.submission import submit_or_adopt
from export_pipelines.pipeline.window import Target, fingerprint
from export_pipelines.transport import RetryPolicy
from export_pipelines.vendors.base import Window
from export_pipelines.vendors.enterpret.client import EnterpretClient
from export_pipelines.vendors.enterpret.request import EnterpretRequest
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import failure_messages, materialize

REQUEST = keys.request_key("enterpret", "feedback_daily")
REQUEST_OP = "enterpret__feedback_daily__request"
RESUBMIT = {"ops": {REQUEST_OP: {"config": {"resubmit": True}}}}


def _spec() -> ExportSpec:
    """The catalog's ``feedback_daily`` (same body, so the same claim as its request asset)."""
    return ExportSpec(
        vendor="enterpret",
        name="feedback_daily",
        description="",
        cadence="daily",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=None,
        timezone="UTC",
        pool=None,
        request=EnterpretRequest(pageSize=25),
    )


def _target(partition: str) -> Target:
    start = datetime.fromisoformat(partition).replace(tzinfo=UTC)
    return Target(partition, True, Window(start, start + timedelta(days=1)))


def _client(project: Project, timeout: float = 30.0) -> EnterpretClient:
    return EnterpretClient(
        base_url=project.sandbox.base_url("enterpret"),
        api_key=project.sandbox.api_key("enterpret"),
        timeout_seconds=timeout,
        retry=RetryPolicy(max_attempts=3, base_delay_seconds=0.05),
    )


def _vendor_jobs_for(project: Project, partition: str) -> list[str]:
    start = int(datetime.fromisoformat(partition).replace(tzinfo=UTC).timestamp())
    return [
        job.query_id
        for job in project.sandbox.enterpret.jobs()
        if project.sandbox.enterpret.summary(job.query_id)["window_start"] == start
    ]


def _wait_for_vendor_jobs(project: Project, partition: str, count: int) -> list[str]:
    """The sandbox processes a held submit after the client gave up; wait (bounded) for it."""
    deadline = time.monotonic() + 30
    while len(found := _vendor_jobs_for(project, partition)) < count:
        assert time.monotonic() < deadline, f"the sandbox never created job {count}"
        time.sleep(0.1)
    return found


def test_a_submit_timing_out_after_the_vendor_processed_it_is_not_submitted_again(
    project: Project,
) -> None:
    spec, ledger, partition = _spec(), project.ledger(), "2024-03-11"
    # The sandbox holds the submit past the client's timeout, then processes it anyway.
    project.sandbox.add_fault(
        "enterpret", "submit", delay_seconds=1.5, times=1, after_processing=True
    )
    with pytest.raises(StepFailed, match="may have created the export"):
        submit_or_adopt(
            spec,
            _target(partition),
            ledger=ledger,
            client=_client(project, timeout=0.5),
            run_id="run-a",
        )
    [orphan_id] = _wait_for_vendor_jobs(project, partition, 1)
    [job] = ledger.jobs(export="feedback_daily")
    assert job.state is JobState.SUBMITTING and job.submit_outcome is SubmitRecord.AMBIGUOUS
    assert job.possible_orphan and "ReadTimeout" in (job.error or "")
    assert any("submit outcome unknown" in (d or "") for _, _, d in job.history)

    # The re-run (here a real materialization) refuses: Enterpret cannot be asked for the job.
    rerun = materialize(project.definitions(), project.instance(), [REQUEST], partition)
    assert not rerun.success
    message = failure_messages(rerun)
    assert f"ledger job {job.id} has an unknown outcome" in message
    assert "may hold an orphan job" in message and "`resubmit: true`" in message
    assert _vendor_jobs_for(project, partition) == [orphan_id]
    assert ledger.get(job.id).state is JobState.SUBMITTING

    # Resubmitting on purpose submits once more and records the possible orphan.
    forced = materialize(
        project.definitions(), project.instance(), [REQUEST], partition, run_config=RESUBMIT
    )
    assert forced.success, failure_messages(forced)
    [_, new_vendor_job] = _wait_for_vendor_jobs(project, partition, 2)
    old, new = ledger.jobs(export="feedback_daily")
    assert new.state is JobState.RUNNING and new.vendor_job_id == new_vendor_job
    assert new.submit_outcome is SubmitRecord.CREATED and new.attempt == 2
    assert old.state is JobState.SUPERSEDED and old.superseded_by == new.id
    assert old.possible_orphan and old.submit_outcome is SubmitRecord.AMBIGUOUS
    assert f"as ledger job {new.id}" in old.history[-1][2]
    assert "orphan" in old.history[-1][2]


def test_a_submit_answered_500_after_processing_is_ambiguous_too(project: Project) -> None:
    spec, ledger, partition = _spec(), project.ledger(), "2024-03-12"
    project.sandbox.add_fault("enterpret", "submit", status=500, times=1, after_processing=True)
    with pytest.raises(StepFailed, match="HTTP 500"):
        submit_or_adopt(
            spec, _target(partition), ledger=ledger, client=_client(project), run_id=None
        )
    [orphan] = _wait_for_vendor_jobs(project, partition, 1)
    [job] = ledger.jobs(export="feedback_daily")
    assert job.submit_outcome is SubmitRecord.AMBIGUOUS and job.state is JobState.SUBMITTING
    with pytest.raises(StepFailed, match="may hold an orphan"):
        submit_or_adopt(
            spec, _target(partition), ledger=ledger, client=_client(project), run_id=None
        )
    assert _vendor_jobs_for(project, partition) == [orphan]


def test_a_submit_refused_by_the_vendor_releases_the_claim(project: Project) -> None:
    spec, ledger, partition = _spec(), project.ledger(), "2024-03-13"
    project.sandbox.add_fault("enterpret", "submit", status=400, times=1)
    with pytest.raises(StepFailed, match="HTTP 400"):
        submit_or_adopt(
            spec, _target(partition), ledger=ledger, client=_client(project), run_id=None
        )
    again = submit_or_adopt(
        spec, _target(partition), ledger=ledger, client=_client(project), run_id=None
    )
    assert again.submitted and again.job.state is JobState.RUNNING
    first = ledger.get(again.job.id - 1)
    assert first.state is JobState.FAILED and not first.possible_orphan


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_submit_that_never_left_releases_the_partition_at_once(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connection refused: the claim is taken, the submit never leaves, the claim is released."""
    monkeypatch.setenv("ENTERPRET_BASE_URL", f"http://127.0.0.1:{_closed_port()}/enterpret")
    partition = "2024-03-14"
    failed = materialize(project.definitions(), project.instance(), [REQUEST], partition)
    assert not failed.success
    assert "failed before the request reached the vendor" in failure_messages(failed)
    [job] = project.ledger().jobs(export="feedback_daily")
    assert job.state is JobState.FAILED and job.error and job.error.startswith("not sent")

    monkeypatch.setenv("ENTERPRET_BASE_URL", project.sandbox.base_url("enterpret"))
    retried = materialize(project.definitions(), project.instance(), [REQUEST], partition)
    assert retried.success, failure_messages(retried)
    _, fresh = project.ledger().jobs(export="feedback_daily")
    assert fresh.state is JobState.RUNNING and fresh.attempt == 2


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ENTERPRET_BASE_URL", "htp://127.0.0.1:9/enterpret"),  # a scheme httpx refuses
        ("ENTERPRET_API_KEY", "sk-line\nbreak-secret-42"),  # a header value h11 refuses
    ],
    ids=["bad-scheme", "bad-header"],
)
def test_unsendable_settings_are_refused_before_any_claim(
    project: Project, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """The resource refuses such settings when it is built, so no ledger job is claimed at all
    (nothing blocks the partition) and the value is never shown."""
    monkeypatch.setenv(variable, value)
    partition = "2024-03-17"
    failed = materialize(project.definitions(), project.instance(), [REQUEST], partition)
    assert not failed.success
    assert variable in failure_messages(failed)
    assert "secret-42" not in failure_messages(failed) and "htp:" not in failure_messages(failed)
    assert project.ledger().jobs(export="feedback_daily") == []

    monkeypatch.setenv("ENTERPRET_BASE_URL", project.sandbox.base_url("enterpret"))
    monkeypatch.setenv("ENTERPRET_API_KEY", project.sandbox.api_key("enterpret"))
    retried = materialize(project.definitions(), project.instance(), [REQUEST], partition)
    assert retried.success, failure_messages(retried)
    [fresh] = project.ledger().jobs(export="feedback_daily")
    assert fresh.state is JobState.RUNNING and fresh.attempt == 1


def test_a_job_left_submitting_by_a_run_that_ended_is_ambiguous_at_once(project: Project) -> None:
    spec, ledger, partition = _spec(), project.ledger(), "2024-03-15"
    target = _target(partition)
    body = spec.adapter.build_body(spec.request, target.window)
    job, _ = ledger.claim(
        vendor="enterpret",
        export="feedback_daily",
        partition_key=partition,
        partitioned=True,
        window=(target.window.start, target.window.end) if target.window else None,
        fingerprint=fingerprint("enterpret", "feedback_daily", body),
        body=body,
        window_fixed=True,
        run_id="run-that-was-killed",
    )
    client = _client(project)

    with pytest.raises(StepFailed, match="another run is submitting"):
        submit_or_adopt(
            spec, target, ledger=ledger, client=client, run_id="b", run_finished=lambda _: False
        )
    assert ledger.get(job.id).submit_outcome is None

    with pytest.raises(StepFailed, match="may hold an orphan job"):
        submit_or_adopt(
            spec, target, ledger=ledger, client=client, run_id="b", run_finished=lambda _: True
        )
    after = ledger.get(job.id)
    assert after.submit_outcome is SubmitRecord.AMBIGUOUS and after.possible_orphan
    assert "run run-that-was-killed ended" in (after.error or "")
    assert _vendor_jobs_for(project, partition) == []
