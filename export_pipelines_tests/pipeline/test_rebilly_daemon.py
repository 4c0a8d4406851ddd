"""Rebilly end to end through a real ``dagster-daemon``, against the sandbox.

One catalog exports the same day of transactions in csv, json, json-api and xml, a week as a ZIP
of numbered parts (the sandbox's record limit per file is lowered), and one export the vendor
fails twice: the daemon's sensor resubmits it once by the default retry policy, then gives up. The request runs happen in this process (as a UI launch would); the status sensor's ticks,
the run queue and the raw+table runs are the daemon's. The first pre-signed download is refused
as expired, so one run must read the export again for a fresh link.
"""

import os
import sys
import textwrap
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from export_pipelines import settings
from export_pipelines.demo import processes
from export_pipelines.ledger import JobState
from export_pipelines.pipeline import keys
from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.rebilly.config import RebillySandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines_tests.pipeline.conftest import PROJECT, Project
from export_pipelines_tests.pipeline.helpers import failure_messages, materialize
from export_pipelines_tests.pipeline.rebilly_support import (
    expected_rows,
    load_catalog,
    sandbox_control,
    table_rows,
    write_catalog_project,
)

DAY = "2024-03-04"
WEEK = "2024-03-03"  # Dagster's weekly partitions start on Sunday
FORMATS = {"tx_csv": "csv", "tx_json": "json", "tx_jsonapi": "json-api", "tx_xml": "xml"}
RECORDS_PER_FILE = 40


def _export(name: str, fmt: str, partitioning: str = "daily") -> str:
    return textwrap.dedent(
        f"""\
        type: export_pipelines.catalog.AsyncExport
        attributes:
          vendor: rebilly
          export: {name}
          partitioning: {partitioning}
          start: "2024-01-01"
          request: {{name: {name}, resource: transactions, format: {fmt}}}
        """
    )


