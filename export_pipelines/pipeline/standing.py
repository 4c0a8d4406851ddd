"""Exports fed by one vendor-side standing request, each run's job landing in its own partition.

A standing request (Connhex's ``type: recurring``) is created once per export and body, never per
partition: the vendor runs it every partition length and each run's job covers one partition's
window. A partition's request asset therefore submits nothing of its own. It makes sure the
standing request exists, then records the partition's ledger job under the slot id
``<request id>@<window start>`` (``vendors.base.standing_slot_id``), which the vendor's client
resolves from the request's jobs. From there the status sensor, the raw and the table assets
treat the job as any other.

Creating the standing request once, even when partitions run at once: its ledger row is inserted
under a UNIQUE key (export and body), so one run wins the claim and creates it while the others
wait (bounded) for its id. A create refused, or known never sent, frees the claim at once; one
sent without a complete answer keeps it, and the next run looks for it at the vendor
(``find_submitted``) before creating another, as a partition's own submit does (``submission``).
A create refused because the vendor's quota is spent for hours (a 429 with ``retry_at``), or not
sent because another submit of the vendor already was (``Ledger.quota_spent_until``), frees the
claim too and defers the partition's job to the reset, as a one-off submit is deferred: the
status sensor asks for the partition's request again once it is due, and that run creates the
standing request and names the slot.

The vendor's period between runs is one fixed length, so only partitionings whose windows all
have one length can be fed this way: hourly, daily or weekly in a zone whose UTC offset does not
change (a daily partition in Europe/Rome is 23 or 25 hours on DST changes, and even an hourly
one there is 0 or 2 hours once a year).
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from export_pipelines.ledger import JobRecord, Ledger, StandingRecord, StandingState
from export_pipelines.pipeline.spec import ExportSpec
from export_pipelines.pipeline.steps import StepFailed
from export_pipelines.pipeline.submission import (
    AMBIGUOUS_STATUSES,
    Submission,
    deferred_until,
    other_run_ended,
    quota_spent,
)
from export_pipelines.pipeline.window import Target, fingerprint
from export_pipelines.transport import (
    OutcomeUnknown,
    RequestNotSent,
    VendorError,
    VendorUnavailable,
)
from export_pipelines.vendors.base import StandingSchedule, VendorClient, standing_slot_id

LENGTHS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
#: The zone's UTC offset is checked from the first partition to this long past today (a zone's
#: future rules are its own; a change announced later is not foreseen).
OFFSET_HORIZON = timedelta(days=366)
#: How long a run waits for another run's create of the standing request, and how often it looks.
CREATE_WAIT_SECONDS = 60.0
CREATE_LOOK_SECONDS = 0.2


def standing_schedule(spec: ExportSpec) -> StandingSchedule:
    """The export's partitions as one fixed length from its first partition's start; ValueError
    naming why when they are not (checked at catalog load)."""
    refuse = (
        f"a standing request (the vendor runs it once every fixed period) needs partitions of "
        f"one fixed length; {spec.cadence} partitions in {spec.timezone} are not"
    )
    length = LENGTHS.get(spec.cadence)
    partitions = spec.partitions_def()
    if length is None or partitions is None:
        raise ValueError(f"{refuse} (partition hourly, daily or weekly, in UTC)")
    first = partitions.get_first_partition_window()
    if first is None:
        raise ValueError(f"{refuse}: there is no partition")
    start = first.start.astimezone(UTC)
    stop = max(spec.end or start, datetime.now(UTC)) + OFFSET_HORIZON
    days = pd.date_range(start, stop, freq="D")
    offsets = days.tz_convert(spec.timezone).tz_localize(None) - days.tz_localize(None)
    if offsets.nunique() > 1:
        low, high = (_offset(o.total_seconds()) for o in (offsets.min(), offsets.max()))
        raise ValueError(
            f"{refuse}: {spec.timezone}'s UTC offset changes (between {low} and {high}), so its "
            f"{spec.cadence} partitions are of different lengths (a daily one 23 or 25 hours); "
            "partition in UTC"
        )
    return StandingSchedule(start, length)


def _offset(seconds: float) -> str:
    sign, minutes = ("-" if seconds < 0 else "+"), int(abs(seconds)) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def standing_body(spec: ExportSpec) -> dict[str, Any]:
    return spec.adapter.build_standing_body(spec.request, standing_schedule(spec))


def record_slot(
    spec: ExportSpec,
    target: Target,
    *,
    ledger: Ledger,
    client: VendorClient,
    run_id: str | None,
    run_finished: Callable[[str], bool] | None = None,
) -> tuple[Submission, StandingRecord | None]:
    """The partition's ledger job, naming its slot of the export's standing request (created
    first when it does not exist yet), and that request; nothing is submitted for the partition
    itself. While the vendor's quota is spent the request cannot be created: the job is deferred
    (the outcome says until when) and there is no request (None)."""
    if target.window is None:
        raise StepFailed(f"{spec.vendor}/{spec.name}: a standing export needs a partition")
    try:
        body = standing_body(spec)
    except ValueError as exc:
        raise StepFailed(f"{spec.vendor}/{spec.name}: {exc}") from None
    try:
        standing = ensure_standing(
            spec, body, ledger=ledger, client=client, run_id=run_id, run_finished=run_finished
        )
    except CreateDeferred as deferred:
        job, _ = _claim(spec, target, body, ledger=ledger, run_id=run_id)
        if job.vendor_job_id is not None:
            return Submission(job, submitted=False), None  # named before: nothing to defer
        job = ledger.mark_deferred(job.id, deferred.not_before, deferred.detail)
        reason = f"{deferred.doing}: {deferred.detail}; {deferred_until(job)}"
        return Submission(job, submitted=False, deferred=reason), None
    assert standing.vendor_request_id is not None
    job, _ = _claim(spec, target, body, ledger=ledger, run_id=run_id)
    if job.vendor_job_id is None:
        slot = standing_slot_id(standing.vendor_request_id, target.window)
        job = ledger.name_slot(
            job.id,
            slot,
            f"slot {slot} of standing {spec.vendor} request {standing.vendor_request_id}",
        )
    return Submission(job, submitted=False), standing


def _claim(
    spec: ExportSpec, target: Target, body: dict[str, Any], *, ledger: Ledger, run_id: str | None
) -> tuple[JobRecord, bool]:
    """The partition's job of the standing request (its fingerprint is the request's)."""
    assert target.window is not None
    return ledger.claim(
        vendor=spec.vendor,
        export=spec.name,
        partition_key=target.partition_key,
        partitioned=target.partitioned,
        window=(target.window.start, target.window.end),
        fingerprint=fingerprint(spec.vendor, spec.name, body),
        body=body,
        window_fixed=True,  # a slot always covers its partition's window
        run_id=run_id,
    )


class CreateDeferred(Exception):
    """The standing request was not created, and asking before ``not_before`` would be refused
    again: the vendor's quota is spent. The create's claim is freed (state failed)."""

    def __init__(self, doing: str, not_before: datetime, detail: str) -> None:
        super().__init__(f"{doing}: {detail}")
        self.doing, self.not_before, self.detail = doing, not_before, detail


def ensure_standing(
    spec: ExportSpec,
    body: dict[str, Any],
    *,
    ledger: Ledger,
    client: VendorClient,
    run_id: str | None,
    run_finished: Callable[[str], bool] | None = None,
) -> StandingRecord:
    """The export's standing request for ``body``, created at the vendor at most once."""
    what = f"the standing {spec.vendor} request of {spec.name}"
    record, mine = ledger.claim_standing(
        vendor=spec.vendor,
        export=spec.name,
        fingerprint=fingerprint(spec.vendor, spec.name, body),
        body=body,
        run_id=run_id,
    )
    give_up = time.monotonic() + CREATE_WAIT_SECONDS
    while True:
        if mine:
            return _create(what, record, body, ledger=ledger, client=client)
        if record.state is StandingState.CREATED:
            return record
        abandoned = _abandoned(record, run_id, run_finished)
        if record.state is StandingState.FAILED or abandoned:
            found = _look_for(what, record, ledger=ledger, client=client) if abandoned else None
            if found is not None:
                return found
            taken = ledger.reclaim_standing(record, run_id)
            if taken is not None:
                record, mine = taken, True
                continue
        elif time.monotonic() > give_up:
            raise StepFailed(
                f"{what} is being created by run {record.claimed_by_run} (ledger standing "
                f"request {record.id}) for over {CREATE_WAIT_SECONDS:.0f}s; try again in a minute"
            )
        else:
            time.sleep(CREATE_LOOK_SECONDS)
        record = ledger.standing(record.id)


