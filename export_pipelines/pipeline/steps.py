"""The export steps as plain functions: wait, download, normalize (submitting is ``submission``).

Assets and sensors call these; they hold no Dagster context, so each step is testable on its own
against the sandbox. Every vendor call goes through a ``VendorClient``; every state change through the
ledger, before the next step relies on it.
"""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from export_pipelines.lake import LakeResource
from export_pipelines.ledger import FileUpdate, JobRecord, JobState, Ledger
from export_pipelines.normalize import Lineage, ParquetWriteResult, write_parquet
from export_pipelines.pipeline.spec import ExportSpec
from export_pipelines.transport import ExpiredUrlError, download_to_file
from export_pipelines.vendors.base import (
    Completion,
    RemoteState,
    RemoteStatus,
    VendorClient,
    VendorResource,
)

#: Records parsed into Python objects at a time: bounds the parser's memory (about 1 MB a 100
#: records); the writer regroups batches into larger Parquet row groups.
BATCH_ROWS = 2_000


class StepFailed(Exception):
    """A step cannot go on; the message tells the user what happened and what to do."""


def apply_status(ledger: Ledger, job: JobRecord, status: RemoteStatus) -> JobRecord:
    """Record what the vendor said about a job; return the job as it now stands."""
    ledger.record_poll(job.id, status.progress)
    if status.state is RemoteState.COMPLETED:
        files = [FileUpdate(f.name, f.url, f.expires_at) for f in status.files]
        if job.state is JobState.RUNNING:
            return ledger.mark_completed(job.id, files, status.vendor_rows)
        return ledger.refresh_files(job.id, files)
    if status.state is RemoteState.FAILED:
        return ledger.mark_failed(job.id, f"the vendor reported failure: {status.error}")
    return ledger.get(job.id)


def past_deadline(job: JobRecord, resource: VendorResource, now: datetime) -> bool:
    started = job.submitted_at or job.created_at
    return (now - started).total_seconds() > resource.job_deadline_seconds


def deadline_message(resource: VendorResource, completion: Completion) -> str:
    hours = resource.job_deadline_seconds / 3600
    if completion is Completion.CALLBACK:
        return (
            f"no completion callback arrived within {hours:g} h of the submit; the vendor sends "
            "nothing when an export fails, so it is treated as failed; materialize the request "
            "asset with `resubmit: true` to ask again"
        )
    return f"the vendor did not finish within {hours:g} h (the job deadline)"


def wait_for_completion(
    job: JobRecord,
    *,
    ledger: Ledger,
    client: VendorClient,
    resource: VendorResource,
    completion: Completion = Completion.POLL,
) -> JobRecord:
    """Wait for a running job until it finishes or ``wait_timeout_seconds`` pass (manual runs):
    poll the vendor, or (a callback vendor) re-read the ledger that the webhook receiver writes."""
    give_up = time.monotonic() + resource.wait_timeout_seconds
    while job.state is JobState.RUNNING:
        if past_deadline(job, resource, datetime.now(UTC)):
            return ledger.mark_timed_out(job.id, deadline_message(resource, completion))
        vendor_job_id = job.vendor_job_id
        assert vendor_job_id is not None
        if completion is Completion.CALLBACK:
            job = ledger.get(job.id)
        else:
            job = apply_status(ledger, job, client.status(vendor_job_id))
        if job.state is not JobState.RUNNING:
            break
        if time.monotonic() > give_up:
            raise StepFailed(
                f"vendor job {job.vendor_job_id} is still running after "
                f"{resource.wait_timeout_seconds:.0f}s; the status sensor launches the download "
                "when it completes"
            )
        time.sleep(resource.poll_interval_seconds)
    return job


def download_files(
    job: JobRecord,
    *,
    spec: ExportSpec,
    ledger: Ledger,
    lake: LakeResource,
    client: VendorClient,
) -> JobRecord:
    """Download every file of a finished job that is not on disk yet; refresh expired URLs once."""
    folder = lake.raw_dir(spec.vendor, spec.name, job.partition_key, job.id)
    refreshed = False
    index = 0
    while index < len(job.files):
        record = job.files[index]
        dest = folder / record.name
        if record.local_path and dest.exists() and dest.stat().st_size == record.bytes:
            index += 1
            continue
        expired = record.expires_at is not None and record.expires_at <= datetime.now(UTC)
        try:
            if expired:
                raise ExpiredUrlError(spec.vendor, f"file {record.name} URL expired")
            got = download_to_file(
                record.url,
                dest,
                vendor=spec.vendor,
                policy=client.download_policy,
                lock_dir=lake.root_path() / "locks",
                headers=client.download_headers(record.url),
            )
        except ExpiredUrlError:
            if refreshed:
                raise StepFailed(
                    f"{spec.vendor} refused the file URLs of job {job.vendor_job_id} even after "
                    "fetching fresh ones"
                ) from None
            assert job.vendor_job_id is not None
            job = apply_status(ledger, job, client.status(job.vendor_job_id))
            refreshed = True
            continue
        ledger.record_download(
            job.id, index, local_path=str(got.path), size=got.bytes, sha256=got.sha256
        )
        index += 1
    job = ledger.get(job.id)
    if job.state is JobState.COMPLETED:
        job = ledger.mark_downloaded(job.id)
    return job


def normalize_job(
    job: JobRecord, *, spec: ExportSpec, lake: LakeResource
) -> tuple[ParquetWriteResult, Path]:
    """Every raw file of ``job`` → the partition's Parquet file (replaced atomically)."""
    missing = [f.name for f in job.files if not f.local_path or not Path(f.local_path).exists()]
    if missing:
        raise StepFailed(
            f"raw files of ledger job {job.id} are missing ({', '.join(missing[:5])}); "
            "materialize the raw asset first"
        )
    normalizer = spec.adapter.normalizer_for(spec.request)
    lineage = Lineage(
        export=spec.name,
        partition=job.partition_key,
        vendor_job_id=job.vendor_job_id or "",
        ingested_at=datetime.now(UTC),
    )

    def sources() -> Iterator[tuple[str, Iterator[pa.RecordBatch]]]:
        for f in job.files:
            assert f.local_path is not None
            yield f.name, normalizer.batches(Path(f.local_path), BATCH_ROWS)

    dest = lake.table_path(spec.vendor, spec.name, job.partition_key)
    return write_parquet(dest, normalizer.schema, sources(), lineage), dest
