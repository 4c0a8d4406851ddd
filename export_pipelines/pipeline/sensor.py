"""The per-vendor status sensor: polls in-flight jobs, launches download+normalize on completion.

Modelled on Dagster's own remote-job sensors (dbt Cloud): a time budget well under the daemon's
60-second tick limit, polls made concurrently and paced (``polling.py``), a backlog worked off fairly
across ticks (least recently polled first, kept in the ledger rather than in a cursor, so an
unreadable or lost cursor loses nothing; a tick reads at most ``max_polls_per_tick`` of it, so a
backlog of ten thousand costs a tick what a thousand does), one failing job never blocking the
others (whatever it raises is logged for that job and the tick goes on; its poll counts as
asked, so a job whose polls keep failing goes to the back of the line), and a
run key per ledger job and attempt so a completion launches exactly one run however many ticks see
it. A raw+table run that failed (or died, and was marked failed by run monitoring) is launched
again under the next attempt's key, up to ``max_ingest_attempts``, each attempt in the ledger.
A sensor never submits: only the request asset (or a schedule) does. Jobs of adjacent
partitions of one export that finish in the same tick (a backfill's) get one raw+table run over
their range, up to the export's partitions per run, instead of a run each: a run is a process
loading the code location, so a year of daily partitions is a dozen runs, not 365. A relaunch
after a failed run is of the one job alone.

A vendor that completes by callback (HelloData) is not polled: the webhook receiver records each
delivery in the ledger and completes the job there, so its sensor only launches the raw+table run
of every completed job not launched yet (deliveries received while no daemon ran included) and
marks timed out the jobs whose callback did not come within the deadline.

A job the vendor failed, or that is stuck, is handed to ``recovery``: resubmitted or split by
the connection's policies (a run of the request asset, run key per failed job), or marked,
cancelled where the vendor can cancel, and surfaced (a log warning and an observation of the
request asset). A sub-window job that completes launches nothing until every sub-window of its
partition has: then one raw+table run, of the split job, writes the partition's table from all.

A vendor whose quota is spent for longer than a call may wait (its 429 names a reset hours away)
is not asked again before the reset: the tick stops polling, keeps the reset time in the sensor's
cursor and skips the vendor's polls until then. The jobs stay in flight, not failed; a lost cursor
only costs one more refused poll. A submit refused that way is ``deferred`` in the ledger
(``submission``); each tick asks for the submit of every deferred job whose ``not_before`` has
come, once per deferral (a run of the request asset, tagged with the job), callback vendors too.
"""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from export_pipelines.ledger import FINISHED_OK, JobRecord, JobState, Ledger, SubmitRecord
from export_pipelines.pipeline import keys, recovery
from export_pipelines.pipeline.polling import DEFAULT_POLL_CONCURRENCY, Answer, poll_backlog
from export_pipelines.pipeline.recovery import Recovery
from export_pipelines.pipeline.steps import apply_status, deadline_message, past_deadline
from export_pipelines.transport import VendorUnavailable
from export_pipelines.vendors import adapter_for
from export_pipelines.vendors.base import (
    Completion,
    RemoteState,
    RemoteStatus,
    VendorClient,
    VendorResource,
)

#: A finished job no tick asked a raw+table run for (completed by a manual raw run, which may be
#: downloading it right now) gets one after this long; the run key makes that a no-op if it did
#: launch. One a tick asked for and whose run never appeared is asked for again at once.
RELAUNCH_AFTER = timedelta(minutes=2)
#: In-flight jobs one tick reads from the ledger and may poll, least recently polled first: more
#: than a tick's budget can poll at any vendor's pace here (``test_sensor_scale.py`` polls a
#: thousand in one tick), and a bound on what a tick reads however large the backlog.
MAX_POLLS_PER_TICK = 1000
#: Raw+table runs launched for one job before the sensor gives up and leaves it to a person.
MAX_INGEST_ATTEMPTS = 3
#: The ledger error of a job whose ingest runs all failed starts with this.
GAVE_UP = "gave up relaunching"


