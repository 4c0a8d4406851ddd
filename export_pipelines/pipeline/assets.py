"""The three assets of one export: ``request`` → ``raw`` → the table.

- ``<vendor>/<export>/request`` submits the vendor export for the partition's window, or adopts the
  ledger's in-flight or finished job with the same fingerprint: it never submits twice for one
  partition unless run with ``resubmit: true``. It returns at once; the vendor works asynchronously.
  An export fed by a standing vendor request (``pipeline.standing``) submits nothing per partition:
  it records the partition's slot of that one request, creating the request first if need be.
- ``<vendor>/<export>/raw`` downloads every result file, streamed to disk with size and sha256. The
  status sensor launches it when the vendor finishes; materialized by hand it waits (bounded) for a
  running job, so "Materialize all" in the UI works end to end.
- ``<vendor>/<export>`` normalizes the raw files to one Parquet file per partition, with a check that
  the Parquet holds exactly the rows the vendor's files held.

A partition whose job was too large for the vendor is fetched in sub-window jobs (``recovery``):
the raw asset downloads every sub-window job's files and the table writes the partition's one
Parquet from all of them. A request run the status sensor launched to resubmit or split a job,
or to submit a deferred one (its tags name the job), asks for that job's window, whatever the
run's partition says.
"""

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from export_pipelines.lake import LakeResource
from export_pipelines.lake.location import LakeLocation
from export_pipelines.ledger import FINISHED_OK, JobRecord, JobState, Ledger, LedgerResource
from export_pipelines.normalize import ParquetWriteResult
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.metadata import column_schema, drift_metadata, markdown_preview
from export_pipelines.pipeline.recovery import window_of
from export_pipelines.pipeline.spec import ExportSpec
from export_pipelines.pipeline.standing import record_slot
from export_pipelines.pipeline.steps import (
    StepFailed,
    download_files,
    normalize_job,
    normalize_jobs,
    rows_per_file,
    source_name,
    wait_for_completion,
)
from export_pipelines.pipeline.submission import (
    Submission,
    deferred_until,
    split_and_submit,
    submit_or_adopt,
)
from export_pipelines.pipeline.window import Target, resolve_target
from export_pipelines.transport import VendorError
from export_pipelines.vendors.base import VendorResource


class RequestConfig(dg.Config):
    """Launchpad options of a request run."""

    resubmit: bool = False
    """Submit a new vendor export even when the ledger holds one for this partition."""


def _failure(exc: Exception) -> dg.Failure:
    return dg.Failure(description=str(exc), allow_retries=False)


def _resources(context: Any, vendor: str) -> tuple[VendorResource, Ledger, LakeResource]:
    resource = getattr(context.resources, vendor)
    ledger_resource: LedgerResource = context.resources.ledger
    return resource, ledger_resource.ledger(), context.resources.lake


