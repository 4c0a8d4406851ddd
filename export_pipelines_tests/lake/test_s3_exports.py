"""Exports end to end into a lake on S3 (a local moto server over HTTP), run in-process on a real
Dagster instance against the sandbox, and read back with pyarrow's own S3 filesystem.

The same catalog and assets as on local disk: only the lake's settings differ.
"""

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from export_pipelines.ledger import JobState
from export_pipelines.pipeline import keys
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.hienergy.records import NORMALIZERS
from export_pipelines_tests.hienergy_truth import expected_rows, row_differences
from export_pipelines_tests.lake.conftest import S3Project
from export_pipelines_tests.pipeline.helpers import (
    day,
    expected_ids,
    export_keys,
    failure_messages,
    materialize,
)
from export_pipelines_tests.sandbox_setup import hienergy_config, sandbox_config

EXPORT = "feedback_daily"
DAY = "2024-03-05"
TABLE = f"lake/enterpret/{EXPORT}/{DAY}/data.parquet"
RESUBMIT = {"ops": {"enterpret__feedback_daily__request": {"config": {"resubmit": True}}}}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Enterpret and HiEnergy jobs finish within a second; a day of clicks comes in parts."""
    with SandboxServer(sandbox_config(hienergy=hienergy_config(delay_seconds=0.3))) as server:
        yield server


def _ids(lake: S3Project, relative: str) -> list[str]:
    fs = lake.s3.filesystem()
    table = pq.read_table(f"{lake.bucket}/{lake.key(relative)}", filesystem=fs, columns=["id"])
    return table.column("id").to_pylist()


def _local_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _export_into_s3(lake: S3Project) -> None:
    project = lake.project
    result = materialize(
        project.definitions(), project.instance(), export_keys("enterpret", EXPORT), DAY
    )
    assert result.success, failure_messages(result)


def test_an_export_lands_on_s3_with_its_raw_files_and_an_s3_uri(s3_project: S3Project) -> None:
    lake, project = s3_project, s3_project.project
    result = materialize(
        project.definitions(), project.instance(), export_keys("enterpret", EXPORT), DAY
    )
    assert result.success, failure_messages(result)

    want = expected_ids(project.sandbox, day(DAY), day("2024-03-06"))
    assert len(want) > 25  # several raw files at pageSize 25
    assert _ids(lake, TABLE) == want
    (job,) = project.ledger().jobs(export=EXPORT)
    assert job.state is JobState.INGESTED and job.rows == len(want)

    raw_prefix = lake.key(f"raw/enterpret/{EXPORT}/{DAY}/job-{job.id:06d}/")
    objects = lake.s3.keys(lake.bucket, raw_prefix)
    assert objects == {raw_prefix + f.name: f.bytes for f in job.files}
    for f in job.files:
        assert f.local_path == lake.uri(f"raw/enterpret/{EXPORT}/{DAY}/job-{job.id:06d}/{f.name}")
        assert (
            hashlib.sha256(lake.s3.read(lake.bucket, raw_prefix + f.name)).hexdigest() == f.sha256
        )

    table = result.asset_materializations_for_node("enterpret__feedback_daily")[0].metadata
    assert table["dagster/uri"].value == lake.uri(TABLE)
    assert table["path"].value == lake.uri(TABLE)
    assert table["dagster/row_count"].value == len(want)
    assert want[0] in table["preview"].value  # the preview was read back from S3
    raw = result.asset_materializations_for_node("enterpret__feedback_daily__raw")[0].metadata
    assert raw["raw_dir"].value == lake.uri(f"raw/enterpret/{EXPORT}/{DAY}/job-{job.id:06d}")
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [(keys.ROWS_CHECK, True)]

    # Nothing of the lake stays on local disk: scratch copies are gone once uploaded.
    assert _local_files(project.data / "scratch") == []
    assert not list(project.data.rglob("*.parquet")) and not list(project.data.rglob("*.json"))
    assert lake.s3.uploads_in_progress(lake.bucket) == []


def test_a_chunked_hienergy_day_lands_whole_on_s3(s3_project: S3Project) -> None:
    lake, project = s3_project, s3_project.project
    result = materialize(
        project.definitions(), project.instance(), export_keys("hienergy", "clicks_daily"), DAY
    )
    assert result.success, failure_messages(result)
    (job,) = project.ledger().jobs(export="clicks_daily")
    assert job.progress is not None and job.progress[1] >= 3  # delivered in parts
    assert job.vendor_job_id is not None

    schema = NORMALIZERS["clicks_details_excel"].schema
    names = [f.name for f in schema if not f.name.startswith("_")]
    path = f"{lake.bucket}/{lake.key(f'lake/hienergy/clicks_daily/{DAY}/data.parquet')}"
    got = pq.read_table(path, filesystem=lake.s3.filesystem(), columns=names).to_pylist()
    want = expected_rows(project.sandbox.url, job.vendor_job_id, job.request_body)
    assert want and row_differences(got, want) == []
    raw_prefix = lake.key(f"raw/hienergy/clicks_daily/{DAY}/job-{job.id:06d}/")
    assert sorted(lake.s3.keys(lake.bucket, raw_prefix)) == [raw_prefix + f.name for f in job.files]


def test_renormalizing_reads_the_raw_files_back_from_s3(s3_project: S3Project) -> None:
    """With no local disk left (a fresh pod) and the table gone, the table asset alone rebuilds
    the partition from the raw objects: no new vendor export, the same rows."""
    lake, project = s3_project, s3_project.project
    _export_into_s3(lake)
    exports_before = len(project.sandbox.enterpret.jobs())
    first = _ids(lake, TABLE)
    shutil.rmtree(project.data)
    lake.s3.client().delete_object(Bucket=lake.bucket, Key=lake.key(TABLE))

    again = materialize(
        project.definitions(), project.instance(), [keys.table_key("enterpret", EXPORT)], DAY
    )
    assert again.success, failure_messages(again)
    assert _ids(lake, TABLE) == first
    assert len(project.sandbox.enterpret.jobs()) == exports_before
    assert _local_files(project.data / "scratch") == []
    checks = again.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [(keys.ROWS_CHECK, True)]


def _break_first_raw_file_of_a_second_export(lake: S3Project) -> int:
    """A second vendor export of the partition, downloaded, whose first raw object on S3 then
    lacks the vendor's ``records`` array; returns its ledger job id."""
    project = lake.project
    again = materialize(
        project.definitions(),
        project.instance(),
        [keys.request_key("enterpret", EXPORT), keys.raw_key("enterpret", EXPORT)],
        DAY,
        run_config=RESUBMIT,
    )
    assert again.success, failure_messages(again)
    job = project.ledger().jobs(export=EXPORT)[-1]
    assert job.state is JobState.DOWNLOADED and len(job.files) > 1
    key = lake.key(f"raw/enterpret/{EXPORT}/{DAY}/job-{job.id:06d}/{job.files[0].name}")
    lake.s3.client().put_object(Bucket=lake.bucket, Key=key, Body=json.dumps({"data": []}))
    return job.id


