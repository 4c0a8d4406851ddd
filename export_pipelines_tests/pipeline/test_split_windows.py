"""Issue 14: a job too large for the vendor is split into sub-window jobs, recursively, and the
partition's one Parquet is written from all of them.

Rebilly fails an export matching more than its record limit with ``failureReason:
record-limit-exceeded`` (the vendor's newer definitions); the sandbox does so past
``max_records``, deterministically. Its invoices are spread evenly, about 18 a day, so with a
limit of 5 a day fails, its halves (about 9) fail, and its quarters (about 4.5) succeed.
"""

import itertools
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from export_pipelines.ledger import JobState
from export_pipelines.pipeline import keys
from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.rebilly.config import RebillySandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import day as day_start
from export_pipelines_tests.pipeline.rebilly_support import expected_rows, table_rows
from export_pipelines_tests.pipeline.recovery_support import (
    arm_failures,
    rebilly_catalog,
    sandbox_exports,
)

MAX_RECORDS = 5


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    vendor = RebillySandboxConfig(
        queued_seconds=0.05, completion_delay_seconds=0.1, max_records=MAX_RECORDS
    )
    with SandboxServer(SandboxConfig(port=0, rebilly=vendor)) as server:  # type: ignore[call-arg]
        yield server


def _exports_within(project: Project, day: str) -> list[dict[str, object]]:
    """The sandbox's exports whose window lies in ``day`` (the day's, its halves, quarters…)."""
    prefix = f"{day}T"
    return [
        e for e in sandbox_exports(project) if e["request"]["dateRange"]["start"].startswith(prefix)
    ]


def test_a_too_large_day_is_fetched_in_sub_windows_into_one_whole_parquet(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = rebilly_catalog(project, tmp_path, monkeypatch, "split_too_large: {max_depth: 3}")
    day, ledger = "2024-03-05", project.ledger()
    started = time.monotonic()
    driver.request(day)
    driver.until_settled(timeout=120)

    jobs = ledger.jobs("rebilly")
    (root,) = [j for j in jobs if j.parent_id is None]
    assert root.state is JobState.SPLIT
    assert "record-limit-exceeded" in (root.error or "")
    halves = [j for j in jobs if j.parent_id == root.id]
    assert [h.state for h in halves] == [JobState.SPLIT, JobState.SPLIT]
    leaves = ledger.leaves(root)
    assert len(leaves) == 4 and all(j.parent_id in {h.id for h in halves} for j in leaves)
    assert {j.state for j in leaves} == {JobState.INGESTED}
    assert all(0 < (j.vendor_rows or 0) <= MAX_RECORDS for j in leaves)
    # The sub-windows tile the day, half-open, with no gap and no overlap.
    start = day_start(day)
    bounds = [(j.window_start, j.window_end) for j in leaves]
    assert bounds[0][0] == start and bounds[-1][1] == start + timedelta(days=1)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    # Each job in the ledger was one export at the vendor: 1 day + 2 halves + 4 quarters.
    assert len(_exports_within(project, day)) == len(jobs) == 7

    # ONE Parquet for the partition, holding exactly the generator's records of the whole day.
    path = project.data / "lake" / "rebilly" / "invoices" / day / "data.parquet"
    table = pq.read_table(path)
    rows = table_rows(table)
    want = expected_rows(project.sandbox, root.vendor_job_id or "", root.request_body)
    assert len(want) > MAX_RECORDS * 2
    assert rows == want
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids))  # no record twice at a sub-window's edge
    assert set(table.column("_vendor_job_id").to_pylist()) == {j.vendor_job_id for j in leaves}
    # One raw+table run, of the split job, after every sub-window finished.
    ingests = [key for key in driver.runs if key.endswith(":ingest")]
    assert ingests == [keys.ingest_run_key("rebilly", root.id)]
    assert driver.runs[ingests[0]].success
    # Raw files of every sub-job kept.
    for leaf in leaves:
        assert all(f.local_path and Path(f.local_path).exists() for f in leaf.files)
    assert time.monotonic() - started < 120

    # A later run of the partition adopts the split: nothing is asked of the vendor again.
    again = driver.request(day)
    assert again.success
    assert len(_exports_within(project, day)) == 7
    assert len(ledger.jobs("rebilly")) == 7


def test_past_the_depth_the_job_stays_failed_saying_so(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = rebilly_catalog(project, tmp_path, monkeypatch, "split_too_large: {max_depth: 1}")
    day, ledger = "2024-03-06", project.ledger()
    driver.request(day)
    driver.until_settled(timeout=120)

    jobs = ledger.jobs("rebilly")
    (root,) = [j for j in jobs if j.parent_id is None]
    assert root.state is JobState.SPLIT
    halves = ledger.leaves(root)
    assert [h.state for h in halves] == [JobState.FAILED, JobState.FAILED]
    for half in halves:
        assert "record-limit-exceeded" in (half.error or "")
        assert "gave up splitting at depth 1 (split_too_large.max_depth = 1)" in (half.error or "")
    assert len(_exports_within(project, day)) == 3
    assert not (project.data / "lake" / "rebilly" / "invoices" / day / "data.parquet").exists()


def test_splitting_off_leaves_a_too_large_job_failed(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = rebilly_catalog(project, tmp_path, monkeypatch, "split_too_large: {max_depth: 0}")
    day, ledger = "2024-03-07", project.ledger()
    driver.request(day)
    driver.until_settled(timeout=60)
    (job,) = ledger.jobs("rebilly")
    assert job.state is JobState.FAILED and "gave up splitting at depth 0" in (job.error or "")
    assert driver.runs == {}


def test_a_sub_window_failing_transiently_is_resubmitted_in_its_place(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = rebilly_catalog(project, tmp_path, monkeypatch, "split_too_large: {max_depth: 3}")
    day, ledger = "2024-03-08", project.ledger()
    # The day and its halves fail on the record limit whatever is armed (the limit comes first);
    # the fourth export created, the first quarter, fails as the vendor's retries running out.
    arm_failures(project, "max-retries-reached", times=4)
    driver.request(day)
    driver.until_settled(timeout=120)

    jobs = ledger.jobs("rebilly")
    (root,) = [j for j in jobs if j.parent_id is None]
    leaves = ledger.leaves(root)
    assert len(leaves) == 4 and {j.state for j in leaves} == {JobState.INGESTED}
    (failed,) = [j for j in jobs if j.state is JobState.SUPERSEDED]
    (replacement,) = [j for j in leaves if j.id == failed.superseded_by]
    assert (replacement.parent_id, replacement.fingerprint) == (
        failed.parent_id,
        failed.fingerprint,
    )
    assert replacement.attempt == 2 and "max-retries-reached" in (failed.error or "")
    assert len(_exports_within(project, day)) == 8
    table = pq.read_table(project.data / "lake" / "rebilly" / "invoices" / day / "data.parquet")
    want = expected_rows(project.sandbox, root.vendor_job_id or "", root.request_body)
    assert table_rows(table) == want