def _run_finished(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether a run of this instance has ended: a submit it left unanswered is interrupted."""
    run = instance.get_run_by_id(run_id)
    return run is not None and run.is_finished


def _job_for_run(context: dg.AssetExecutionContext, spec: ExportSpec, ledger: Ledger) -> JobRecord:
    """The job whose files the run ingests: the tagged one, else the partition's; the top of its
    split tree where it is a sub-window job."""
    tagged = context.run.tags.get(keys.LEDGER_JOB_TAG)
    if tagged:
        return ledger.root_of(ledger.get(int(tagged)))
    target = resolve_target(context, spec)
    job = ledger.latest(
        spec.vendor,
        spec.name,
        target.partition_key if spec.partitioned or target.window else None,
    )
    if job is None:
        raise StepFailed(
            f"{spec.vendor}/{spec.name}: no vendor export for partition {target.partition_key} yet; "
            f"materialize {keys.request_key(spec.vendor, spec.name).to_user_string()} first "
            "(or the whole export)"
        )
    return ledger.root_of(job)


def _asked_again(
    context: dg.AssetExecutionContext,
    spec: ExportSpec,
    ledger: Ledger,
    client: Any,
    run_finished: Callable[[str], bool],
) -> Submission | None:
    """A request run the status sensor launched for a failed job (``recovery``): its split into
    sub-windows, or its resubmission, superseding it; or for a deferred job whose time has come:
    its submit (the claim takes it up again); None for any other run."""
    tags = context.run.tags
    if keys.SPLIT_OF_TAG in tags:
        return split_and_submit(
            spec,
            ledger.get(int(tags[keys.SPLIT_OF_TAG])),
            ledger=ledger,
            client=client,
            run_id=context.run.run_id,
            run_finished=run_finished,
        )
    if keys.RESUBMIT_OF_TAG in tags:
        failed = ledger.get(int(tags[keys.RESUBMIT_OF_TAG]))
        return submit_or_adopt(
            spec,
            Target(failed.partition_key, failed.partitioned, window_of(failed)),
            ledger=ledger,
            client=client,
            run_id=context.run.run_id,
            run_finished=run_finished,
            parent_id=failed.parent_id,
            replaces=failed.id,
        )
    if keys.DEFERRED_OF_TAG in tags:
        deferred = ledger.get(int(tags[keys.DEFERRED_OF_TAG]))
        return submit_or_adopt(
            spec,
            Target(deferred.partition_key, deferred.partitioned, window_of(deferred)),
            ledger=ledger,
            client=client,
            run_id=context.run.run_id,
            run_finished=run_finished,
            parent_id=deferred.parent_id,
        )
    return None


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the steps' own errors into Dagster failures with the step's message."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (StepFailed, VendorError) as exc:
            raise _failure(exc) from None

    return run


def build_export_assets(spec: ExportSpec) -> list[dg.AssetsDefinition]:
    vendor, name = spec.vendor, spec.name
    partitions_def = spec.partitions_def()
    common: dict[str, Any] = dict(
        partitions_def=partitions_def,
        group_name=vendor,
        required_resource_keys={vendor, "ledger", "lake"},
    )
    if spec.pool:
        common["pool"] = spec.pool
    request_key = keys.request_key(vendor, name)
    raw_key = keys.raw_key(vendor, name)
    table_key = keys.table_key(vendor, name)

    @dg.asset(
        key=request_key,
        description=f"Submits (or adopts) the {vendor} export `{name}` for the partition's window. "
        + spec.description,
        kinds={vendor, "api"},
        **common,
    )
    @_guarded
    def request(context: dg.AssetExecutionContext, config: RequestConfig) -> dg.MaterializeResult:
        resource, ledger, _ = _resources(context, vendor)
        target = resolve_target(context, spec)
        run_finished = functools.partial(_run_finished, context.instance)
        standing_id = None
        with resource.client() as client:
            again = _asked_again(context, spec, ledger, client, run_finished)
            if again is not None:
                outcome = again
            elif spec.standing and not config.resubmit:
                outcome, standing = record_slot(
                    spec,
                    target,
                    ledger=ledger,
                    client=client,
                    run_id=context.run.run_id,
                    run_finished=run_finished,
                )
                standing_id = standing.vendor_request_id
            else:
                # A standing export's ``resubmit`` asks for the partition's window once, on its
                # own (the vendor cannot run a past run of its standing request again).
                outcome = submit_or_adopt(
                    spec,
                    target,
                    ledger=ledger,
                    client=client,
                    run_id=context.run.run_id,
                    force=config.resubmit,
                    run_finished=run_finished,
                )
        job = outcome.job
        verb = "submitted" if outcome.submitted else "adopted"
        if standing_id is not None:
            verb = "recorded"  # a slot of the standing request: nothing submitted
        if outcome.deferred is not None:  # the vendor's quota is spent: see ``submission``
            verb = "deferred" if job.state is JobState.DEFERRED else verb
            context.log.warning(outcome.deferred)
        context.log.info(
            f"{verb} {vendor} job {job.vendor_job_id} (ledger job {job.id}, state {job.state})"
        )
        return dg.MaterializeResult(
            metadata={
                "vendor_job_id": job.vendor_job_id,
                "ledger_job_id": job.id,
                "action": verb,
                "state": job.state.value,
                "not_before": job.not_before.isoformat() if job.not_before else None,
                "attempt": job.attempt,
                "submit_outcome": job.submit_outcome.value if job.submit_outcome else None,
                "window_start": job.window_start.isoformat() if job.window_start else None,
                "window_end": job.window_end.isoformat() if job.window_end else None,
                "fingerprint": job.fingerprint,
                "standing_request_id": standing_id,
                "parent_ledger_job_id": job.parent_id,
                "sub_window_jobs": _sub_window_metadata(ledger, job),
            }
        )

    @dg.asset(
        key=raw_key,
        deps=[request_key],
        description=f"Every result file of the {vendor} export `{name}`, as downloaded.",
        kinds={vendor, "files"},
        **common,
    )
    @_guarded
    def raw(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        resource, ledger, lake = _resources(context, vendor)
        root = _job_for_run(context, spec, ledger)
        client = resource.client()
        jobs = []
        try:
            for job in ledger.leaves(root):
                if job.state is JobState.RUNNING:
                    context.log.info(f"vendor job {job.vendor_job_id} is running; waiting for it")
                    job = wait_for_completion(
                        job,
                        ledger=ledger,
                        client=client,
                        resource=resource,
                        completion=spec.adapter.completion,
                    )
                if job.state is JobState.DEFERRED:
                    raise StepFailed(
                        f"ledger job {job.id}{_sub_window_note(root, job)} is not submitted yet "
                        f"({vendor}'s quota was spent): {deferred_until(job)}; its raw+table run "
                        f"follows once {vendor} has finished it"
                    )
                if job.state not in FINISHED_OK:
                    raise StepFailed(
                        f"{vendor} job {job.vendor_job_id} (ledger job {job.id}"
                        f"{_sub_window_note(root, job)}) is {job.state.value}"
                        f"{': ' + job.error if job.error else ''}; materialize the request asset "
                        "with `resubmit: true` to ask the vendor again"
                    )
                jobs.append(download_files(job, spec=spec, ledger=ledger, lake=lake, client=client))
        finally:
            client.close()
        job = jobs[0] if len(jobs) == 1 else root
        parts = _parts_progress(job)
        for at, detail in parts:
            context.log.info(f"{vendor} job {job.vendor_job_id} at {at}: {detail}")
        files = [(part, f) for part in jobs for f in part.files]
        return dg.MaterializeResult(
            metadata={
                "vendor_job_id": job.vendor_job_id,
                "ledger_job_id": job.id,
                **_parts_metadata(job, parts),
                "files": len(files),
                "bytes": sum(f.bytes or 0 for _, f in files),
                "sha256": dg.MetadataValue.json(
                    {source_name(part, f, len(jobs)): f.sha256 for part, f in files}
                ),
                "raw_dir": dg.MetadataValue.path(
                    str(lake.raw_folder(vendor, name, job.partition_key, job.id))
                ),
                "vendor_latency_seconds": job.vendor_latency_seconds,
                "sub_window_jobs": _sub_window_metadata(ledger, root),
            }
        )

    @dg.asset(
        key=table_key,
        deps=[raw_key],
        description=f"The {vendor} export `{name}` as typed Parquet, one file per partition. "
        + spec.description,
        kinds={vendor, "parquet"},
        check_specs=[
            dg.AssetCheckSpec(
                keys.ROWS_CHECK,
                asset=table_key,
                description="The Parquet holds exactly as many rows as the vendor's files did. "
                "Blocking: a table failing it is not kept, and nothing downstream runs on it.",
                blocking=True,
            )
        ],
        **common,
    )
    def table(
        context: dg.AssetExecutionContext,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        _, ledger, lake = _resources(context, vendor)
        try:
            root = _job_for_run(context, spec, ledger)
        except StepFailed as exc:
            raise _failure(exc) from None
        jobs = ledger.leaves(root)
        for part in jobs:
            if part.state not in (JobState.DOWNLOADED, JobState.INGESTED):
                raise _failure(
                    StepFailed(
                        f"ledger job {part.id}{_sub_window_note(root, part)} is "
                        f"{part.state.value}, not downloaded; materialize "
                        f"{raw_key.to_user_string()} first"
                    )
                )
        job = jobs[0] if len(jobs) == 1 else root
        location = lake.table(vendor, name, job.partition_key)
        # Published only when the block ends cleanly: a failed normalize or check leaves the
        # partition's table (a local file or an S3 object) as it was.
        with lake.writing(location) as path:
            try:
                written, drift = normalize_jobs(jobs, spec=spec, lake=lake, dest=path)
            except Exception as exc:
                message = (
                    f"normalizing ledger job {job.id} ({vendor} job {job.vendor_job_id}, raw "
                    f"files in {lake.raw_folder(vendor, name, job.partition_key, job.id)}) "
                    f"failed: {exc}; the partition's table was left as it was"
                )
                ledger.record_error(job.id, message)
                raise dg.Failure(description=message, allow_retries=False) from exc
            counted = rows_per_file(written, jobs)
            check = _rows_check(spec, jobs, path, counted)
            if not check.passed:
                per_file = ", ".join(
                    f"{source_name(part, f, len(jobs))}: {rows}"
                    for part, part_rows in zip(jobs, counted, strict=True)
                    for f, rows in zip(part.files, part_rows, strict=True)
                )
                message = (
                    f"the rows of ledger job {job.id} ({vendor} job {job.vendor_job_id}) do not "
                    f"add up: {check.metadata['problems'].value}; records per file: {per_file}. "
                    "The new table was discarded and the partition's table left as it was"
                )
                ledger.record_error(job.id, message)
                yield check
                raise dg.Failure(description=message, allow_retries=False)
        ingested = [
            ledger.mark_ingested(part.id, part_rows)
            for part, part_rows in zip(jobs, counted, strict=True)
        ]
        if len(jobs) > 1:
            ledger.record_event(
                root.id, f"{written.rows} rows ingested from {len(jobs)} sub-window jobs"
            )
        job = ingested[0] if len(jobs) == 1 else ledger.get(root.id)
        if drift.fields:
            context.log.warning(f"{vendor}/{name} partition {job.partition_key}: {drift.summary()}")
            ledger.record_event(job.id, drift.summary())
        yield dg.MaterializeResult(
            metadata={
                **_written_metadata(written, location, job),
                **drift_metadata(drift),
                "files": sum(len(part.files) for part in ingested),
                "bytes_raw": sum(part.bytes or 0 for part in ingested),
                "bytes_parquet": written.bytes,
                "vendor_latency_seconds": job.vendor_latency_seconds,
                "sub_window_jobs": _sub_window_metadata(ledger, root),
            },
            check_results=[check],
        )

    forms = [
        _form_asset(spec, form, table_key, common)
        for form in spec.adapter.output_forms(spec.request)
    ]
    return [request, raw, table, *forms]


def _written_metadata(
    written: ParquetWriteResult, location: LakeLocation, job: JobRecord
) -> dict[str, Any]:
    """What a table or a further form of it says about the Parquet file it wrote."""
    return {
        "dagster/row_count": written.rows,
        "dagster/column_schema": column_schema(written.schema),
        "dagster/uri": location.uri,
        "preview": dg.MetadataValue.md(markdown_preview(location)),
        "path": dg.MetadataValue.path(str(location)),
        "vendor_job_id": job.vendor_job_id,
        "ledger_job_id": job.id,
    }


def _form_asset(
    spec: ExportSpec, form: str, table_key: dg.AssetKey, common: dict[str, Any]
) -> dg.AssetsDefinition:
    """A further table of the export (``VendorAdapter.output_forms``), made from the same raw files
    after the main table (whose row check has passed), in the same run the sensor launches."""
    vendor, name = spec.vendor, spec.name

    @dg.asset(
        key=keys.form_key(vendor, name, form),
        deps=[table_key],
        description=f"The {vendor} export `{name}` in its {form} form, as typed Parquet, one file "
        "per partition, from the same raw files as the table.",
        kinds={vendor, "parquet"},
        **common,
    )
    def form_table(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        _, ledger, lake = _resources(context, vendor)
        try:
            job = _job_for_run(context, spec, ledger)
        except StepFailed as exc:
            raise _failure(exc) from None
        if job.state is not JobState.INGESTED:
            raise _failure(
                StepFailed(
                    f"ledger job {job.id} is {job.state.value}, not ingested; materialize "
                    f"{table_key.to_user_string()} first"
                )
            )
        location = lake.form(vendor, name, job.partition_key, form)
        with lake.writing(location) as path:
            try:
                written, _ = normalize_job(job, spec=spec, lake=lake, dest=path, form=form)
            except Exception as exc:
                message = (
                    f"normalizing ledger job {job.id} ({vendor} job {job.vendor_job_id}) into its "
                    f"{form} form failed: {exc}; the partition's {form} table was left as it was"
                )
                raise dg.Failure(description=message, allow_retries=False) from exc
        return dg.MaterializeResult(
            metadata={**_written_metadata(written, location, job), "bytes_parquet": written.bytes}
        )

    return form_table


def _parts_progress(job: JobRecord) -> list[tuple[str, str]]:
    """The ``progress r/t parts`` events the status polls recorded for a job delivered in parts."""
    return [
        (at.isoformat(), detail)
        for at, _, detail in job.history
        if detail and detail.startswith("progress ")
    ]


def _parts_metadata(job: JobRecord, parts: list[tuple[str, str]]) -> dict[str, Any]:
    if job.progress is None:
        return {}
    ready, total = job.progress
    return {
        "parts_ready": ready,
        "total_parts": total,
        "parts_progress": dg.MetadataValue.json([{"at": at, "seen": d} for at, d in parts]),
    }


def _rows_check(
    spec: ExportSpec, jobs: list[JobRecord], path: Path, counted: list[list[int]]
) -> dg.AssetCheckResult:
    """Read the written file's footer back and compare with the rows counted per vendor file
    (of each job: the partition's, or its sub-window jobs')."""
    parquet_rows = pq.ParquetFile(path).metadata.num_rows
    file_rows = [rows for part in counted for rows in part]
    problems = []
    if parquet_rows != sum(file_rows):
        problems.append(f"Parquet holds {parquet_rows} rows, the vendor files {sum(file_rows)}")
    reported = [job.vendor_rows for job in jobs]
    vendor_rows = None if None in reported else sum(r or 0 for r in reported)
    if vendor_rows is not None and vendor_rows != parquet_rows:
        problems.append(f"the vendor reported {vendor_rows} rows")
    for job, part_rows in zip(jobs, counted, strict=True):
        rule = spec.adapter.file_rows_problem(job.request_body, part_rows) if part_rows else None
        if rule:
            problems.append(rule if len(jobs) == 1 else f"ledger job {job.id}: {rule}")
    return dg.AssetCheckResult(
        check_name=keys.ROWS_CHECK,
        passed=not problems,
        metadata={
            "parquet_rows": parquet_rows,
            "rows_per_file": dg.MetadataValue.json(file_rows),
            "vendor_rows": vendor_rows,
            "problems": "; ".join(problems) or "none",
        },
    )


def _sub_window_note(root: JobRecord, job: JobRecord) -> str:
    return "" if job.id == root.id else f", a sub-window job of split job {root.id}"


def _sub_window_metadata(ledger: Ledger, job: JobRecord) -> dg.MetadataValue | None:
    """The sub-window jobs standing for a split job's window, in window order; None otherwise."""
    if job.state is not JobState.SPLIT:
        return None
    return dg.MetadataValue.json(
        [
            {
                "ledger_job_id": part.id,
                "vendor_job_id": part.vendor_job_id,
                "window_start": part.window_start.isoformat() if part.window_start else None,
                "window_end": part.window_end.isoformat() if part.window_end else None,
                "state": part.state.value,
                "rows": part.rows,
            }
            for part in ledger.leaves(job)
        ]
    )
