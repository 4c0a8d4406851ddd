"""Submitting a vendor export exactly once per partition and request, even when an answer is lost.

A submit can end three ways, and each is recorded in the ledger before anything else happens:

- the vendor answered with its job (created, or an identical job adopted or deduped): the job runs;
- it is known not to have reached the vendor (``RequestNotSent``), or the vendor refused it with an
  answer that says nothing was created (4xx, 401, 429/503 after every retry): the claim is released
  at once, so the next run may submit without waiting;
- it was sent and no complete answer came back (``OutcomeUnknown``; a 500, 502 or 504, after which
  the vendor may have processed it; an unexpected error; a run that died mid-submit): the submit is
  *ambiguous*. The claim is kept. The next run asks the vendor for the job where it can be asked
  (``VendorClient.find_submitted``) and adopts it, or submits anew when the vendor holds none. Where
  it cannot be asked (Enterpret: no list endpoint), the run refuses to submit a second export on its
  own and says how to do it on purpose (``resubmit: true``); the superseded job stays in the ledger
  as a possible orphan, naming the job that replaced it.

A submit refused because the vendor's quota is spent for longer than a call may wait (a 429 whose
``Retry-After`` is hours away: ``VendorUnavailable.retry_at``) is neither failed nor sent again early:
the job is ``deferred`` to that time, and the run succeeds saying so. While a vendor's quota is
known to be spent (one of its jobs is deferred to a time still to come), a submit is deferred at
once, without asking the vendor. The status sensor asks for each deferred job's submit once its
``not_before`` has come (a run of the request asset tagged ``DEFERRED_OF_TAG``); that run's claim
takes the deferred job up again.

A job too large for the vendor is ``split`` (:func:`split_and_submit`): each half of its window is
submitted as a sub-window job naming it as parent. A later run of the partition adopts the split
job, and submits again only the halves that have no job standing (the newest failed, or none).
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from export_pipelines.ledger import JobRecord, JobState, Ledger, SubmitRecord
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.recovery import halves, window_of
from export_pipelines.pipeline.spec import ExportSpec
from export_pipelines.pipeline.steps import StepFailed, apply_status
from export_pipelines.pipeline.window import Target, fingerprint
from export_pipelines.transport import (
    OutcomeUnknown,
    RequestNotSent,
    VendorError,
    VendorUnavailable,
)
from export_pipelines.vendors.base import Submitted, VendorClient

#: Answers after which a non-idempotent request may have been processed (the retry policy does
#: not retry a submit on these either).
AMBIGUOUS_STATUSES = frozenset({500, 502, 504})


@dataclass(frozen=True)
class Submission:
    job: JobRecord
    submitted: bool
    #: Why the submit (or one of a split job's sub-window submits) was deferred, and until when;
    #: None when none was.
    deferred: str | None = None


def submit_or_adopt(
    spec: ExportSpec,
    target: Target,
    *,
    ledger: Ledger,
    client: VendorClient,
    run_id: str | None,
    force: bool = False,
    run_finished: Callable[[str], bool] | None = None,
    parent_id: int | None = None,
    replaces: int | None = None,
) -> Submission:
    """Submit the export for ``target`` unless the ledger holds an adoptable job for it.

    ``run_finished`` tells whether a Dagster run has ended: a job left ``submitting`` by a run that
    ended is an interrupted submit now, not after the grace period. ``parent_id`` makes the job a
    sub-window job of that split job; ``replaces`` names the failed job it resubmits.
    """
    adapter = spec.adapter
    try:
        body = adapter.build_body(spec.request, target.window)
    except ValueError as exc:
        raise StepFailed(f"{spec.vendor}/{spec.name}: {exc}") from None

    def claim() -> tuple[JobRecord, bool]:
        return ledger.claim(
            vendor=spec.vendor,
            export=spec.name,
            partition_key=target.partition_key,
            partitioned=target.partitioned,
            window=(target.window.start, target.window.end) if target.window else None,
            fingerprint=fingerprint(spec.vendor, spec.name, body),
            body=body,
            window_fixed=adapter.window_is_fixed(spec.request, target.window),
            run_id=run_id,
            force=force,
            parent_id=parent_id,
            replaces=replaces,
        )

    job, must_submit = claim()
    if not must_submit and job.state is JobState.SPLIT:
        submitted = _sub_windows(
            spec, job, ledger=ledger, client=client, run_id=run_id, run_finished=run_finished
        )
        return _split_submission(ledger, job, submitted)
    if not must_submit and job.vendor_job_id is not None:
        return Submission(job, submitted=False)
    if not must_submit and job.state is JobState.DEFERRED:
        # Another run took the deferred job up and was deferred again meanwhile.
        return Submission(job, submitted=False, deferred=deferred_until(job))
    if not must_submit:
        job = _interrupted(ledger, job, run_id, run_finished)
        if not job.submit_unresolved(datetime.now(UTC)):
            raise StepFailed(
                f"{spec.vendor}/{spec.name} partition {target.partition_key}: another run is "
                f"submitting this export right now (ledger job {job.id}); try again in a minute"
            )
        found = _resolve_ambiguous(spec, job, ledger=ledger, client=client)
        if found is not None:
            return Submission(found, submitted=False)
        job, must_submit = claim()
        if not must_submit:
            raise StepFailed(
                f"{spec.vendor}/{spec.name} partition {target.partition_key}: another run claimed "
                f"this export meanwhile (ledger job {job.id}); try again in a minute"
            )
    return _submit(spec, job, body, ledger=ledger, client=client)


def _submit(
    spec: ExportSpec, job: JobRecord, body: dict[str, Any], *, ledger: Ledger, client: VendorClient
) -> Submission:
    what = f"submitting {spec.vendor}/{spec.name} (ledger job {job.id})"
    spent = quota_spent(ledger, spec.vendor)
    if spent is not None:
        return _deferred(ledger, job, *spent, what)
    try:
        submitted = client.submit(body)
    except RequestNotSent as exc:
        ledger.mark_failed(job.id, f"not sent: {exc}")
        raise StepFailed(
            f"{what} failed before the request reached the vendor: {exc}. Nothing was created at "
            "the vendor; the partition is free to submit again at once"
        ) from None
    except VendorUnavailable as exc:
        if exc.status in AMBIGUOUS_STATUSES:
            _ambiguous(ledger, job, str(exc))
            raise StepFailed(f"{what}: {exc}. {_AMBIGUOUS_ADVICE}") from None
        if exc.retry_at is not None:
            return _deferred(ledger, job, exc.retry_at, str(exc), what)
        ledger.mark_failed(job.id, str(exc))
        raise StepFailed(f"{what} failed: {exc}") from None
    except OutcomeUnknown as exc:
        _ambiguous(ledger, job, str(exc))
        raise StepFailed(f"{what}: {exc}. {_AMBIGUOUS_ADVICE}") from None
    except VendorError as exc:
        ledger.mark_failed(job.id, str(exc))
        raise StepFailed(f"{what} failed: {exc}") from None
    except Exception as exc:
        # Not a typed transport error: nobody can say whether the request left, so it counts as
        # ambiguous (the message is not recorded: an untyped error may carry a header value).
        _ambiguous(ledger, job, f"{type(exc).__name__} during the submit call")
        raise
    return Submission(_record_submitted(ledger, job, submitted, detail=None), submitted=True)


def quota_spent(ledger: Ledger, vendor: str) -> tuple[datetime, str] | None:
    """Until when the vendor's quota is known to be spent (another submit was refused until
    then), and why nothing is sent; None when it is not. A submit and a standing request's
    create both ask this before calling the vendor."""
    spent_until = ledger.quota_spent_until(vendor, datetime.now(UTC))
    if spent_until is None:
        return None
    return spent_until, (
        f"not sent: {vendor}'s quota is spent until {_utc(spent_until)} (another submit was "
        "refused until then), so the vendor was not asked"
    )


def _utc(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _deferred(
    ledger: Ledger, job: JobRecord, not_before: datetime, detail: str, what: str
) -> Submission:
    """Defer ``job`` to ``not_before``: nothing was created at the vendor, and asking before its
    quota resets would only be refused again (and a failed run would page someone for nothing)."""
    job = ledger.mark_deferred(job.id, not_before, detail)
    return Submission(job, submitted=False, deferred=f"{what}: {detail}; {deferred_until(job)}")


def deferred_until(job: JobRecord) -> str:
    """When a deferred job will be submitted, and by whom (for logs and error messages)."""
    assert job.not_before is not None
    return f"deferred until {_utc(job.not_before)}, when the status sensor submits it"


_AMBIGUOUS_ADVICE = (
    "The request was sent, so the vendor may have created the export: recorded as an ambiguous "
    "submit; the next run looks for the vendor's job before submitting again"
)


def _ambiguous(ledger: Ledger, job: JobRecord, error: str) -> None:
    ledger.mark_ambiguous(job.id, error)


def _record_submitted(
    ledger: Ledger, job: JobRecord, submitted: Submitted, detail: str | None
) -> JobRecord:
    job = ledger.mark_submitted(
        job.id, submitted.vendor_job_id, SubmitRecord(submitted.outcome.value), detail
    )
    if submitted.status is not None:
        # The answer already says how the job stands (a deduped job may be complete).
        job = apply_status(ledger, job, submitted.status)
    return job


def other_run_ended(
    other: str | None, run_id: str | None, run_finished: Callable[[str], bool] | None
) -> bool:
    """Whether ``other``, the run that began a submit or create, is another run that has ended
    (so it will never record the vendor's answer)."""
    return (
        other is not None and other != run_id and run_finished is not None and run_finished(other)
    )


def _interrupted(
    ledger: Ledger,
    job: JobRecord,
    run_id: str | None,
    run_finished: Callable[[str], bool] | None,
) -> JobRecord:
    """Record as ambiguous a submit whose run ended (or went silent) before the vendor answered."""
    if job.submit_outcome is SubmitRecord.AMBIGUOUS or job.vendor_job_id is not None:
        return job
    submitter = job.submitted_by_run
    if other_run_ended(submitter, run_id, run_finished) or job.submit_unresolved(datetime.now(UTC)):
        return ledger.mark_ambiguous(
            job.id,
            f"run {submitter} ended before it recorded the vendor's answer to its submit",
        )
    return job


def _resolve_ambiguous(
    spec: ExportSpec, job: JobRecord, *, ledger: Ledger, client: VendorClient
) -> JobRecord | None:
    """The vendor's job for an ambiguous submit, adopted; None when the vendor holds none (the
    ambiguous job is then failed, so the caller may submit anew). Refuses where the vendor cannot
    be asked."""
    if not client.can_find_submitted:
        request = keys.request_key(spec.vendor, spec.name).to_user_string()
        raise StepFailed(
            f"{spec.vendor}/{spec.name} partition {job.partition_key}: the submit of ledger job "
            f"{job.id} has an unknown outcome ({job.error}). {spec.vendor} cannot be asked whether "
            "it created that export, so it may hold an orphan job; not submitting a second one on "
            f"its own. To submit again on purpose, materialize {request} with `resubmit: true` "
            "in its launch config; the ledger keeps job "
            f"{job.id} as a possible orphan, superseded by the new job"
        )
    found = client.find_submitted(job.request_body, job.created_at)
    if found is None:
        ledger.mark_failed(
            job.id, f"ambiguous submit: {spec.vendor} holds no job for it; submitted anew"
        )
        return None
    # Recorded running, whatever the listing said of its state: the status sensor then polls it
    # and launches its raw+table run the tick it sees it done. Completed here instead, it would be
    # a job no tick saw finishing, launched only after the sensor's RELAUNCH_AFTER grace.
    return _record_submitted(
        ledger,
        job,
        replace(found, status=None),
        detail=f"vendor job {found.vendor_job_id} found after an ambiguous submit "
        f"({found.outcome.value})",
    )


def split_and_submit(
    spec: ExportSpec,
    job: JobRecord,
    *,
    ledger: Ledger,
    client: VendorClient,
    run_id: str | None,
    run_finished: Callable[[str], bool] | None = None,
) -> Submission:
    """Ask for a too-large ``job``'s window in two halves: mark it split, then submit (or adopt)
    a sub-window job per half. Marked first, so a run that fails halfway leaves a split job that
    the next run of the partition adopts and completes, never a second whole-window job."""
    window = window_of(job)
    if window is None:
        raise StepFailed(f"ledger job {job.id} has no window to split")
    if job.state is not JobState.SPLIT:
        first, second = halves(window)
        job = ledger.mark_split(
            job.id,
            f"split into [{first.start.isoformat()}, {first.end.isoformat()}) and "
            f"[{second.start.isoformat()}, {second.end.isoformat()})",
        )
    submitted = _sub_windows(
        spec, job, ledger=ledger, client=client, run_id=run_id, run_finished=run_finished
    )
    return _split_submission(ledger, job, submitted)


def _split_submission(ledger: Ledger, job: JobRecord, parts: list[Submission]) -> Submission:
    """A split job's outcome: submitted if any sub-window was, deferred saying which were."""
    deferred = "; ".join(part.deferred for part in parts if part.deferred)
    return Submission(
        ledger.get(job.id), submitted=any(p.submitted for p in parts), deferred=deferred or None
    )


def _sub_windows(
    spec: ExportSpec,
    job: JobRecord,
    *,
    ledger: Ledger,
    client: VendorClient,
    run_id: str | None,
    run_finished: Callable[[str], bool] | None,
) -> list[Submission]:
    """Each half of a split job's window, submitted or adopted as its sub-window job."""
    window = window_of(job)
    assert window is not None, "only a job with a window is split"
    return [
        submit_or_adopt(
            spec,
            Target(job.partition_key, job.partitioned, half),
            ledger=ledger,
            client=client,
            run_id=run_id,
            run_finished=run_finished,
            parent_id=job.id,
        )
        for half in halves(window)
    ]