def export_forms(context: dg.SensorEvaluationContext, job: JobRecord) -> list[dg.AssetKey]:
    """The further tables of the job's export (``VendorAdapter.output_forms``), as the loaded
    definitions hold them: ``<vendor>/<export>/<form>`` beside its request and raw assets."""
    repository = context.repository_def
    if repository is None:
        return []
    own = {keys.request_key(job.vendor, job.export), keys.raw_key(job.vendor, job.export)}
    return sorted(
        (
            key
            for key in repository.asset_graph.get_all_asset_keys()
            if len(key.path) == 3 and key.path[:2] == [job.vendor, job.export] and key not in own
        ),
        key=lambda key: key.to_user_string(),
    )


def ingest_run_request(
    job: JobRecord, attempt: int = 1, forms: list[dg.AssetKey] | None = None
) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=keys.ingest_run_key(job.vendor, job.id, attempt),
        asset_selection=_ingest_selection(job, forms),
        partition_key=job.partition_key if job.partitioned else None,
        tags={
            keys.LEDGER_JOB_TAG: str(job.id),
            keys.INGEST_ATTEMPT_TAG: str(attempt),
            keys.ingests_job_tag(job.id): "1",
        },
    )


def _ingest_selection(job: JobRecord, forms: list[dg.AssetKey] | None) -> list[dg.AssetKey]:
    return [keys.raw_key(job.vendor, job.export), keys.table_key(job.vendor, job.export)] + (
        forms or []
    )


def _batch_run_request(jobs: list[JobRecord], forms: list[dg.AssetKey]) -> dg.RunRequest:
    """One raw+table run over the range of adjacent partitions whose jobs these are."""
    ids = [job.id for job in jobs]
    return dg.RunRequest(
        run_key=keys.ingest_batch_run_key(jobs[0].vendor, ids),
        asset_selection=_ingest_selection(jobs[0], forms),
        tags={
            ASSET_PARTITION_RANGE_START_TAG: jobs[0].partition_key,
            ASSET_PARTITION_RANGE_END_TAG: jobs[-1].partition_key,
            keys.LEDGER_JOBS_TAG: ",".join(map(str, ids)),
            keys.INGEST_ATTEMPT_TAG: "1",
            **{keys.ingests_job_tag(i): "1" for i in ids},
        },
    )


def _partitions_per_run(context: dg.SensorEvaluationContext, vendor: str, export: str) -> int:
    """How many partitions a run of the export's table takes at most: its assets'
    ``BackfillPolicy`` (the catalog's ``partitions_per_run``), 1 without one."""
    repository = context.repository_def
    key = keys.table_key(vendor, export)
    if repository is None or not repository.asset_graph.has(key):
        return 1
    policy = repository.asset_graph.get(key).backfill_policy
    return (policy.max_partitions_per_run or 1) if policy is not None else 1


def _adjacent(before: JobRecord, after: JobRecord) -> bool:
    """Whether ``after``'s partition follows ``before``'s with none between (their windows are
    the partitions' own, so meeting ends mean neighbouring partitions)."""
    return (
        before.partitioned
        and after.partitioned
        and before.parent_id is None
        and after.parent_id is None
        and before.window_end is not None
        and before.window_end == after.window_start
    )


def stretches(context: dg.SensorEvaluationContext, jobs: list[JobRecord]) -> list[list[JobRecord]]:
    """``jobs`` in runs of adjacent partitions of one export, each at most the export's
    partitions per run; a job that cannot share a range (unpartitioned, a sub-window job) alone."""
    groups = []
    by_export: dict[tuple[str, str], list[JobRecord]] = {}
    for job in jobs:
        by_export.setdefault((job.vendor, job.export), []).append(job)
    for (vendor, export), group in by_export.items():
        most = _partitions_per_run(context, vendor, export)
        group.sort(key=lambda job: (job.window_start or _NO_WINDOW, job.id))
        stretch: list[JobRecord] = []
        for job in group:
            if stretch and not (len(stretch) < most and _adjacent(stretch[-1], job)):
                groups.append(stretch)
                stretch = []
            stretch.append(job)
        if stretch:
            groups.append(stretch)
    return groups


