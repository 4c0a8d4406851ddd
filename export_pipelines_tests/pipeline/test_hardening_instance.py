"""Killed runs do not wedge a vendor's pool (issue 6, item 3).

Two runs take both slots of the ``enterpret`` pool and die: they end marked failed, still holding
their slots, as SIGKILLed runs do. On an instance configured by the project's own ``dagster.yaml``
(and ``dagster.postgres.yaml``), the daemon's concurrency-slot monitor frees their slots once
``free_slots_after_run_end_seconds`` have passed since they ended, and a third run gets a slot.
Without that setting the monitor does nothing and the third run waits forever.

The monitor's clock is moved forward by that many seconds instead of the test sleeping through it.
"""

import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import EmptyWorkspaceTarget
from dagster._daemon.monitoring import concurrency as slot_monitor

from export_pipelines_tests.pipeline.conftest import PROJECT, Project
from export_pipelines_tests.services import postgres_database

POOL = "enterpret"


def _dead_run_holding_a_slot(instance: dg.DagsterInstance, step: str) -> str:
    run = DagsterRun(job_name="__ASSET_JOB", status=dg.DagsterRunStatus.STARTED)
    instance.add_run(run)
    claim = instance.event_log_storage.claim_concurrency_slot(POOL, run.run_id, step)
    assert claim.is_claimed
    instance.report_run_failed(run, "the run worker was killed (SIGKILL)")
    return run.run_id


def _pool_frees_dead_runs_slots(instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch):
    settings = instance.run_monitoring_settings
    assert instance.run_monitoring_enabled
    assert settings["free_slots_after_run_end_seconds"] > 0
    assert settings["max_resume_run_attempts"] == 0  # the local launcher cannot resume runs

    instance.event_log_storage.initialize_concurrency_limit_to_default(POOL)
    assert instance.event_log_storage.get_concurrency_info(POOL).slot_count == 2
    dead = [_dead_run_holding_a_slot(instance, f"step_{i}") for i in range(2)]
    waiting = DagsterRun(job_name="__ASSET_JOB", status=dg.DagsterRunStatus.STARTED)
    instance.add_run(waiting)
    assert not instance.event_log_storage.claim_concurrency_slot(
        POOL, waiting.run_id, "step"
    ).is_claimed

    later = slot_monitor.get_current_datetime() + timedelta(
        seconds=settings["free_slots_after_run_end_seconds"] + 1
    )
    monkeypatch.setattr(slot_monitor, "get_current_datetime", lambda: later)
    with WorkspaceProcessContext(instance, EmptyWorkspaceTarget()) as context:
        list(slot_monitor.execute_concurrency_slots_iteration(context, _logger()))

    info = instance.event_log_storage.get_concurrency_info(POOL)
    assert not {s.run_id for s in info.claimed_slots} & set(dead)
    assert instance.event_log_storage.claim_concurrency_slot(
        POOL, waiting.run_id, "step"
    ).is_claimed


def _logger():
    import logging

    return logging.getLogger("slot-monitor-test")


def test_killed_runs_free_their_pool_slots_on_sqlite(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with dg.DagsterInstance.get() as instance:
        _pool_frees_dead_runs_slots(instance, monkeypatch)


@pytest.mark.postgres
def test_killed_runs_free_their_pool_slots_on_postgres(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with postgres_database() as url:
        shutil.copy(PROJECT / "dagster.postgres.yaml", project.home / "dagster.yaml")
        monkeypatch.setenv("DAGSTER_PG_URL", url)
        with dg.DagsterInstance.get() as instance:
            _pool_frees_dead_runs_slots(instance, monkeypatch)


def test_both_instance_files_configure_monitoring_alike() -> None:
    import yaml

    def monitoring(path: Path) -> object:
        return yaml.safe_load(path.read_text())["run_monitoring"]

    assert monitoring(PROJECT / "dagster.yaml") == monitoring(PROJECT / "dagster.postgres.yaml")