def test_a_failed_normalize_keeps_the_previous_table_object(s3_project: S3Project) -> None:
    lake, project = s3_project, s3_project.project
    _export_into_s3(lake)
    good = lake.s3.read(lake.bucket, lake.key(TABLE))
    job_id = _break_first_raw_file_of_a_second_export(lake)

    failed = materialize(
        project.definitions(), project.instance(), [keys.table_key("enterpret", EXPORT)], DAY
    )
    assert not failed.success
    message = failure_messages(failed)
    assert f"ledger job {job_id}" in message and "left as it was" in message
    assert lake.s3.read(lake.bucket, lake.key(TABLE)) == good
    assert lake.s3.uploads_in_progress(lake.bucket) == []
    assert _local_files(project.data / "scratch") == []
    assert project.ledger().get(job_id).state is JobState.DOWNLOADED
    assert not failed.asset_materializations_for_node("enterpret__feedback_daily")


def test_a_failed_first_normalize_leaves_no_table_object(s3_project: S3Project) -> None:
    lake, project = s3_project, s3_project.project
    downloaded = materialize(
        project.definitions(),
        project.instance(),
        [keys.request_key("enterpret", EXPORT), keys.raw_key("enterpret", EXPORT)],
        DAY,
    )
    assert downloaded.success, failure_messages(downloaded)
    (job,) = project.ledger().jobs(export=EXPORT)
    key = lake.key(f"raw/enterpret/{EXPORT}/{DAY}/job-{job.id:06d}/{job.files[-1].name}")
    lake.s3.client().put_object(Bucket=lake.bucket, Key=key, Body=b'{"records": [{"id": 1')

    failed = materialize(
        project.definitions(), project.instance(), [keys.table_key("enterpret", EXPORT)], DAY
    )
    assert not failed.success
    assert job.files[-1].name in failure_messages(failed)
    assert lake.s3.keys(lake.bucket, lake.key("lake/")) == {}
    assert lake.s3.uploads_in_progress(lake.bucket) == []
    assert _local_files(project.data / "scratch") == []


def test_a_broken_download_publishes_nothing_and_the_next_run_completes(
    s3_project: S3Project,
) -> None:
    """Every file download breaks midway (past the transport's retries): the raw run fails with
    the bytes that arrived kept only in scratch space, never as a partial object; once the vendor's
    file host behaves, the next run lands the export whole."""
    lake, project = s3_project, s3_project.project
    requested = materialize(
        project.definitions(), project.instance(), [keys.request_key("enterpret", EXPORT)], DAY
    )
    assert requested.success, failure_messages(requested)
    project.sandbox.add_fault("enterpret", "file", cut_after_bytes=1000, times=10_000)
    broken = materialize(
        project.definitions(),
        project.instance(),
        [keys.raw_key("enterpret", EXPORT), keys.table_key("enterpret", EXPORT)],
        DAY,
    )
    assert not broken.success
    assert "kept breaking" in failure_messages(broken)
    assert lake.s3.keys(lake.bucket) == {}
    assert lake.s3.uploads_in_progress(lake.bucket) == []

    project.sandbox.clear_faults()
    fixed = materialize(
        project.definitions(),
        project.instance(),
        [keys.raw_key("enterpret", EXPORT), keys.table_key("enterpret", EXPORT)],
        DAY,
    )
    assert fixed.success, failure_messages(fixed)
    assert _ids(lake, TABLE) == expected_ids(project.sandbox, day(DAY), day("2024-03-06"))
    assert _local_files(project.data / "scratch") == []