def first_ingest_requests(
    context: dg.SensorEvaluationContext, jobs: list[JobRecord]
) -> list[dg.RunRequest]:
    """The first raw+table runs of jobs that finished: one run per stretch of adjacent partitions
    of one export (a backfill's jobs finish together), up to the export's partitions per run;
    one run per job otherwise. A run costs a process loading the code location, so a year of
    daily partitions is a dozen runs rather than 365."""
    return [
        _stretch_request(stretch, export_forms(context, stretch[0]))
        for stretch in stretches(context, jobs)
    ]


_NO_WINDOW = datetime.min.replace(tzinfo=UTC)


def _stretch_request(jobs: list[JobRecord], forms: list[dg.AssetKey]) -> dg.RunRequest:
    return (
        ingest_run_request(jobs[0], 1, forms) if len(jobs) == 1 else _batch_run_request(jobs, forms)
    )


def _latest_ingest_run(instance: dg.DagsterInstance, job: JobRecord) -> dg.DagsterRun | None:
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={keys.ingests_job_tag(job.id): "1"}), limit=1
    )
    return runs[0] if runs else None


def _request_lost(job: JobRecord) -> bool:
    """A tick asked for this job's first raw+table run and no such run exists: the request was
    lost with the daemon that was to launch it. A sensor's ticks run one after another and the
    daemon creates a tick's runs before the next tick starts, so the asking tick is over; it may
    have been evaluated by a code server whose daemon was SIGKILLed meanwhile (the server ends
    the tick, records it in the ledger, and its answer goes to nobody)."""
    return job.ingest_attempt >= 1


def ingest_unit(ledger: Ledger, job: JobRecord) -> tuple[JobRecord, datetime | None] | None:
    """The job whose raw+table run ingests ``job`` and when its data was complete: ``job``
    itself, or (a sub-window job) its split tree's top once every sub-window is finished; None
    while a sub-window is still to come."""
    if job.parent_id is None:
        return job, job.completed_at
    root = ledger.root_of(job)
    leaves = ledger.leaves(root)
    if not all(leaf.state in FINISHED_OK for leaf in leaves):
        return None
    done = [leaf.completed_at for leaf in leaves if leaf.completed_at is not None]
    return root, max(done, default=None)


def _recover_ingests(
    context: dg.SensorEvaluationContext,
    ledger: Ledger,
    vendor: str,
    now: datetime,
    max_attempts: int,
) -> Iterator[dg.RunRequest]:
    """Run requests for finished jobs whose raw+table run never launched or failed."""
    seen: set[int] = set()
    first_runs: list[JobRecord] = []
    for finished in ledger.awaiting_ingest(vendor):
        unit = ingest_unit(ledger, finished)
        if unit is None or unit[0].id in seen:
            continue
        job, completed_at = unit
        seen.add(job.id)
        attempt = max(job.ingest_attempt, 1)
        run = _latest_ingest_run(context.instance, job)
        if run is None:
            # A job the vendor answered as already finished (a dedupe hit) was never seen
            # finishing by a poll, so no tick launched it: launch it now, not after the grace.
            reused = job.submit_outcome is SubmitRecord.DEDUPED
            if (
                reused
                or _request_lost(job)
                or (completed_at is not None and now - completed_at > RELAUNCH_AFTER)
            ):
                if attempt == 1:
                    first_runs.append(job)  # batched with its neighbours, as a poll's would be
                else:
                    yield ingest_run_request(job, attempt, export_forms(context, job))
            continue
        run_attempt = int(run.tags.get(keys.INGEST_ATTEMPT_TAG, "1"))
        if run_attempt < attempt:
            yield ingest_run_request(
                job, attempt, export_forms(context, job)
            )  # requested, not launched yet: ask again
            continue
        if run.status is not dg.DagsterRunStatus.FAILURE:
            continue  # queued, running, succeeded, or canceled on purpose by a person
        if run_attempt >= max_attempts:
            if not (job.error or "").startswith(GAVE_UP):
                message = (
                    f"{GAVE_UP} after {run_attempt} failed raw+table runs (last: {run.run_id}); "
                    "see that run's log, fix the cause, then materialize "
                    f"{keys.raw_key(vendor, job.export).to_user_string()} and the table by hand"
                )
                ledger.record_error(job.id, message)
                context.log.error(f"{vendor} ledger job {job.id}: {message}")
            continue
        following = run_attempt + 1
        ledger.record_ingest_attempt(
            job.id, following, f"ingest run {run.run_id} failed; relaunch {following}"
        )
        context.log.warning(
            f"{vendor} ledger job {job.id}: raw+table run {run.run_id} failed; launching attempt "
            f"{following} of {max_attempts}"
        )
        yield ingest_run_request(job, following, export_forms(context, job))
    yield from first_ingest_requests(context, first_runs)


