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

A run may work on a range of partitions (``ExportSpec.partitions_per_run``, the assets'
``BackfillPolicy``): a backfill's request runs ask for each partition of their range one after
another, and the status sensor's raw+table runs ingest the adjacent partitions whose jobs finished
together. Each partition keeps its own job, files, Parquet and metadata; in a range, a partition
whose table fails leaves the others landed (their materializations are recorded before the run
fails), and the sensor asks again for the one that failed, alone.

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
from export_pipelines.pipeline import keys, ranges
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
from export_pipelines.pipeline.window import Target, resolve_targets
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


def _jobs_for_run(
    context: dg.AssetExecutionContext, spec: ExportSpec, ledger: Ledger
) -> list[JobRecord]:
    """The jobs whose files the run ingests, one per partition in partition order: the tagged
    ones (the status sensor's runs), else each partition's; the top of its split tree where a job
    is a sub-window job."""
    tags = context.run.tags
    if keys.LEDGER_JOBS_TAG in tags:
        jobs = [ledger.root_of(ledger.get(int(i))) for i in tags[keys.LEDGER_JOBS_TAG].split(",")]
        if [job.partition_key for job in jobs] != list(context.partition_keys):
            raise StepFailed(
                f"the run's ledger jobs ({tags[keys.LEDGER_JOBS_TAG]}) are not those of its "
                f"partitions {context.partition_keys[0]}…{context.partition_keys[-1]}"
            )
        return jobs
    tagged = tags.get(keys.LEDGER_JOB_TAG)
    if tagged:
        return [ledger.root_of(ledger.get(int(tagged)))]
    return [_partition_job(spec, ledger, target) for target in resolve_targets(context, spec)]


def _partition_job(spec: ExportSpec, ledger: Ledger, target: Target) -> JobRecord:
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


def _range_note(done: int, of: int) -> str:
    """What became of a range run's other partitions when one fails."""
    if of == 1:
        return ""
    return (
        f" ({done} partition(s) of this run's {of} before it are done and recorded in the "
        "ledger; running the range again adopts them)"
    )