CATALOG = "---\n".join(
    [
        "type: export_pipelines.catalog.VendorConnection\n"
        "attributes: {vendor: rebilly, poll_every_seconds: 2}\n",
        *(_export(name, fmt) for name, fmt in FORMATS.items()),
        _export("tx_weekly_zip", "csv", "weekly"),
        _export("tx_failing", "json"),
    ]
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(
        port=0,
        rebilly=RebillySandboxConfig(
            queued_seconds=0.2, completion_delay_seconds=0.5, records_per_file=RECORDS_PER_FILE
        ),
    )
    with SandboxServer(config) as server:
        yield server


@pytest.fixture
def rebilly_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    rebilly_env = {
        settings.vendor_base_url_env("rebilly"): project.sandbox.base_url("rebilly"),
        settings.vendor_api_key_env("rebilly"): project.sandbox.api_key("rebilly"),
    }
    for name, value in rebilly_env.items():
        monkeypatch.setenv(name, value)
    project.env.update(rebilly_env)
    return project


@pytest.mark.slow
def test_the_daemon_lands_every_format_a_zip_of_parts_a_refreshed_link_and_a_failure(
    rebilly_project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = rebilly_project
    root = tmp_path / "rebilly_catalog"
    module = write_catalog_project(root, CATALOG)
    monkeypatch.syspath_prepend(str(root))
    definitions = load_catalog(module)
    (project.home / "workspace.yaml").write_text(
        f"load_from:\n  - python_module:\n      module_name: {module}\n"
        f"      working_directory: {root}\n      location_name: rebilly_catalog\n"
    )
    env = {**os.environ, **project.env, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    instance, ledger = project.instance(), project.ledger()
    sandbox = project.sandbox
    # The first pre-signed download is refused as if its hour had passed.
    sandbox.add_fault("rebilly", "signed-file", status=403, times=1)
    daemon_args = [
        processes.dagster_executable("dagster-daemon"),
        "run",
        "-w",
        str(project.home / "workspace.yaml"),
    ]
    log_path = project.home / "daemon.log"
    with processes.running(daemon_args, env=env, log_path=log_path, cwd=PROJECT) as daemon:
        for name in [*FORMATS, "tx_weekly_zip"]:
            partition = WEEK if name == "tx_weekly_zip" else DAY
            result = materialize(
                definitions, instance, [keys.request_key("rebilly", name)], partition
            )
            assert result.success, failure_messages(result)
        with sandbox_control(sandbox) as control:
            # Both attempts the default retry policy makes (issue 14) fail.
            armed = control.post(
                "/fail-next", json={"failureReason": "max-retries-reached", "times": 2}
            )
            assert armed.is_success, armed.text
        result = materialize(
            definitions, instance, [keys.request_key("rebilly", "tx_failing")], DAY
        )
        assert result.success, failure_messages(result)

        final = (JobState.INGESTED, JobState.FAILED, JobState.SUPERSEDED)
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline and daemon.poll() is None:
            jobs = ledger.jobs(vendor="rebilly")
            if len(jobs) == 7 and all(j.state in final for j in jobs):
                break
            time.sleep(1)
        jobs = {j.export: j for j in ledger.jobs(vendor="rebilly")}
        assert all(j.state in final for j in jobs.values()), log_path.read_text()[-3000:]
        # A run records its table before it ends: let the launched runs finish.
        by_sensor = dg.RunsFilter(tags={"dagster/sensor_name": keys.status_sensor_name("rebilly")})
        while time.monotonic() < deadline:
            runs = instance.get_runs(filters=by_sensor)
            if all(
                r.status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE) for r in runs
            ):
                break
            time.sleep(1)

    failing = jobs.pop("tx_failing")
    assert failing.state is JobState.FAILED and failing.attempt == 2
    assert failing.error == (
        "the vendor reported failure: max-retries-reached; gave up after 2 attempt(s) "
        "(resubmit_failed.max_attempts = 2)"
    )
    (first_try,) = [j for j in ledger.jobs(vendor="rebilly") if j.state is JobState.SUPERSEDED]
    assert first_try.superseded_by == failing.id
    assert all(j.state is JobState.INGESTED for j in jobs.values()), {
        n: (j.state, j.error) for n, j in jobs.items()
    }
    lake = project.data / "lake" / "rebilly"
    tables = {}
    for name, job in jobs.items():
        assert job.vendor_job_id is not None
        path = lake / name / job.partition_key / "data.parquet"
        rows = table_rows(pq.read_table(path))
        expected = expected_rows(sandbox, job.vendor_job_id, job.request_body)
        assert rows == expected, name
        assert job.vendor_rows == job.rows == len(rows) > 0
        tables[name] = pq.read_table(path).drop_columns(
            ["_export", "_partition", "_vendor_job_id", "_source_file", "_ingested_at"]
        )
    # One table whatever the format: same rows, same types.
    assert all(t.equals(tables["tx_csv"]) for name, t in tables.items() if name in FORMATS)

    weekly = jobs["tx_weekly_zip"]
    (raw,) = weekly.files
    assert raw.local_path is not None and zipfile.is_zipfile(raw.local_path)
    with zipfile.ZipFile(raw.local_path) as archive:
        members = archive.namelist()
    assert len(members) == -(
        -len(expected_rows(sandbox, weekly.vendor_job_id or "", weekly.request_body))
        // RECORDS_PER_FILE
    )
    assert len(members) > 1 and all(f"-part{i + 1}." in m for i, m in enumerate(members))

    refreshed = [
        n for n, j in jobs.items() if any(d == "file URLs refreshed" for _, _, d in j.history)
    ]
    assert len(refreshed) == 1, refreshed

    sensor_runs = instance.get_runs(filters=by_sensor)
    # Five raw+table runs, and the request run that resubmitted the failing export once.
    assert len(sensor_runs) == 6
    (resubmitted,) = [r for r in sensor_runs if keys.RESUBMIT_OF_TAG in r.tags]
    assert resubmitted.tags[keys.RESUBMIT_OF_TAG] == str(first_try.id)
    assert all(r.status is dg.DagsterRunStatus.SUCCESS for r in sensor_runs)
