"""The ledger on SQLite and PostgreSQL: claims, adoption under races, the state history."""

import threading
from datetime import UTC, datetime, timedelta

from export_pipelines.ledger import FileUpdate, JobState, Ledger, StandingState, SubmitRecord

WINDOW = (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC))


def _claim(ledger: Ledger, fingerprint: str = "f" * 64, **overrides: object):
    args: dict[str, object] = dict(
        vendor="enterpret",
        export="feedback",
        partition_key="2024-03-01",
        partitioned=True,
        window=WINDOW,
        fingerprint=fingerprint,
        body={"pageSize": 10},
        window_fixed=True,
        run_id="run-1",
    )
    args.update(overrides)
    return ledger.claim(**args)  # type: ignore[arg-type]


def test_a_claimed_job_is_adopted_until_it_fails(ledger: Ledger) -> None:
    job, must_submit = _claim(ledger)
    assert must_submit and job.state is JobState.SUBMITTING and job.attempt == 1
    ledger.mark_submitted(job.id, "async-1")

    again, must_submit = _claim(ledger)
    assert not must_submit and again.id == job.id and again.vendor_job_id == "async-1"

    ledger.mark_failed(job.id, "vendor said no")
    fresh, must_submit = _claim(ledger)
    assert must_submit and fresh.id != job.id and fresh.attempt == 2


def test_completed_fixed_window_jobs_are_adopted_but_relative_ones_are_not(ledger: Ledger) -> None:
    fixed, _ = _claim(ledger)
    ledger.mark_submitted(fixed.id, "async-fixed")
    ledger.mark_completed(fixed.id, [FileUpdate("part-0.json", "http://x/0", None)], None)
    assert not _claim(ledger)[1]

    relative, _ = _claim(ledger, "r" * 64, window_fixed=False, partition_key="all", window=None)
    ledger.mark_submitted(relative.id, "async-rel")
    assert not _claim(ledger, "r" * 64, window_fixed=False, partition_key="all", window=None)[1]
    ledger.mark_completed(relative.id, [], None)
    assert _claim(ledger, "r" * 64, window_fixed=False, partition_key="all", window=None)[1]


def test_a_different_request_is_a_different_job(ledger: Ledger) -> None:
    first, _ = _claim(ledger)
    second, must_submit = _claim(ledger, "g" * 64)
    assert must_submit and second.id != first.id


def test_force_supersedes_the_adoptable_job(ledger: Ledger) -> None:
    job, _ = _claim(ledger)
    ledger.mark_submitted(job.id, "async-1")
    forced, must_submit = _claim(ledger, force=True)
    assert must_submit and forced.id != job.id
    assert ledger.get(job.id).state is JobState.SUPERSEDED


def test_racing_claims_submit_once(ledger: Ledger) -> None:
    outcomes: list[tuple[int, bool]] = []
    barrier = threading.Barrier(6)

    def claim() -> None:
        barrier.wait()
        job, must_submit = _claim(ledger)
        outcomes.append((job.id, must_submit))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for _, submit in outcomes if submit) == 1
    assert len({job_id for job_id, _ in outcomes}) == 1


RESET = datetime(2024, 3, 1, 14, tzinfo=UTC)


def test_a_deferred_job_is_taken_up_again_by_the_next_claim_of_its_request(
    ledger: Ledger,
) -> None:
    job, _ = _claim(ledger)
    deferred = ledger.mark_deferred(job.id, RESET, "HTTP 429: quota spent until 14:00")
    assert deferred.state is JobState.DEFERRED and deferred.error
    # Not in flight, nothing to ingest, not adopted as running: only due once the reset came.
    assert ledger.in_flight("enterpret") == [] and ledger.awaiting_ingest("enterpret") == []
    assert ledger.due_deferred("enterpret", RESET - timedelta(seconds=1)) == []
    assert [j.id for j in ledger.due_deferred("enterpret", RESET)] == [job.id]

    again, must_submit = _claim(ledger, run_id="run-2")
    assert must_submit and again.id == job.id  # the same job: it never reached the vendor
    assert (again.state, again.attempt, again.not_before, again.error) == (
        JobState.SUBMITTING,
        1,
        None,
        None,
    )
    assert again.submitted_by_run == "run-2"
    assert [state for _, state, _ in again.history] == ["submitting", "deferred", "submitting"]
    assert ledger.due_deferred("enterpret", RESET) == []
    # Deferred again, it counts its deferrals (the status sensor asks once per deferral).
    assert ledger.mark_deferred(job.id, RESET, "still spent").deferrals == 2


def test_racing_claims_take_a_deferred_job_up_once(ledger: Ledger) -> None:
    job, _ = _claim(ledger)
    ledger.mark_deferred(job.id, RESET, "HTTP 429")
    outcomes: list[tuple[int, bool]] = []
    barrier = threading.Barrier(6)

    def claim(n: int) -> None:
        barrier.wait()
        claimed, must_submit = _claim(ledger, run_id=f"run-{n}")
        outcomes.append((claimed.id, must_submit))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == [(job.id, False)] * 5 + [(job.id, True)]
    assert len(ledger.jobs()) == 1