def _asked_again(
    context: dg.AssetExecutionContext,
    spec: ExportSpec,
    ledger: Ledger,
    client: Any,
    run_finished: Callable[[str], bool],
) -> Submission | None:
    """A request run the status sensor launched for a failed job (``recovery``): its split into
    sub-windows, or its resubmission, superseding it; or for a deferred job whose time has come:
    its submit (the claim takes it up again); None for any other run, and for a standing
    export's deferred slot, which the partition's own request (``record_slot``) takes up."""
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
    for tag in (keys.RESUBMIT_OF_TAG, keys.DEFERRED_OF_TAG):
        if tag in tags and not (tag == keys.DEFERRED_OF_TAG and spec.standing):
            earlier = ledger.get(int(tags[tag]))
            return submit_or_adopt(
                spec,
                Target(earlier.partition_key, earlier.partitioned, window_of(earlier)),
                ledger=ledger,
                client=client,
                run_id=context.run.run_id,
                run_finished=run_finished,
                parent_id=earlier.parent_id,
                # A resubmission supersedes the failed job; a deferred job is taken up again.
                replaces=earlier.id if tag == keys.RESUBMIT_OF_TAG else None,
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


def _requested(
    context: dg.AssetExecutionContext,
    ledger: Ledger,
    outcome: Submission,
    standing_id: str | None,
) -> dict[str, Any]:
    """Log what a request run did for one partition, and its materialization's metadata."""
    job = outcome.job
    verb = "submitted" if outcome.submitted else "adopted"
    if standing_id is not None:
        verb = "recorded"  # a slot of the standing request: nothing submitted
    if outcome.deferred is not None:  # the vendor's quota is spent: see ``submission``
        verb = "deferred" if job.state is JobState.DEFERRED else verb
        context.log.warning(outcome.deferred)
    context.log.info(
        f"{verb} {job.vendor} job {job.vendor_job_id} for partition {job.partition_key} "
        f"(ledger job {job.id}, state {job.state})"
    )
    return {
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


def _download(
    spec: ExportSpec,
    root: JobRecord,
    ledger: Ledger,
    lake: LakeResource,
    client: Any,
    resource: VendorResource,
    context: dg.AssetExecutionContext,
) -> dict[str, Any]:
    """Download every file of one partition's job (of each of its sub-window jobs), waiting for
    a job still running; the raw asset's metadata for that partition."""
    vendor, name = spec.vendor, spec.name
    jobs = []
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
    job = jobs[0] if len(jobs) == 1 else root
    parts = _parts_progress(job)
    for at, detail in parts:
        context.log.info(f"{vendor} job {job.vendor_job_id} at {at}: {detail}")
    files = [(part, f) for part in jobs for f in part.files]
    return {
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


class _TableFailed(Exception):
    """One partition's table was not written (its previous table left as it was)."""

    def __init__(self, message: str, check: dg.AssetCheckResult | None = None):
        super().__init__(message)
        self.message = message
        self.check = check


def _write_table(
    context: dg.AssetExecutionContext,
    spec: ExportSpec,
    ledger: Ledger,
    lake: LakeResource,
    root: JobRecord,
) -> tuple[dict[str, Any], dg.AssetCheckResult]:
    """Normalize one partition's downloaded files to its Parquet, published only when its row
    check passes; the partition's metadata and check."""
    vendor, name = spec.vendor, spec.name
    jobs = ledger.leaves(root)
    for part in jobs:
        if part.state not in (JobState.DOWNLOADED, JobState.INGESTED):
            raise _TableFailed(
                f"ledger job {part.id}{_sub_window_note(root, part)} is "
                f"{part.state.value}, not downloaded; materialize "
                f"{keys.raw_key(vendor, name).to_user_string()} first"
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
            raise _TableFailed(message) from exc
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
            raise _TableFailed(message, check)
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
    metadata = {
        **_written_metadata(written, location, job),
        **drift_metadata(drift),
        "files": sum(len(part.files) for part in ingested),
        "bytes_raw": sum(part.bytes or 0 for part in ingested),
        "bytes_parquet": written.bytes,
        "vendor_latency_seconds": job.vendor_latency_seconds,
        "sub_window_jobs": _sub_window_metadata(ledger, root),
    }
    return metadata, check


def _run_check(checks: list[tuple[str, dg.AssetCheckResult]]) -> dg.AssetCheckResult:
    """The run's row check: the partition's, or for a range one that passes when every
    partition's does, with each partition's figures."""
    if len(checks) == 1:
        return checks[0][1]
    return dg.AssetCheckResult(
        check_name=keys.ROWS_CHECK,
        passed=all(check.passed for _, check in checks),
        metadata={
            "partitions": dg.MetadataValue.json(
                {
                    key: {name: value.value for name, value in check.metadata.items()}
                    for key, check in checks
                }
            ),
            "problems": "; ".join(
                f"{key}: {check.metadata['problems'].value}"
                for key, check in checks
                if not check.passed
            )
            or "none",
        },
    )


def build_export_assets(spec: ExportSpec) -> list[dg.AssetsDefinition]:
    vendor, name = spec.vendor, spec.name
    partitions_def = spec.partitions_def()
    common: dict[str, Any] = dict(
        partitions_def=partitions_def,
        group_name=vendor,
        required_resource_keys={vendor, "ledger", "lake"},
        backfill_policy=spec.backfill_policy(),
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
        run_finished = functools.partial(_run_finished, context.instance)

        def ask(client: Any, target: Target) -> tuple[Submission, str | None]:
            if spec.standing and not config.resubmit:
                outcome, standing = record_slot(
                    spec,
                    target,
                    ledger=ledger,
                    client=client,
                    run_id=context.run.run_id,
                    run_finished=run_finished,
                )
                return outcome, standing.vendor_request_id if standing else None
            # A standing export's ``resubmit`` asks for the partition's window once, on its own
            # (the vendor cannot run a past run of its standing request again).
            outcome = submit_or_adopt(
                spec,
                target,
                ledger=ledger,
                client=client,
                run_id=context.run.run_id,
                force=config.resubmit,
                run_finished=run_finished,
            )
            return outcome, None

        results = []
        with resource.client() as client:
            again = _asked_again(context, spec, ledger, client, run_finished)
            if again is not None:
                results.append((again.job.partition_key, _requested(context, ledger, again, None)))
            else:
                # A range (a backfill) is asked for one partition after another: one submit in
                # flight per run, so the vendor's pool holds however long the range.
                targets = resolve_targets(context, spec)
                for done, target in enumerate(targets):
                    try:
                        outcome, standing_id = ask(client, target)
                    except (StepFailed, VendorError) as exc:
                        if len(targets) == 1:
                            raise
                        raise StepFailed(
                            f"partition {target.partition_key}: {exc}"
                            + _range_note(done, len(targets))
                        ) from None
                    metadata = _requested(context, ledger, outcome, standing_id)
                    results.append((target.partition_key, metadata))
        return ranges.materialized(context, results)

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
        roots = _jobs_for_run(context, spec, ledger)
        with resource.client() as client:
            results = [
                (root.partition_key, _download(spec, root, ledger, lake, client, resource, context))
                for root in roots
            ]
        return ranges.materialized(context, results)

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
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult | dg.AssetMaterialization]:
        _, ledger, lake = _resources(context, vendor)
        try:
            roots = _jobs_for_run(context, spec, ledger)
        except StepFailed as exc:
            raise _failure(exc) from None
        results: list[tuple[str, dict[str, Any]]] = []
        checks: list[tuple[str, dg.AssetCheckResult]] = []
        failures: list[str] = []
        # Each partition of a range is written (or left as it was) on its own: one that fails
        # does not keep the others from landing.
        for root in roots:
            try:
                metadata, check = _write_table(context, spec, ledger, lake, root)
            except _TableFailed as exc:
                if exc.check is not None:
                    checks.append((root.partition_key, exc.check))
                failures.append(exc.message)
                continue
            results.append((root.partition_key, metadata))
            checks.append((root.partition_key, check))
        if not failures:
            yield ranges.materialized(context, results, [_run_check(checks)])
            return
        yield from ranges.landed_before_failing(table_key, results)
        if checks:
            yield _run_check(checks)
        raise ranges.failure(failures, len(results), len(roots))

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
            jobs = _jobs_for_run(context, spec, ledger)
        except StepFailed as exc:
            raise _failure(exc) from None
        return ranges.materialized(
            context, [(job.partition_key, write(ledger, lake, job)) for job in jobs]
        )

    def write(ledger: Ledger, lake: LakeResource, job: JobRecord) -> dict[str, Any]:
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
        return {**_written_metadata(written, location, job), "bytes_parquet": written.bytes}

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
