"""What the status sensor does with a vendor job that failed or stopped moving (issue 14).

Each decision rests on what the vendor's adapter declares, never on the vendor's name:

- A failed job whose reason the adapter classes as transient (``VendorAdapter.classify_failure``;
  any reason, where the policy says so) is asked again: the sensor requests a run of the request
  asset for the job's partition (run key per failed job, so it launches once), and that run
  claims a new job of the same window and body, which supersedes the failed one in the ledger.
  ``resubmit_failed.max_attempts`` bounds the jobs one window gets; past it the job stays failed
  with the vendor's reason and "gave up after N attempt(s)".
- A job too large for the vendor (its record limit, its time limit) whose request takes a
  narrower window (``VendorAdapter.can_narrow_window``) is split: the request run asks for each
  half of its window as a sub-window job (``parent_id``), recursively up to
  ``split_too_large.max_depth``. The partition's table is then written once from the raw files of
  every sub-window job (``Ledger.leaves``).
- A job stuck, with no progress for ``stuck_after_seconds`` (or past the job deadline), is marked
  timed out, cancelled at the vendor where its client can cancel (``VendorClient.can_cancel``),
  and surfaced: a warning in the sensor's log and an observation of the request asset.

The default resubmits a transient failure once (two attempts in all): a vendor's passing trouble
should not page anyone, but a request that keeps failing should not spend the vendor's quota in a
loop either, and a reason nobody documents as transient is left to a person. Splitting is on
(three levels: eighths of a window), because a too-large window never succeeds as it is. The
stuck rule is off unless set: for a vendor that reports no progress, "no progress" only means
"not finished yet", which the job deadline already bounds.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import dagster as dg
from pydantic import Field

from export_pipelines.ledger import JobRecord, Ledger
from export_pipelines.pipeline import keys
from export_pipelines.vendors import adapter_for
from export_pipelines.vendors.base import FailureKind, VendorClient, Window

#: The ledger error of a failed job the policy will not ask again for starts with this.
GAVE_UP_RESUBMITTING = "gave up after"
#: The ledger error of a stuck job starts with this.
STUCK = "stuck"
#: A window is not halved below this: the vendor's windows are whole seconds (Rebilly's ISO
#: times, Enterpret's and Connhex's epoch seconds).
SMALLEST_WINDOW = timedelta(seconds=2)


class ResubmitPolicy(dg.Model, dg.Resolvable):
    """``resubmit_failed`` of a ``VendorConnection``."""

    max_attempts: int = Field(
        default=2,
        ge=1,
        le=10,
        description="Vendor jobs one window may get, the first included (1: never resubmit).",
    )
    reasons: Literal["transient", "any"] = Field(
        default="transient",
        description="transient: only reasons the vendor's adapter classes as transient; any: "
        "every failure that is not too large.",
    )


class SplitPolicy(dg.Model, dg.Resolvable):
    """``split_too_large`` of a ``VendorConnection``."""

    max_depth: int = Field(
        default=3,
        ge=0,
        le=8,
        description="Times a too-large window may be halved (0: never split; 3: down to eighths).",
    )


@dataclass(frozen=True)
class Recovery:
    """The policies one vendor's status sensor follows."""

    resubmit: ResubmitPolicy = field(default_factory=ResubmitPolicy)
    split: SplitPolicy = field(default_factory=SplitPolicy)
    #: A running job whose progress has not moved for this long is stuck; None: no such rule.
    stuck_after_seconds: float | None = None


@dataclass(frozen=True)
class Decision:
    """What became of a failed or stuck job: the run to launch (if any) and what to log."""

    message: str
    run_request: dg.RunRequest | None = None


def request_run(job: JobRecord, run_key: str, tag: str) -> dg.RunRequest:
    """A run of ``job``'s request asset for its partition, its tag naming ``job``."""
    return dg.RunRequest(
        run_key=run_key,
        asset_selection=[keys.request_key(job.vendor, job.export)],
        partition_key=job.partition_key if job.partitioned else None,
        tags={tag: str(job.id)},
    )


def window_of(job: JobRecord) -> Window | None:
    if job.window_start is None or job.window_end is None:
        return None
    return Window(job.window_start, job.window_end)