#: A tick's polls (of jobs still running, or failed) are written to the ledger in batches of this
#: many (one commit each).
POLL_BATCH = 200


def _record_answer(
    context: dg.SensorEvaluationContext,
    ledger: Ledger,
    answer: Answer,
    policies: Recovery,
    surfaced: list[dg.AssetObservation],
) -> tuple[JobRecord, dg.RunRequest | None]:
    """Record a finished (completed or failed) job's poll in the ledger; the job as it now
    stands, and the request run that asks again for a failed job's window, if the policies do."""
    job, status = answer.job, answer.status
    assert status is not None
    job = apply_status(ledger, job, status)
    if job.state is not JobState.FAILED:
        return job, None
    decision = recovery.after_failure(ledger, job, status.error or "no reason given", policies)
    context.log.warning(
        f"{job.vendor} job {job.vendor_job_id} (ledger job {job.id}) failed: {decision.message}"
    )
    surfaced.append(recovery.observation(job, decision.message))
    return job, decision.run_request


def _stop(
    context: dg.SensorEvaluationContext,
    ledger: Ledger,
    client: VendorClient,
    job: JobRecord,
    why: str,
    surfaced: list[dg.AssetObservation],
) -> None:
    stopped, message = recovery.stop_stuck(ledger, client, job, why)
    context.log.warning(f"{job.vendor} job {job.vendor_job_id} (ledger job {job.id}): {message}")
    surfaced.append(recovery.observation(stopped, message))


def _callback_tick(
    context: dg.SensorEvaluationContext,
    ledger: Ledger,
    resource: VendorResource,
    vendor: str,
    requests: list[dg.RunRequest],
) -> Iterator[dg.RunRequest | dg.SkipReason]:
    """A callback vendor's tick: launch what the receiver completed, time out what never came."""
    now = datetime.now(UTC)
    asked = {job_id for request in requests for job_id in keys.ingested_jobs(request.tags)}
    launched = [job for job in ledger.awaiting_launch(vendor) if job.id not in asked]
    for job in launched:
        ledger.record_ingest_attempt(job.id, 1, "ingest run 1 requested (callback recorded)")
    requests.extend(first_ingest_requests(context, launched))
    timed_out = 0
    for job in ledger.in_flight(vendor):
        if past_deadline(job, resource, now):
            message = deadline_message(resource, Completion.CALLBACK)
            ledger.mark_timed_out(job.id, message)
            context.log.warning(
                f"{vendor} job {job.vendor_job_id} (ledger job {job.id}): {message}"
            )
            timed_out += 1
    if not requests:
        yield dg.SkipReason(
            f"no {vendor} delivery to launch; {timed_out} job(s) timed out waiting for one"
        )
        return
    context.log.info(f"{len(launched)} delivered {vendor} job(s) launched; {timed_out} timed out")
    yield from requests


def quota_resets_at(cursor: str | None) -> datetime | None:
    """When the vendor said its quota comes back, as the last tick that was refused kept it."""
    try:
        kept = json.loads(cursor or "{}").get("quota_resets_at")
        return datetime.fromisoformat(kept) if isinstance(kept, str) else None
    except (ValueError, AttributeError):
        return None  # an unreadable cursor: poll, and be told again


def _quota_cursor(resets_at: datetime) -> str:
    return json.dumps({"quota_resets_at": resets_at.isoformat()})


