"""End to end through a real ``dagster-daemon``: its sensor loop polls the sandbox and launches runs.

The request runs in this process against the same instance (as a UI launch would); everything after
it — the status sensor's ticks, the run queue, the launched raw+table runs in their own processes —
is the daemon's own code path, not a function called by hand.
"""

import os
import time

import dagster as dg
import pytest

from export_pipelines.demo import processes
from export_pipelines.ledger import JobState
from export_pipelines.pipeline import keys
from export_pipelines_tests.pipeline.conftest import PROJECT, Project
from export_pipelines_tests.pipeline.helpers import (
    day,
    expected_ids,
    failure_messages,
    materialize,
    parquet_ids,
)

PARTITIONS = ["2024-04-01", "2024-04-02"]


@pytest.mark.slow
def test_the_daemon_sensor_finishes_what_the_request_started(project: Project) -> None:
    env = {**os.environ, **project.env}
    daemon_args = [
        processes.dagster_executable("dagster-daemon"),
        "run",
        "-w",
        str(PROJECT / "workspace.yaml"),
    ]
    # The instance's and the ledger's tables exist before the daemon starts using them.
    definitions, instance, ledger = project.definitions(), project.instance(), project.ledger()
    log_path = project.home / "daemon.log"
    with processes.running(daemon_args, env=env, log_path=log_path, cwd=PROJECT) as daemon:
        for partition in PARTITIONS:
            result = materialize(
                definitions, instance, [keys.request_key("enterpret", "feedback_daily")], partition
            )
            assert result.success, failure_messages(result)

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and daemon.poll() is None:
            jobs = ledger.jobs(export="feedback_daily")
            if all(j.state is JobState.INGESTED for j in jobs):
                break
            time.sleep(1)
        log = log_path.read_text()
        assert all(j.state is JobState.INGESTED for j in jobs), log[-3000:]
        # The ledger says ingested a moment before the run itself ends: stopping the daemon now
        # would interrupt its run workers, so wait for the runs to finish first.
        sensor_filter = dg.RunsFilter(
            tags={"dagster/sensor_name": keys.status_sensor_name("enterpret")}
        )
        while time.monotonic() < deadline and not all(
            r.is_finished for r in instance.get_runs(filters=sensor_filter)
        ):
            time.sleep(0.5)

    sensor_runs = instance.get_runs(filters=sensor_filter)
    # One raw+table run per job, or one over adjacent partitions finishing in the same tick.
    ingested = [job_id for r in sensor_runs for job_id in keys.ingested_jobs(r.tags)]
    assert sorted(ingested) == sorted(j.id for j in jobs)
    assert all(r.status is dg.DagsterRunStatus.SUCCESS for r in sensor_runs)
    assert len(project.sandbox.enterpret.jobs()) >= len(PARTITIONS)
    for job in jobs:
        start = day(job.partition_key)
        path = project.data / "lake/enterpret/feedback_daily" / job.partition_key / "data.parquet"
        assert parquet_ids(path) == expected_ids(
            project.sandbox, start, start.replace(day=start.day + 1)
        )
