"""HelloData end to end against its sandbox, with the receiver up and the daemon down, then up.

Two exports are submitted while no ``dagster-daemon`` runs. The sandbox POSTs each signed webhook
to the receiver (a real uvicorn on loopback over the project's ledger), which records the delivery;
the sandbox is then told to replay one delivery byte for byte, which the receiver acknowledges and
ignores. Only then does the daemon start: its HelloData status sensor launches one raw+table run per
recorded delivery, and each Parquet file holds exactly the rows the sandbox's generator produced
(``gcsBlob.numberRows`` of them).
"""

import os
import time
from collections.abc import Callable, Iterator

import dagster as dg
import httpx
import pyarrow.parquet as pq
import pytest

from export_pipelines.demo import processes
from export_pipelines.demo.verify import comparable_rows
from export_pipelines.ledger import JobState
from export_pipelines.pipeline import keys
from export_pipelines.sandbox.hellodata.config import HelloDataSandboxConfig
from export_pipelines.sandbox.registry import registered
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.hellodata.resource import WEBHOOK_PUBLIC_URL_ENV
from export_pipelines.webhooks import ReceiverSettings
from export_pipelines_tests.pipeline.conftest import PROJECT, Project
from export_pipelines_tests.pipeline.helpers import failure_messages, materialize
from export_pipelines_tests.sandbox_setup import sandbox_config
from export_pipelines_tests.webhooks.conftest import receiving

#: (export, partition) of the catalog in ``defs/hellodata/defs.yaml``.
EXPORTS = [("rent_survey_by_market", "2024-03-01"), ("property_inventory", None)]
#: A guard against a hang, not an assertion about speed.
GIVE_UP_SECONDS = 300


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    callbacks_to_loopback = HelloDataSandboxConfig(
        completion_delay_seconds=0.3, allow_loopback_webhooks=True
    )
    with SandboxServer(sandbox_config(hellodata=callbacks_to_loopback)) as server:
        yield server


def _wait(condition: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {condition}")
        time.sleep(0.5)


@pytest.mark.slow
def test_deliveries_received_while_no_daemon_runs_land_once_when_it_starts(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, instance, sandbox = project.ledger(), project.instance(), project.sandbox
    key = sandbox.api_key("hellodata")
    receiver_settings = ReceiverSettings(ledger_url=ledger.url, secrets={"hellodata": key})
    with receiving(receiver_settings) as receiver:
        monkeypatch.setenv(WEBHOOK_PUBLIC_URL_ENV, receiver.url)
        project.env[WEBHOOK_PUBLIC_URL_ENV] = receiver.url
        definitions = project.definitions()
        for export, partition in EXPORTS:
            result = materialize(
                definitions, instance, [keys.request_key("hellodata", export)], partition
            )
            assert result.success, failure_messages(result)

        # No daemon: the receiver alone records both deliveries.
        def delivered() -> bool:
            jobs = ledger.jobs(vendor="hellodata")
            return len(jobs) == 2 and all(j.state is JobState.COMPLETED for j in jobs)

        _wait("both webhook deliveries", delivered)
        jobs = {j.export: j for j in ledger.jobs(vendor="hellodata")}
        survey = jobs["rent_survey_by_market"]
        assert survey.vendor_job_id is not None
        control = f"{sandbox.url}/_sandbox/hellodata/exports/{survey.vendor_job_id}/replay"
        replay = httpx.post(control, timeout=30).raise_for_status().json()
        assert replay["kind"] == "replay" and replay["status"] == 200, replay
        assert ledger.get(survey.id).state is JobState.COMPLETED
        assert (
            instance.get_runs(filters=dg.RunsFilter(tags={keys.ingests_job_tag(survey.id): "1"}))
            == []
        )

        (project.home / "workspace.yaml").write_text(
            "load_from:\n  - python_module:\n      module_name: export_pipelines.definitions\n"
            f"      working_directory: {PROJECT}\n"
        )
        daemon_args = [
            processes.dagster_executable("dagster-daemon"),
            "run",
            "-w",
            str(project.home / "workspace.yaml"),
        ]
        log_path = project.home / "daemon.log"
        env = {**os.environ, **project.env}
        by_sensor = dg.RunsFilter(
            tags={"dagster/sensor_name": keys.status_sensor_name("hellodata")}
        )
        with processes.running(daemon_args, env=env, log_path=log_path, cwd=PROJECT) as daemon:

            def landed() -> bool:
                assert daemon.poll() is None, log_path.read_text()[-3000:]
                states = [j.state for j in ledger.jobs(vendor="hellodata")]
                runs = instance.get_runs(filters=by_sensor)
                return (
                    all(s is JobState.INGESTED for s in states)
                    and len(runs) == 2
                    and all(r.is_finished for r in runs)
                )

            _wait("the daemon to land both deliveries", landed)

    runs = instance.get_runs(filters=by_sensor)
    assert sorted(r.tags[keys.LEDGER_JOB_TAG] for r in runs) == sorted(
        str(j.id) for j in jobs.values()
    )
    assert all(r.status is dg.DagsterRunStatus.SUCCESS for r in runs)
    generator = registered("hellodata")
    for export, job in jobs.items():
        landed_job = ledger.get(job.id)
        assert landed_job.vendor_job_id is not None
        path = project.data / "lake" / "hellodata" / export / job.partition_key / "data.parquet"
        records = list(
            generator.expected_records(sandbox.url, landed_job.vendor_job_id, job.request_body)
        )
        got, expected = comparable_rows(path, records)
        assert got == expected and len(got) > 0, export
        assert pq.read_metadata(path).num_rows == landed_job.rows == landed_job.vendor_rows