def _due_deferred(
    context: dg.SensorEvaluationContext, ledger: Ledger, vendor: str, now: datetime
) -> list[dg.RunRequest]:
    """A request run for each deferred job whose ``not_before`` has come, keyed by the job and
    its deferrals: asked once, and once more only if that submit is deferred again. Adjacent
    partitions deferred together (a backfill that met the spent quota) are asked for in one run
    over their range, whose claims take the deferred jobs up again."""
    requests = []
    for stretch in stretches(context, ledger.due_deferred(vendor, now)):
        first, last = stretch[0], stretch[-1]
        assert first.not_before is not None
        context.log.info(
            f"{vendor} ledger job(s) {', '.join(str(job.id) for job in stretch)} (partitions "
            f"{first.partition_key}…{last.partition_key}) were deferred until "
            f"{first.not_before:%Y-%m-%d %H:%M:%S} UTC (quota spent): asking for their submit"
        )
        if len(stretch) == 1:
            run_key = keys.deferred_run_key(vendor, first.id, first.deferrals)
            requests.append(recovery.request_run(first, run_key, keys.DEFERRED_OF_TAG))
            continue
        ids = [job.id for job in stretch]
        requests.append(
            dg.RunRequest(
                run_key=keys.deferred_batch_run_key(
                    vendor, ids, max(job.deferrals for job in stretch)
                ),
                asset_selection=[keys.request_key(vendor, first.export)],
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: first.partition_key,
                    ASSET_PARTITION_RANGE_END_TAG: last.partition_key,
                    keys.DEFERRED_JOBS_TAG: ",".join(map(str, ids)),
                },
            )
        )
    return requests