def test_a_new_job_of_the_partitions_window_supersedes_its_deferred_jobs(ledger: Ledger) -> None:
    deferred, _ = _claim(ledger)
    ledger.mark_deferred(deferred.id, RESET, "HTTP 429")
    other_window, _ = _claim(ledger, "h" * 64, window=(WINDOW[0], WINDOW[0] + timedelta(hours=12)))
    ledger.mark_deferred(other_window.id, RESET, "HTTP 429")

    # Another body of the same partition and window (the request was changed): a new job.
    fresh, must_submit = _claim(ledger, "g" * 64)
    assert must_submit and fresh.id not in (deferred.id, other_window.id)
    replaced = ledger.get(deferred.id)
    assert (replaced.state, replaced.superseded_by) == (JobState.SUPERSEDED, fresh.id)
    assert ledger.get(other_window.id).state is JobState.DEFERRED  # another window: kept

    # A forced submit of a deferred request supersedes it the same way.
    forced, must_submit = _claim(
        ledger, "h" * 64, window=(WINDOW[0], WINDOW[0] + timedelta(hours=12)), force=True
    )
    assert must_submit and ledger.get(other_window.id).superseded_by == forced.id
    assert [j.id for j in ledger.due_deferred("enterpret", RESET)] == []


def test_the_quota_is_spent_until_the_earliest_reset_still_to_come(ledger: Ledger) -> None:
    first, _ = _claim(ledger, "a" * 64)
    second, _ = _claim(ledger, "b" * 64)
    elsewhere, _ = _claim(ledger, "c" * 64, vendor="rebilly")
    ledger.mark_deferred(first.id, RESET, "HTTP 429")
    ledger.mark_deferred(second.id, RESET + timedelta(hours=1), "HTTP 429")
    ledger.mark_deferred(elsewhere.id, RESET + timedelta(hours=5), "HTTP 429")
    assert ledger.quota_spent_until("enterpret", RESET - timedelta(hours=1)) == RESET
    assert ledger.quota_spent_until("enterpret", RESET) == RESET + timedelta(hours=1)
    assert ledger.quota_spent_until("enterpret", RESET + timedelta(hours=1)) is None
    assert ledger.quota_spent_until("hienergy", RESET) is None


def test_history_files_and_ingestion_are_recorded(ledger: Ledger) -> None:
    job, _ = _claim(ledger)
    ledger.mark_submitted(job.id, "async-9")
    ledger.record_poll(job.id)
    files = [FileUpdate(f"part-{i}.json", f"http://x/{i}?sig=s", None) for i in range(2)]
    ledger.mark_completed(job.id, files, vendor_rows=None)
    for index in range(2):
        ledger.record_download(
            job.id, index, local_path=f"/raw/{index}", size=10 + index, sha256="0" * 64
        )
    ledger.mark_downloaded(job.id)
    done = ledger.mark_ingested(job.id, [5, 3])

    assert done.state is JobState.INGESTED and done.rows == 8 and done.bytes == 21
    assert [f.rows for f in done.files] == [5, 3]
    assert [state for _, state, _ in done.history] == [
        "submitting",
        "running",
        "completed",
        "downloaded",
        "ingested",
    ]
    assert done.polls == 1 and done.window_start == WINDOW[0]
    assert [j.id for j in ledger.jobs(vendor="enterpret")] == [job.id]


def test_in_flight_orders_least_recently_polled_first(ledger: Ledger) -> None:
    a, _ = _claim(ledger, "a" * 64)
    b, _ = _claim(ledger, "b" * 64)
    ledger.mark_submitted(a.id, "async-a")
    ledger.mark_submitted(b.id, "async-b")
    ledger.record_poll(a.id)
    assert [j.vendor_job_id for j in ledger.in_flight("enterpret")] == ["async-b", "async-a"]


def test_the_submit_outcome_and_progress_changes_are_recorded(ledger: Ledger) -> None:
    job, _ = _claim(ledger)
    assert job.submit_outcome is None
    job = ledger.mark_submitted(job.id, "exp-7", SubmitRecord.ADOPTED)
    assert job.submit_outcome is SubmitRecord.ADOPTED
    assert job.history[-1][1:] == ("running", "vendor job exp-7 (adopted)")

    for progress in [(1, 4), (1, 4), (3, 4), None]:
        ledger.record_poll(job.id, progress)
    job = ledger.get(job.id)
    assert job.polls == 4 and job.progress == (3, 4)
    details = [detail for _, _, detail in job.history if detail and "progress" in detail]
    assert details == ["progress 1/4 parts", "progress 3/4 parts"]


