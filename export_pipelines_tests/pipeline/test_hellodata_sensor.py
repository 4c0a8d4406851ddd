"""HelloData's status sensor: it polls nothing; it launches what the receiver recorded (also while
no daemon ran) once, and times out a job whose delivery never came (H-7)."""

import time

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from export_pipelines.ledger import JobState, LedgerResource
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.sensor import build_status_sensor
from export_pipelines.vendors.hellodata.resource import HelloDataResource
from export_pipelines.webhooks import ReceiverSettings
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.webhooks.conftest import KEY, delivery_body, receiving, submitted_job


def _tick(project: Project, sensor: dg.SensorDefinition, **overrides: object):  # type: ignore[no-untyped-def]
    # Never contacted: a callback vendor's sensor makes no vendor call.
    settings: dict[str, object] = {"base_url": "https://api.hellodata.ai", "api_key": KEY}
    resource = HelloDataResource(**{**settings, **overrides})  # type: ignore[arg-type]
    with dg.build_sensor_context(
        instance=project.instance(),
        resources={"hellodata": resource, "ledger": LedgerResource()},
        definitions=project.definitions(),
    ) as context:
        return sensor.evaluate_tick(context)


def test_a_delivery_received_while_no_daemon_runs_is_launched_once_when_it_ticks(
    project: Project,
) -> None:
    ledger = project.ledger()
    job_id = submitted_job(ledger, "q-offline", export="property_inventory")
    waiting = submitted_job(ledger, "q-waiting", export="property_inventory")
    config = ReceiverSettings(ledger_url=ledger.url, secrets={"hellodata": KEY})
    with receiving(config) as receiver:  # the receiver runs; no sensor, no daemon
        assert receiver.deliver(delivery_body("q-offline", rows=5)).status_code == 200
        assert receiver.deliver(delivery_body("q-offline", rows=5)).json()["outcome"] == "duplicate"
    assert ledger.get(job_id).state is JobState.COMPLETED

    sensor = build_status_sensor("hellodata")
    [request] = _tick(project, sensor).run_requests
    assert request.run_key == keys.ingest_run_key("hellodata", job_id, 1)
    assert request.tags[keys.LEDGER_JOB_TAG] == str(job_id)
    assert set(request.asset_selection or []) == {
        keys.raw_key("hellodata", "property_inventory"),
        keys.table_key("hellodata", "property_inventory"),
    }
    assert ledger.get(job_id).ingest_attempt == 1
    assert ledger.get(waiting).state is JobState.RUNNING
    # The daemon creates the requested run before the next tick (one whose run never appeared
    # is asked for again: test_killed_processes.py).
    create_run_for_test(project.instance(), job_name="__ASSET_JOB", tags=request.tags)

    again = _tick(project, sensor)
    assert again.run_requests == []
    assert "no hellodata delivery to launch" in (again.skip_message or "")


def test_a_missing_delivery_times_out_with_a_clear_message(project: Project) -> None:
    ledger = project.ledger()
    job_id = submitted_job(ledger, "q-silent", export="property_inventory")
    time.sleep(1.1)
    result = _tick(project, build_status_sensor("hellodata"), job_deadline_seconds=1.0)
    assert result.run_requests == []
    job = ledger.get(job_id)
    assert job.state is JobState.TIMED_OUT
    assert job.error is not None
    assert job.error.startswith("no completion callback arrived within")
    assert "resubmit: true" in job.error
    assert "1 job(s) timed out" in (result.skip_message or "")