def halves(window: Window) -> tuple[Window, Window]:
    """[start, middle) and [middle, end), the middle on a whole second: half-open windows, so a
    record on the middle belongs to the second half only."""
    middle = window.start + timedelta(seconds=int((window.end - window.start).total_seconds() // 2))
    return Window(window.start, middle), Window(middle, window.end)


def after_failure(ledger: Ledger, job: JobRecord, reason: str, recovery: Recovery) -> Decision:
    """Decide, record in the ledger and return what to do with ``job``, which the vendor just
    reported failed for ``reason``."""
    adapter = adapter_for(job.vendor)
    kind = adapter.classify_failure(reason)
    failed = f"the vendor reported failure: {reason}"
    if kind is FailureKind.TOO_LARGE:
        return _split(ledger, job, reason, recovery)
    if kind is not FailureKind.TRANSIENT and recovery.resubmit.reasons != "any":
        return Decision(
            f"{failed}; not resubmitted: {job.vendor} does not document this reason as "
            "transient (resubmit_failed.reasons: any would ask again)"
        )
    limit = recovery.resubmit.max_attempts
    if job.attempt >= limit:
        message = (
            f"{failed}; {GAVE_UP_RESUBMITTING} {job.attempt} attempt(s) "
            f"(resubmit_failed.max_attempts = {limit})"
        )
        ledger.record_error(job.id, message)
        return Decision(message)
    message = f"{failed}; resubmitting as attempt {job.attempt + 1} of {limit}"
    ledger.record_event(job.id, message)
    run = request_run(job, keys.resubmit_run_key(job.vendor, job.id), keys.RESUBMIT_OF_TAG)
    return Decision(message, run)


def _split(ledger: Ledger, job: JobRecord, reason: str, recovery: Recovery) -> Decision:
    failed = f"the vendor reported failure: {reason} (too large)"
    window = window_of(job)
    if window is None or not adapter_for(job.vendor).can_narrow_window(job.request_body):
        message = (
            f"{failed}; its request cannot ask for a narrower window, so it is not split: "
            "narrow the export's request (or its partitions)"
        )
        ledger.record_error(job.id, message)
        return Decision(message)
    depth = ledger.depth(job)
    limit = recovery.split.max_depth
    if depth >= limit or window.end - window.start < SMALLEST_WINDOW:
        message = (
            f"{failed}; gave up splitting at depth {depth} (split_too_large.max_depth = {limit}): "
            f"the window [{window.start.isoformat()}, {window.end.isoformat()}) is still too large"
        )
        ledger.record_error(job.id, message)
        return Decision(message)
    message = f"{failed}; asking for its window in two halves (depth {depth + 1} of {limit})"
    ledger.record_event(job.id, message)
    return Decision(
        message, request_run(job, keys.split_run_key(job.vendor, job.id), keys.SPLIT_OF_TAG)
    )


def last_progress(job: JobRecord) -> datetime:
    """When the job last moved: its submit, or the newest change of the parts the vendor reports
    ready (``progress r/t parts`` events). A vendor reporting no progress moves only once."""
    moved = job.submitted_at or job.created_at
    for at, _, detail in job.history:
        if detail and detail.startswith("progress ") and at > moved:
            moved = at
    return moved


def is_stuck(job: JobRecord, recovery: Recovery, now: datetime) -> bool:
    limit = recovery.stuck_after_seconds
    return limit is not None and (now - last_progress(job)).total_seconds() > limit


def stop_stuck(
    ledger: Ledger, client: VendorClient, job: JobRecord, why: str
) -> tuple[JobRecord, str]:
    """Mark ``job`` timed out for ``why``, cancel it at the vendor where it can be cancelled;
    the job as it stands and one line saying all of it."""
    job = ledger.mark_timed_out(job.id, why)
    assert job.vendor_job_id is not None
    if not client.can_cancel:
        note = f"{job.vendor} documents no cancel, so its job {job.vendor_job_id} was left alone"
    else:
        try:
            client.cancel(job.vendor_job_id)
            note = f"cancelled at {job.vendor} (job {job.vendor_job_id})"
        except Exception as exc:  # the mark stands; the cancel is worth a line, not the tick
            note = f"cancelling it at {job.vendor} failed: {type(exc).__name__}: {exc}"
    ledger.record_event(job.id, note)
    return job, f"{why}; {note}"


def stuck_message(job: JobRecord, recovery: Recovery) -> str:
    assert recovery.stuck_after_seconds is not None
    return (
        f"{STUCK}: no progress for more than {recovery.stuck_after_seconds:g} s "
        f"(stuck_after_seconds) since {last_progress(job).isoformat()}"
    )


def observation(job: JobRecord, message: str) -> dg.AssetObservation:
    """An observation of the job's request asset, so the UI shows what became of it there."""
    return dg.AssetObservation(
        asset_key=keys.request_key(job.vendor, job.export),
        partition=job.partition_key if job.partitioned else None,
        metadata={
            "ledger_job_id": job.id,
            "vendor_job_id": job.vendor_job_id,
            "state": job.state.value,
            "attempt": job.attempt,
            "what_happened": message,
        },
    )
