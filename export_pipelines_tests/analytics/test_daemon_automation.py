"""Under a real ``dagster-daemon``: an export partition landing makes the automation materialize the
analytics partition it feeds; nothing in the test launches the analytics.

The test submits one Rebilly export (the request asset, in process, as a UI launch would); the
daemon's status sensor launches its raw+table run, and the daemon's automation sensor then sees
the table's new partition and launches the analytics run.
"""

import os
import time

import dagster as dg
import pytest

from export_pipelines.analytics import automation, lakeio
from export_pipelines.analytics.vendors import rebilly
from export_pipelines.demo import processes
from export_pipelines.lake import LakeResource
from export_pipelines.pipeline import keys
from export_pipelines_tests.pipeline.conftest import PROJECT, Project
from export_pipelines_tests.pipeline.helpers import failure_messages, materialize

DAY = "2024-03-05"
TIMEOUT_SECONDS = 600


def _analytics_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(
        instance.get_runs(
            filters=dg.RunsFilter(tags={"dagster/sensor_name": automation.SENSOR_NAME})
        )
    )


@pytest.mark.slow
def test_an_export_landing_triggers_its_analytics_by_automation(project: Project) -> None:
    env = {**os.environ, **project.env}
    daemon_args = [
        processes.dagster_executable("dagster-daemon"),
        "run",
        "-w",
        str(PROJECT / "workspace.yaml"),
    ]
    definitions, instance, _ = project.definitions(), project.instance(), project.ledger()
    spec = rebilly.SPECS[0]
    log_path = project.home / "daemon.log"
    with processes.running(daemon_args, env=env, log_path=log_path, cwd=PROJECT) as daemon:
        request = materialize(
            definitions, instance, [keys.request_key("rebilly", "transactions_daily")], DAY
        )
        assert request.success, failure_messages(request)
        deadline = time.monotonic() + TIMEOUT_SECONDS
        materialized = None
        while time.monotonic() < deadline and daemon.poll() is None:
            materialized = instance.get_latest_materialization_event(spec.key)
            runs = _analytics_runs(instance)
            if materialized is not None and runs and all(r.is_finished for r in runs):
                break
            time.sleep(1)
        runs_seen = [
            (r.run_id[:8], r.status.value, r.tags.get("dagster/sensor_name"))
            for r in instance.get_runs()
        ]
        assert materialized is not None, f"runs: {runs_seen}"

    runs = _analytics_runs(instance)
    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
    (run,) = runs
    assert run.tags.get("dagster/from_automation_condition") == "true"
    assert run.tags.get("dagster/partition") == DAY
    assert materialized.run_id == run.run_id
    table_event = instance.get_latest_materialization_event(
        keys.table_key("rebilly", "transactions_daily")
    )
    assert table_event is not None and table_event.run_id != run.run_id
    frame = lakeio.read_result(LakeResource(root=str(project.data)), "rebilly", spec.name, DAY)
    table = lakeio.upstream_tables(
        LakeResource(root=str(project.data)), "rebilly", "transactions_daily", [DAY]
    )
    assert int(frame["transactions"].sum()) == table.dataset().count_rows() > 0
