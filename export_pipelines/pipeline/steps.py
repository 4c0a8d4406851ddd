"""The export steps as plain functions: wait, download, normalize (submitting is ``submission``).

Assets and sensors call these; they hold no Dagster context, so each step is testable on its own
against the sandbox. Every vendor call goes through a ``VendorClient``; every state change through the
ledger, before the next step relies on it.
"""

import time
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from export_pipelines.lake import LakeLocation, LakeResource
from export_pipelines.ledger import FileRecord, FileUpdate, JobRecord, JobState, Ledger
from export_pipelines.normalize import Lineage, ParquetWriteResult
from export_pipelines.normalize.drift import Drift, write_parquet_with_drift
from export_pipelines.pipeline.spec import ExportSpec
from export_pipelines.transport import DownloadedFile, ExpiredUrlError, download_to_file
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


#: Files of one job downloaded at once (a chunked HiEnergy report, Enterpret's pages): enough to
#: hide per-file latency, few enough not to crowd the vendor's file host or this machine.
DOWNLOAD_PARALLELISM = 4


def download_files(
    job: JobRecord,
    *,
    spec: ExportSpec,
    ledger: Ledger,
    lake: LakeResource,
    client: VendorClient,
) -> JobRecord:
    """Download every file of a finished job that is not in the lake yet, ``DOWNLOAD_PARALLELISM``
    at a time; when a URL has expired (or is refused), read the job again for fresh URLs, once."""
    refreshed = False
    while True:
        missing = [
            record
            for record in job.files
            if not (record.local_path and _raw_file(lake, spec, job, record).size() == record.bytes)
        ]
        expired = _download_all(
            missing, spec=spec, job=job, ledger=ledger, lake=lake, client=client
        )
        if not expired:
            break
        if refreshed:
            raise StepFailed(
                f"{spec.vendor} refused the file URLs of job {job.vendor_job_id} even after "
                f"fetching fresh ones ({', '.join(expired[:5])})"
            )
        assert job.vendor_job_id is not None
        job = apply_status(ledger, job, client.status(job.vendor_job_id))
        refreshed = True
    job = ledger.get(job.id)
    if job.state is JobState.COMPLETED:
        job = ledger.mark_downloaded(job.id)
    return job


def _raw_file(
    lake: LakeResource, spec: ExportSpec, job: JobRecord, record: FileRecord
) -> LakeLocation:
    return lake.raw_file(spec.vendor, spec.name, job.partition_key, job.id, record.name)


def _download_all(
    records: list[FileRecord],
    *,
    spec: ExportSpec,
    job: JobRecord,
    ledger: Ledger,
    lake: LakeResource,
    client: VendorClient,
) -> list[str]:
    """Download ``records`` in parallel; record each in the ledger as it lands (from this thread);
    return the names whose URL expired. Any other failure is raised once every download ended, so
    the files that did land are recorded and not fetched again. Each file lands on local disk
    first (resume and locking need one) and is then published to the lake (an upload on S3)."""
    now = datetime.now(UTC)
    expired = [r.name for r in records if r.expires_at is not None and r.expires_at <= now]
    wanted = [r for r in records if r.name not in expired]
    failures: list[Exception] = []
    if not wanted:
        return expired

    def fetch(record: FileRecord) -> tuple[DownloadedFile, LakeLocation]:
        location = _raw_file(lake, spec, job, record)
        with lake.writing(location) as local:
            got = download_to_file(
                record.url,
                local,
                vendor=spec.vendor,
                policy=client.download_policy,
                lock_dir=lake.lock_dir(),
                headers=client.download_headers(record.url),
            )
        return got, location

    with ThreadPoolExecutor(
        max_workers=min(DOWNLOAD_PARALLELISM, len(wanted)), thread_name_prefix="download"
    ) as pool:
        futures = {pool.submit(fetch, record): record for record in wanted}
        for future in as_completed(futures):
            record = futures[future]
            try:
                got, location = future.result()
            except ExpiredUrlError:
                expired.append(record.name)
                continue
            except Exception as exc:
                failures.append(exc)
                continue
            ledger.record_download(
                job.id, record.index, local_path=str(location), size=got.bytes, sha256=got.sha256
            )
    if failures:
        raise failures[0]
    return expired


def source_name(job: JobRecord, record: FileRecord, jobs: int) -> str:
    """A raw file's name in the table's ``_source_file``: the vendor's name, prefixed with the
    ledger job where the partition's files come from several (sub-window) jobs, whose files may
    share names."""
    return record.name if jobs == 1 else f"job-{job.id}/{record.name}"


def rows_per_file(written: ParquetWriteResult, jobs: Sequence[JobRecord]) -> list[list[int]]:
    """The rows written from each file of each job, in the jobs' and files' order."""
    return [
        [written.rows_per_source.get(source_name(job, f, len(jobs)), 0) for f in job.files]
        for job in jobs
    ]


def normalize_job(
    job: JobRecord,
    *,
    spec: ExportSpec,
    lake: LakeResource,
    dest: Path,
    form: str | None = None,
) -> tuple[ParquetWriteResult, Drift]:
    """Every raw file of ``job`` → the Parquet file ``dest`` (:func:`normalize_jobs`)."""
    return normalize_jobs([job], spec=spec, lake=lake, dest=dest, form=form)


def normalize_jobs(
    jobs: Sequence[JobRecord],
    *,
    spec: ExportSpec,
    lake: LakeResource,
    dest: Path,
    form: str | None = None,
) -> tuple[ParquetWriteResult, Drift]:
    """Every raw file of ``jobs`` (one partition's: its job, or the sub-window jobs of its split)
    → the Parquet file ``dest`` (written atomically; the caller publishes it to the lake once it
    passed its check); with ``form``, that further table of the export
    (``VendorAdapter.output_forms``). Raw files are read from the lake, one at a time: from S3
    each is fetched to scratch space just before it is parsed. Fields the files carry beyond the
    declared schema follow the export's ``schema_drift`` policy; what drifted is returned."""
    for job in jobs:
        raw = {f.name: _raw_file(lake, spec, job, f) for f in job.files}
        missing = [f.name for f in job.files if not f.local_path or not raw[f.name].exists()]
        if missing:
            raise StepFailed(
                f"raw files of ledger job {job.id} are missing ({', '.join(missing[:5])}); "
                "materialize the raw asset first"
            )
    if form is None:
        normalizer = spec.adapter.normalizer_for(spec.request)
    else:
        normalizer = spec.adapter.output_forms(spec.request)[form]
    count = len(jobs)
    lineage = Lineage(
        export=spec.name,
        partition=jobs[0].partition_key,
        vendor_job_id=jobs[0].vendor_job_id or "",
        ingested_at=datetime.now(UTC),
        vendor_job_ids={
            source_name(job, f, count): job.vendor_job_id or "" for job in jobs for f in job.files
        },
    )

    def sources() -> Generator[tuple[str, Iterator[pa.RecordBatch]]]:
        for job in jobs:
            for f in job.files:
                with lake.reading(_raw_file(lake, spec, job, f)) as local:
                    yield source_name(job, f, count), normalizer.batches(local, BATCH_ROWS)

    feed = sources()
    try:
        return write_parquet_with_drift(dest, normalizer.schema, feed, lineage, spec.schema_drift)
    finally:
        feed.close()  # a failed write leaves no raw file fetched to scratch behind