def _abandoned(
    record: StandingRecord, run_id: str | None, run_finished: Callable[[str], bool] | None
) -> bool:
    """A create whose outcome is known to be lost: its run recorded it ambiguous, died without
    answer (its run ended), or went silent past the grace period."""
    if record.state is not StandingState.CREATING:
        return False
    ended = other_run_ended(record.claimed_by_run, run_id, run_finished)
    return ended or record.unresolved(datetime.now(UTC))


def _look_for(
    what: str, record: StandingRecord, *, ledger: Ledger, client: VendorClient
) -> StandingRecord | None:
    """The vendor's request for a create whose answer was lost, recorded; None if it holds none."""
    if not client.can_find_submitted:
        raise StepFailed(
            f"{what}: a create was sent without a complete answer ({record.error}) and the "
            "vendor cannot be asked whether it made it; not creating a second one on its own"
        )
    found = client.find_submitted(record.request_body, record.claimed_at)
    if found is None:
        return None
    return ledger.standing_created(record.id, found.vendor_job_id)


def _create(
    what: str,
    record: StandingRecord,
    body: dict[str, Any],
    *,
    ledger: Ledger,
    client: VendorClient,
) -> StandingRecord:
    doing = f"creating {what} (ledger standing request {record.id})"
    spent = quota_spent(ledger, record.vendor)
    if spent is not None:
        ledger.standing_failed(record.id, spent[1])
        raise CreateDeferred(doing, *spent)
    try:
        submitted = client.submit(body)
    except RequestNotSent as exc:
        ledger.standing_failed(record.id, f"not sent: {exc}")
        raise StepFailed(f"{doing} failed before it reached the vendor: {exc}") from None
    except VendorUnavailable as exc:
        if exc.status in AMBIGUOUS_STATUSES:
            ledger.standing_ambiguous(record.id, str(exc))
            raise StepFailed(f"{doing}: {exc}; the next run looks for it first") from None
        ledger.standing_failed(record.id, str(exc))
        if exc.retry_at is not None:
            raise CreateDeferred(doing, exc.retry_at, str(exc)) from None
        raise StepFailed(f"{doing} failed: {exc}") from None
    except OutcomeUnknown as exc:
        ledger.standing_ambiguous(record.id, str(exc))
        raise StepFailed(f"{doing}: {exc}; the next run looks for it first") from None
    except VendorError as exc:
        ledger.standing_failed(record.id, str(exc))
        raise StepFailed(f"{doing} failed: {exc}") from None
    except Exception as exc:
        ledger.standing_ambiguous(record.id, f"{type(exc).__name__} during the create call")
        raise
    return ledger.standing_created(record.id, submitted.vendor_job_id)
