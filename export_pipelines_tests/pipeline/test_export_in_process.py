"""The catalog's Enterpret exports against the sandbox, run in-process on a real instance."""

from datetime import timedelta

import pyarrow.parquet as pq

from export_pipelines.ledger import JobState, SubmitRecord
from export_pipelines.pipeline import keys
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import (
    day,
    expected_ids,
    export_keys,
    failure_messages,
    materialize,
    parquet_ids,
)

REQUEST = keys.request_key("enterpret", "feedback_daily")


def test_materializing_the_request_twice_leaves_one_vendor_job(project: Project) -> None:
    definitions, instance = project.definitions(), project.instance()
    before = len(project.sandbox.enterpret.jobs())
    first = materialize(definitions, instance, [REQUEST], "2024-03-04")
    second = materialize(definitions, instance, [REQUEST], "2024-03-04")
    assert first.success and second.success, failure_messages(first) + failure_messages(second)

    assert len(project.sandbox.enterpret.jobs()) == before + 1
    jobs = project.ledger().jobs(export="feedback_daily")
    assert len(jobs) == 1 and jobs[0].state is JobState.RUNNING
    actions = [
        r.asset_materializations_for_node("enterpret__feedback_daily__request")[0]
        .metadata["action"]
        .value
        for r in (first, second)
    ]
    assert actions == ["submitted", "adopted"]
    assert jobs[0].submit_outcome is SubmitRecord.CREATED
    outcome = first.asset_materializations_for_node("enterpret__feedback_daily__request")[0]
    assert outcome.metadata["submit_outcome"].value == "created"
    summary = project.sandbox.enterpret.summary(jobs[0].vendor_job_id)
    assert (summary["window_start"], summary["window_end"]) == (
        int(day("2024-03-04").timestamp()),
        int(day("2024-03-05").timestamp()),
    )

    resubmitted = materialize(
        definitions,
        instance,
        [REQUEST],
        "2024-03-04",
        run_config={"ops": {"enterpret__feedback_daily__request": {"config": {"resubmit": True}}}},
    )
    assert resubmitted.success, failure_messages(resubmitted)
    assert len(project.sandbox.enterpret.jobs()) == before + 2
    states = sorted(j.state.value for j in project.ledger().jobs(export="feedback_daily"))
    assert states == ["running", "superseded"]


def test_materialize_all_writes_exactly_the_sandbox_records(project: Project) -> None:
    result = materialize(
        project.definitions(),
        project.instance(),
        export_keys("enterpret", "feedback_daily"),
        "2024-03-05",
    )
    assert result.success, failure_messages(result)

    path = project.data / "lake/enterpret/feedback_daily/2024-03-05/data.parquet"
    want = expected_ids(project.sandbox, day("2024-03-05"), day("2024-03-06"))
    assert len(want) > 25  # more than one file at pageSize 25
    assert parquet_ids(path) == want

    job = project.ledger().jobs(export="feedback_daily")[0]
    assert job.state is JobState.INGESTED and job.rows == len(want)
    assert len(job.files) == -(-len(want) // 25)
    raw_files = sorted((project.data / "raw/enterpret/feedback_daily/2024-03-05").rglob("*.json"))
    assert [p.name for p in raw_files] == [f.name for f in job.files]

    table = pq.read_table(path)
    assert set(table.column("_vendor_job_id").to_pylist()) == {job.vendor_job_id}
    first = next(project.sandbox.enterpret.dataset.records(day("2024-03-05"), day("2024-03-06")))
    row = table.slice(0, 1).to_pylist()[0]
    assert row["source"] == first["source"] and row["type"] == first["type"]
    assert int(row["source_timestamp"].timestamp()) == int(first["sourceTimestamp"])

    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [(keys.ROWS_CHECK, True)]
    materialization = result.asset_materializations_for_node("enterpret__feedback_daily")[0]
    assert materialization.metadata["dagster/row_count"].value == len(want)


def test_a_filtered_weekly_export_holds_exactly_the_matching_records(project: Project) -> None:
    definitions = project.definitions()
    result = materialize(
        definitions,
        project.instance(),
        export_keys("enterpret", "store_reviews_weekly"),
        "2024-03-03",
    )
    assert result.success, failure_messages(result)
    job = project.ledger().jobs(export="store_reviews_weekly")[0]
    filter_query = job.request_body["listRecords"]["filter"]
    want = expected_ids(
        project.sandbox, day("2024-03-03"), day("2024-03-03") + timedelta(days=7), filter_query
    )
    assert want
    path = project.data / "lake/enterpret/store_reviews_weekly/2024-03-03/data.parquet"
    assert parquet_ids(path) == want


def test_a_refused_key_fails_the_request_naming_the_vendor_never_the_key(
    project: Project, monkeypatch
) -> None:
    secret = "sk-wrong-but-secret-123456"
    monkeypatch.setenv("ENTERPRET_API_KEY", secret)
    result = materialize(project.definitions(), project.instance(), [REQUEST], "2024-03-06")
    assert not result.success
    message = failure_messages(result)
    assert "enterpret" in message and "401" in message
    assert secret not in message
    for event in result.all_events:
        assert secret not in str(event)
    job = project.ledger().jobs(export="feedback_daily")[0]
    assert job.state is JobState.FAILED and secret not in (job.error or "")


def test_raw_before_any_request_says_what_to_do(project: Project) -> None:
    result = materialize(
        project.definitions(),
        project.instance(),
        [keys.raw_key("enterpret", "feedback_daily")],
        "2024-03-07",
    )
    assert not result.success
    assert "materialize enterpret/feedback_daily/request first" in failure_messages(result)


def test_expired_urls_cut_downloads_and_throttling_are_survived(project: Project) -> None:
    sandbox = project.sandbox
    sandbox.add_fault("enterpret", "fetch", status=429, times=1, retry_after=1)
    sandbox.add_fault("enterpret", "fetch", status=503, times=1)
    sandbox.add_fault("enterpret", "file", status=403, times=1)
    sandbox.add_fault("enterpret", "file", cut_after_bytes=700, times=2)
    result = materialize(
        project.definitions(),
        project.instance(),
        export_keys("enterpret", "feedback_daily"),
        "2024-03-08",
    )
    assert result.success, failure_messages(result)
    path = project.data / "lake/enterpret/feedback_daily/2024-03-08/data.parquet"
    assert parquet_ids(path) == expected_ids(sandbox, day("2024-03-08"), day("2024-03-09"))
    job = project.ledger().jobs(export="feedback_daily")[0]
    assert any(detail == "file URLs refreshed" for _, _, detail in job.history)