def test_an_ambiguous_submit_keeps_the_claim_and_a_forced_one_records_the_orphan(
    ledger: Ledger,
) -> None:
    job, _ = _claim(ledger)
    job = ledger.mark_ambiguous(job.id, "ReadTimeout after sending")
    assert job.state is JobState.SUBMITTING and job.submit_outcome is SubmitRecord.AMBIGUOUS
    assert job.possible_orphan and job.submit_unresolved(datetime.now(UTC))

    again, must_submit = _claim(ledger)
    assert not must_submit and again.id == job.id  # nobody submits blindly in its place

    forced, must_submit = _claim(ledger, force=True)
    assert must_submit and forced.id != job.id
    old = ledger.get(job.id)
    assert old.state is JobState.SUPERSEDED and old.superseded_by == forced.id
    assert old.possible_orphan and "orphan" in (old.history[-1][2] or "")


def test_a_fresh_submitting_job_is_not_unresolved(ledger: Ledger) -> None:
    job, _ = _claim(ledger)
    assert not job.submit_unresolved(datetime.now(UTC))
    assert job.submit_unresolved(datetime.now(UTC) + timedelta(minutes=11))
    ledger.mark_submitted(job.id, "async-9")
    assert not ledger.get(job.id).submit_unresolved(datetime.now(UTC) + timedelta(hours=1))


def test_errors_and_ingest_attempts_are_recorded_without_moving_the_job(ledger: Ledger) -> None:
    job, _ = _claim(ledger)
    ledger.mark_submitted(job.id, "async-2")
    ledger.mark_completed(job.id, [FileUpdate("part-0.json", "http://x/0", None)], None)
    assert [j.id for j in ledger.awaiting_ingest("enterpret")] == [job.id]
    ledger.record_download(job.id, 0, local_path="/tmp/x", size=3, sha256="0" * 64)
    ledger.mark_downloaded(job.id)
    assert [j.id for j in ledger.awaiting_ingest("enterpret")] == [job.id]

    job = ledger.record_error(job.id, "part-0.json has no records array")
    assert job.state is JobState.DOWNLOADED and job.error == "part-0.json has no records array"
    assert ledger.record_ingest_attempt(job.id, 1, "ingest run 1 requested").ingest_attempt == 1
    assert ledger.record_ingest_attempt(job.id, 2, "relaunch 2").ingest_attempt == 2
    assert ledger.record_ingest_attempt(job.id, 1, "late").ingest_attempt == 2
    details = [d for _, _, d in ledger.get(job.id).history]
    assert "late" not in details and "relaunch 2" in details

    job = ledger.mark_ingested(job.id, [7])
    assert job.error is None and ledger.awaiting_ingest("enterpret") == []


STANDING = dict(vendor="connhex", export="points", fingerprint="s" * 64, body={"type": "recurring"})


def test_runs_claiming_one_standing_request_at_once_get_one_row_and_one_creator(
    ledger: Ledger,
) -> None:
    runs = 6
    barrier = threading.Barrier(runs)
    claims: list[tuple[int, bool]] = []

    def claim(n: int) -> None:
        barrier.wait()
        record, mine = ledger.claim_standing(**STANDING, run_id=f"run-{n}")  # type: ignore[arg-type]
        claims.append((record.id, mine))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(claims) == runs
    assert len({record_id for record_id, _ in claims}) == 1
    assert sum(mine for _, mine in claims) == 1
    assert len(ledger.standing_requests("connhex")) == 1


def test_a_refused_standing_create_is_claimed_again_by_one_run_only(ledger: Ledger) -> None:
    record, _ = ledger.claim_standing(**STANDING, run_id="run-1")  # type: ignore[arg-type]
    failed = ledger.standing_failed(record.id, "HTTP 400: bad body")
    assert failed.state is StandingState.FAILED
    # Two runs read the failed row; the first to re-claim it wins, the other sees it taken.
    first = ledger.reclaim_standing(failed, "run-2")
    assert first is not None and (first.state, first.attempt) == (StandingState.CREATING, 2)
    assert ledger.reclaim_standing(failed, "run-3") is None
    created = ledger.standing_created(first.id, "req-9")
    assert ledger.reclaim_standing(created, "run-4") is None  # a created one is never re-claimed


def test_a_standing_slot_is_named_once_however_many_runs_name_it(ledger: Ledger) -> None:
    job, _ = _claim(ledger, vendor="connhex", export="points")
    named = ledger.name_slot(job.id, "req-1@1709510400", "slot of req-1")
    assert (named.state, named.submit_outcome) == (JobState.RUNNING, SubmitRecord.STANDING)
    ledger.mark_completed(job.id, [FileUpdate("export.zip", "http://x/d?jobId=j", None)], None)
    again = ledger.name_slot(job.id, "req-1@1709510400", "slot of req-1")
    assert again.state is JobState.COMPLETED  # not moved back to running
    assert [state for _, state, _ in again.history] == ["submitting", "running", "completed"]