def build_status_sensor(
    vendor: str,
    *,
    minimum_interval_seconds: int = 10,
    time_budget_seconds: float = 20.0,
    running_by_default: bool = True,
    max_ingest_attempts: int = MAX_INGEST_ATTEMPTS,
    poll_concurrency: int = DEFAULT_POLL_CONCURRENCY,
    polls_per_second: float | None = None,
    policies: Recovery | None = None,
    max_polls_per_tick: int = MAX_POLLS_PER_TICK,
) -> dg.SensorDefinition:
    policies = policies or Recovery()

    @dg.sensor(
        name=keys.status_sensor_name(vendor),
        description=(
            f"Launches the raw+table run of each {vendor} job whose webhook delivery the receiver "
            f"recorded (again after a failed run, up to {max_ingest_attempts} runs) and times out "
            "jobs with no delivery by their deadline; polls nothing."
            if adapter_for(vendor).completion is Completion.CALLBACK
            else f"Polls {vendor}'s in-flight export jobs (from the export ledger) and launches "
            f"the raw+table run of each job that completes (again after a failed run, up to "
            f"{max_ingest_attempts} runs). Budget {time_budget_seconds:.0f}s a tick, "
            f"{poll_concurrency} polls at once"
            + (f", at most {polls_per_second:g} a second." if polls_per_second else ".")
        ),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING
        if running_by_default
        else dg.DefaultSensorStatus.STOPPED,
        asset_selection=dg.AssetSelection.key_prefixes([vendor]),
        required_resource_keys={vendor, "ledger"},
    )
    def status_sensor(context: dg.SensorEvaluationContext):  # type: ignore[no-untyped-def]
        surfaced: list[dg.AssetObservation] = []
        items = list(tick(context, surfaced))
        if not surfaced:
            return items
        requests = [item for item in items if isinstance(item, dg.RunRequest)]
        skips = [item for item in items if isinstance(item, dg.SkipReason)]
        return dg.SensorResult(
            run_requests=requests,
            skip_reason=skips[0] if skips and not requests else None,
            asset_events=surfaced,
        )

    def tick(
        context: dg.SensorEvaluationContext, surfaced: list[dg.AssetObservation]
    ) -> Iterator[dg.RunRequest | dg.SkipReason]:
        ledger = context.resources.ledger.ledger()
        resource = getattr(context.resources, vendor)
        budget_ends = time.monotonic() + time_budget_seconds
        now = datetime.now(UTC)
        requests = list(_recover_ingests(context, ledger, vendor, now, max_ingest_attempts))
        requests += _due_deferred(context, ledger, vendor, now)
        if adapter_for(vendor).completion is Completion.CALLBACK:
            yield from _callback_tick(context, ledger, resource, vendor, requests)
            return
        polled = finished = broken = 0
        resets_at = quota_resets_at(context.cursor)
        if resets_at is not None and now < resets_at:
            yield from requests
            if not requests:
                yield dg.SkipReason(
                    f"{vendor}'s quota is spent until {resets_at:%Y-%m-%d %H:%M:%S} UTC: "
                    f"polls deferred, {ledger.count_in_flight(vendor)} job(s) stay in flight"
                )
            return
        backlog = ledger.in_flight(vendor, limit=max_polls_per_tick)
        waiting = (
            len(backlog) if len(backlog) < max_polls_per_tick else ledger.count_in_flight(vendor)
        )
        client = resource.client()

        def ask(job: JobRecord) -> RemoteStatus:
            assert job.vendor_job_id is not None
            return client.status(job.vendor_job_id)

        try:
            due = []
            for job in backlog:
                if past_deadline(job, resource, now):
                    why = deadline_message(resource, Completion.POLL)
                    _stop(context, ledger, client, job, why, surfaced)
                elif recovery.is_stuck(job, policies, now):
                    why = recovery.stuck_message(job, policies)
                    _stop(context, ledger, client, job, why, surfaced)
                else:
                    due.append(job)
            answers = poll_backlog(
                due,
                ask,
                concurrency=poll_concurrency,
                per_second=polls_per_second,
                budget_ends=budget_ends,
            )
            polls: list[tuple[int, tuple[int, int] | None]] = []  # polls to record, in batches
            # The jobs asked for so far this tick (a set: a tick may finish a thousand jobs).
            launched = {job_id for r in requests for job_id in keys.ingested_jobs(r.tags)}
            finishing: dict[int, JobRecord] = {}  # the jobs whose first raw+table run to ask for
            for answer in answers:
                refused = answer.error
                if isinstance(refused, VendorUnavailable) and refused.retry_at is not None:
                    context.update_cursor(_quota_cursor(refused.retry_at))
                    context.log.warning(
                        f"{vendor} refused a poll until {refused.retry_at:%Y-%m-%d %H:%M:%S} UTC "
                        "(its quota is spent): no more polls of it before then; jobs stay in flight"
                    )
                    break
                if answer.error is not None:
                    broken += 1
                    context.log.error(
                        f"polling {vendor} job {answer.job.vendor_job_id} (ledger job "
                        f"{answer.job.id}) failed: {type(answer.error).__name__}: {answer.error}"
                    )
                    polls.append((answer.job.id, None))  # asked: to the back of the line
                    continue
                polled += 1
                status = answer.status
                assert status is not None
                if status.progress is not None:
                    ready, total = status.progress
                    context.log.info(
                        f"{vendor} job {answer.job.vendor_job_id}: {ready}/{total} parts"
                    )
                if status.state is RemoteState.RUNNING:
                    polls.append((answer.job.id, status.progress))
                    if len(polls) >= POLL_BATCH:
                        ledger.record_polls(polls)
                        polls = []
                    continue
                polled_job, again = _record_answer(context, ledger, answer, policies, surfaced)
                if again is not None:
                    requests.append(again)
                if polled_job.state is JobState.COMPLETED:
                    finished += 1
                    unit = ingest_unit(ledger, polled_job)
                    if unit is None:
                        context.log.info(
                            f"{vendor} sub-window job {polled_job.id} of partition "
                            f"{polled_job.partition_key} finished; waiting for the others"
                        )
                        continue
                    whole = unit[0]
                    if whole.id in launched:
                        continue  # asked for already this tick, by the recovery of ingests
                    # (and the last sub-window of a split job another answer finished: the dict)
                    if whole.id not in finishing:
                        ledger.record_ingest_attempt(whole.id, 1, "ingest run 1 requested")
                        finishing[whole.id] = whole
            ledger.record_polls(polls)
            requests.extend(first_ingest_requests(context, list(finishing.values())))
        finally:
            client.close()
        failed = f"; {broken} failed to poll (see the log)" if broken else ""
        if not requests:
            yield dg.SkipReason(
                f"polled {polled} of {waiting} in-flight {vendor} job(s); none finished" + failed
            )
            return
        context.log.info(f"polled {polled}/{waiting}; {finished} finished{failed}")
        yield from requests

    return status_sensor
