"""The per-vendor status sensor: polls in-flight jobs, launches download+normalize on completion.

Modelled on Dagster's own remote-job sensors (dbt Cloud): a time budget well under the daemon's
60-second tick limit, a backlog worked off fairly across ticks (least recently polled first, kept in
the ledger rather than in a cursor, so an unreadable or lost cursor loses nothing), one failing job
never blocking the others, and a run key per ledger job so a completion launches exactly one run
however many ticks see it. A sensor never submits: only the request asset (or a schedule) does.
"""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from export_pipelines.ledger import JobRecord, JobState
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.steps import apply_status, past_deadline
from export_pipelines.transport import VendorError

#: A job left ``completed`` this long without a download run (a crash between the tick that saw it
#: finish and the launch) is requested again; the run key makes that a no-op if it did launch.
RELAUNCH_AFTER = timedelta(minutes=2)


def ingest_run_request(job: JobRecord) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=keys.ingest_run_key(job.vendor, job.id),
        asset_selection=[
            keys.raw_key(job.vendor, job.export),
            keys.table_key(job.vendor, job.export),
        ],
        partition_key=job.partition_key if job.partitioned else None,
        tags={keys.LEDGER_JOB_TAG: str(job.id)},
    )


def build_status_sensor(
    vendor: str,
    *,
    minimum_interval_seconds: int = 10,
    time_budget_seconds: float = 20.0,
    running_by_default: bool = True,
) -> dg.SensorDefinition:
    @dg.sensor(
        name=keys.status_sensor_name(vendor),
        description=(
            f"Polls {vendor}'s in-flight export jobs (from the export ledger) and launches the "
            f"raw+table run of each job that completes. Budget {time_budget_seconds:.0f}s a tick."
        ),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING
        if running_by_default
        else dg.DefaultSensorStatus.STOPPED,
        asset_selection=dg.AssetSelection.key_prefixes([vendor]),
        required_resource_keys={vendor, "ledger"},
    )
    def status_sensor(context: dg.SensorEvaluationContext):  # type: ignore[no-untyped-def]
        ledger = context.resources.ledger.ledger()
        resource = getattr(context.resources, vendor)
        budget_ends = time.monotonic() + time_budget_seconds
        now = datetime.now(UTC)
        requests: list[dg.RunRequest] = [
            ingest_run_request(job)
            for job in ledger.awaiting_download(vendor)
            if job.completed_at is not None and now - job.completed_at > RELAUNCH_AFTER
        ]
        polled = finished = 0
        backlog = ledger.in_flight(vendor)
        client = resource.client()
        try:
            for job in backlog:
                if time.monotonic() > budget_ends:
                    break
                if past_deadline(job, resource, now):
                    ledger.mark_timed_out(job.id, "the vendor did not finish before the deadline")
                    context.log.warning(f"{vendor} job {job.vendor_job_id} timed out")
                    continue
                try:
                    status = client.status(job.vendor_job_id)
                except VendorError as exc:
                    context.log.warning(f"polling {vendor} job {job.vendor_job_id} failed: {exc}")
                    continue
                polled += 1
                if status.progress is not None:
                    ready, total = status.progress
                    context.log.info(f"{vendor} job {job.vendor_job_id}: {ready}/{total} parts")
                job = apply_status(ledger, job, status)
                if job.state is JobState.COMPLETED:
                    finished += 1
                    requests.append(ingest_run_request(job))
                elif job.state is JobState.FAILED:
                    context.log.warning(f"{vendor} job {job.vendor_job_id} failed: {job.error}")
        finally:
            client.close()
        if not requests:
            yield dg.SkipReason(
                f"polled {polled} of {len(backlog)} in-flight {vendor} job(s); none finished"
            )
            return
        context.log.info(f"polled {polled}/{len(backlog)}; {finished} finished")
        yield from requests

    return status_sensor
