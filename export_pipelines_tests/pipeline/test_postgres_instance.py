"""The production storage path for real: a Dagster instance and the ledger, both on PostgreSQL."""

import shutil

import dagster as dg
import pytest

from export_pipelines import settings
from export_pipelines.ledger import JobState, Ledger
from export_pipelines_tests.pipeline.conftest import PROJECT, Project
from export_pipelines_tests.pipeline.helpers import (
    day,
    expected_ids,
    export_keys,
    failure_messages,
    materialize,
    parquet_ids,
)
from export_pipelines_tests.services import postgres_database, postgres_schema


@pytest.mark.postgres
def test_an_export_runs_on_a_postgres_instance_and_ledger(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with postgres_database() as instance_url, postgres_schema() as ledger_url:
        shutil.copy(PROJECT / "dagster.postgres.yaml", project.home / "dagster.yaml")
        monkeypatch.setenv("DAGSTER_PG_URL", instance_url)
        monkeypatch.setenv(settings.LEDGER_URL_ENV, ledger_url)
        instance = dg.DagsterInstance.get()
        try:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            result = materialize(
                project.definitions(),
                instance,
                export_keys("enterpret", "feedback_daily"),
                "2024-05-01",
            )
            assert result.success, failure_messages(result)
            runs = instance.get_runs()
            assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
        finally:
            instance.dispose()

        [job] = Ledger(ledger_url).jobs()
        assert job.state is JobState.INGESTED
        path = project.data / "lake/enterpret/feedback_daily/2024-05-01/data.parquet"
        assert parquet_ids(path) == expected_ids(
            project.sandbox, day("2024-05-01"), day("2024-05-02")
        )
