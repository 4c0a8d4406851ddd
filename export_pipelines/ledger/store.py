"""``Ledger``: the durable record of vendor jobs, and the only code that writes it.

Every transition is one short transaction that also appends a ``JobEvent``, so the history of a job
(who submitted it, every state the vendor reported, every download) can be read back after any crash.
Reads return :class:`JobRecord` snapshots, never live ORM objects, so callers cannot write by accident.
"""

import os
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from export_pipelines.ledger import schema
from export_pipelines.ledger.models import (
    FINISHED_OK,
    HOLDS_CLAIM,
    Delivery,
    ExportJob,
    JobEvent,
    JobFile,
    JobState,
    StandingRequest,
    StandingState,
    SubmitRecord,
    utcnow,
)

#: Finished states a later run of the same partition and body adopts instead of submitting: the
#: data is in hand, or (``split``) is being fetched in sub-windows the vendor can take.
ADOPTABLE_DONE = (*FINISHED_OK, JobState.SPLIT)

#: A row stuck in ``submitting`` this long belongs to a run that died mid-submit: its request may
#: or may not have reached the vendor, so it is treated as an ambiguous submit.
SUBMIT_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class FileRecord:
    index: int
    name: str
    url: str
    expires_at: datetime | None
    local_path: str | None
    bytes: int | None
    sha256: str | None
    rows: int | None


@dataclass(frozen=True)
class JobRecord:
    id: int
    vendor: str
    export: str
    partition_key: str
    partitioned: bool
    window_start: datetime | None
    window_end: datetime | None
    fingerprint: str
    request_body: dict[str, Any]
    vendor_job_id: str | None
    state: JobState
    attempt: int
    polls: int
    created_at: datetime
    submitted_at: datetime | None
    last_polled_at: datetime | None
    completed_at: datetime | None
    ingested_at: datetime | None
    rows: int | None
    bytes: int | None
    vendor_rows: int | None
    error: str | None
    files: tuple[FileRecord, ...]
    history: tuple[tuple[datetime, str, str | None], ...]
    submit_outcome: SubmitRecord | None = None
    progress: tuple[int, int] | None = None
    updated_at: datetime | None = None
    submitted_by_run: str | None = None
    superseded_by: int | None = None
    ingest_attempt: int = 0
    parent_id: int | None = None
    not_before: datetime | None = None

    @property
    def deferrals(self) -> int:
        """How many times this job's submit was deferred (the vendor's quota was spent)."""
        return sum(1 for _, state, _ in self.history if state == JobState.DEFERRED.value)

    @property
    def possible_orphan(self) -> bool:
        """Sent without a complete answer and never identified: the vendor may hold a job for
        it that nobody will download (recorded so that it can be found and cleaned up)."""
        return (
            self.submit_outcome is SubmitRecord.AMBIGUOUS
            and self.vendor_job_id is None
            and self.state is not JobState.FAILED
        )

    def submit_unresolved(self, now: datetime) -> bool:
        """Whether this job's submit is known to have ended without a vendor job id: recorded as
        ambiguous, or left ``submitting`` longer than :data:`SUBMIT_GRACE` by a run that died."""
        if self.state is not JobState.SUBMITTING or self.vendor_job_id is not None:
            return False
        if self.submit_outcome is SubmitRecord.AMBIGUOUS:
            return True
        return self.updated_at is not None and now - self.updated_at > SUBMIT_GRACE

    @property
    def vendor_latency_seconds(self) -> float | None:
        if self.submitted_at and self.completed_at:
            return (self.completed_at - self.submitted_at).total_seconds()
        return None


@dataclass(frozen=True)
class StandingRecord:
    """A vendor-side standing request as the ledger holds it (see ``StandingRequest``)."""

    id: int
    vendor: str
    export: str
    fingerprint: str
    request_body: dict[str, Any]
    state: StandingState
    vendor_request_id: str | None
    submit_outcome: SubmitRecord | None
    attempt: int
    claimed_by_run: str | None
    claimed_at: datetime
    updated_at: datetime
    error: str | None

    def unresolved(self, now: datetime) -> bool:
        """A create that ended without the vendor's id: sent without a complete answer, or left
        ``creating`` longer than :data:`SUBMIT_GRACE` by a run that died."""
        if self.state is not StandingState.CREATING:
            return False
        return self.submit_outcome is SubmitRecord.AMBIGUOUS or now - self.updated_at > SUBMIT_GRACE


def _standing(row: StandingRequest) -> StandingRecord:
    return StandingRecord(
        id=row.id,
        vendor=row.vendor,
        export=row.export,
        fingerprint=row.fingerprint,
        request_body=row.request_body,
        state=StandingState(row.state),
        vendor_request_id=row.vendor_request_id,
        submit_outcome=SubmitRecord(row.submit_outcome) if row.submit_outcome else None,
        attempt=row.attempt,
        claimed_by_run=row.claimed_by_run,
        claimed_at=row.claimed_at,
        updated_at=row.updated_at,
        error=row.error,
    )


class DeliveryOutcome(StrEnum):
    """What the ledger did with a completion callback."""

    COMPLETED = "completed"  # recorded; the job is now completed with the delivered files
    DUPLICATE = "duplicate"  # this job already had its delivery: acknowledged, ignored
    NOT_RUNNING = "not_running"  # recorded, but the job was no longer running: not applied


@dataclass(frozen=True)
class FileUpdate:
    """A file the vendor lists for a completed job (fresh URL and its expiry)."""

    name: str
    url: str
    expires_at: datetime | None


def _snapshot(job: ExportJob) -> JobRecord:
    return JobRecord(
        id=job.id,
        vendor=job.vendor,
        export=job.export,
        partition_key=job.partition_key,
        partitioned=job.partitioned,
        window_start=job.window_start,
        window_end=job.window_end,
        fingerprint=job.fingerprint,
        request_body=job.request_body,
        vendor_job_id=job.vendor_job_id,
        state=JobState(job.state),
        attempt=job.attempt,
        polls=job.polls,
        created_at=job.created_at,
        submitted_at=job.submitted_at,
        last_polled_at=job.last_polled_at,
        completed_at=job.completed_at,
        ingested_at=job.ingested_at,
        rows=job.rows,
        bytes=job.bytes,
        vendor_rows=job.vendor_rows,
        error=job.error,
        files=tuple(
            FileRecord(
                index=f.index,
                name=f.name,
                url=f.url,
                expires_at=f.expires_at,
                local_path=f.local_path,
                bytes=f.bytes,
                sha256=f.sha256,
                rows=f.rows,
            )
            for f in job.files
        ),
        history=tuple((e.at, e.state, e.detail) for e in job.events),
        submit_outcome=SubmitRecord(job.submit_outcome) if job.submit_outcome else None,
        progress=(
            (job.progress_ready, job.progress_total)
            if job.progress_ready is not None and job.progress_total is not None
            else None
        ),
        updated_at=job.updated_at,
        submitted_by_run=job.submitted_by_run,
        superseded_by=job.superseded_by,
        ingest_attempt=job.ingest_attempt or 0,
        parent_id=job.parent_id,
        not_before=job.not_before,
    )


def _with_history(query: Any) -> Any:
    """Load the jobs' events and files in two batched queries, not two per job: a tick's backlog
    of a thousand jobs is then three round trips instead of two thousand."""
    return query.options(selectinload(ExportJob.events), selectinload(ExportJob.files))


def _in_flight(vendor: str) -> tuple[Any, ...]:
    """What makes a job in flight at its vendor: running, with the vendor's job id."""
    return (
        ExportJob.vendor == vendor,
        ExportJob.state == JobState.RUNNING.value,
        ExportJob.vendor_job_id.is_not(None),
    )


def _active_key(vendor: str, export: str, partition_key: str, fingerprint: str) -> str:
    return f"{vendor}/{export}/{partition_key}/{fingerprint}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Several processes (daemon, run workers, webserver) share one file: WAL lets readers and one
    # writer work together, and a busy timeout turns lock contention into a short wait.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine_for(url: str) -> Engine:
    """One engine per URL and process, its schema brought to head on first use."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"timeout": 30})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True)
            try:
                schema.upgrade(engine)
            except BaseException:
                engine.dispose()
                raise
            _ENGINES[url] = engine
        return engine


def default_ledger_url() -> str:
    """SQLite beside the Dagster instance: ``$DAGSTER_HOME/export_ledger.sqlite``."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise RuntimeError(
            "the export ledger needs EXPORT_PIPELINES_LEDGER_URL or DAGSTER_HOME to be set"
        )
    return f"sqlite:///{Path(home).resolve() / 'export_ledger.sqlite'}"


class Ledger:
    def __init__(self, url: str) -> None:
        self.url = url
        self._sessions = sessionmaker(_engine_for(url), expire_on_commit=False)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def _job(self, session: Session, job_id: int) -> ExportJob:
        job = session.get(ExportJob, job_id, with_for_update=True)
        if job is None:
            raise KeyError(f"no export job {job_id} in the ledger")
        return job

    @staticmethod
    def _move(job: ExportJob, state: JobState, detail: str | None = None) -> None:
        job.state = state.value
        job.updated_at = utcnow()
        job.events.append(JobEvent(state=state.value, detail=detail))
        adoptable = state in HOLDS_CLAIM or (state in ADOPTABLE_DONE and job.window_fixed)
        if not adoptable:
            job.active_key = None

    # --- submission -------------------------------------------------------------------------

    def claim(
        self,
        *,
        vendor: str,
        export: str,
        partition_key: str,
        partitioned: bool,
        window: tuple[datetime, datetime] | None,
        fingerprint: str,
        body: dict[str, Any],
        window_fixed: bool,
        run_id: str | None,
        force: bool = False,
        parent_id: int | None = None,
        replaces: int | None = None,
    ) -> tuple[JobRecord, bool]:
        """The job to use for this partition and request: ``(job, True)`` when the caller must
        submit it now, ``(job, False)`` when an adoptable job exists already (possibly one whose
        submit is unresolved: see :meth:`JobRecord.submit_unresolved`; the caller decides).

        ``force`` supersedes the adoptable job (the vendor's copy is left alone) and claims anew;
        the superseded job names its successor, and one whose submit was ambiguous is recorded as
        a possible orphan at the vendor.

        ``parent_id`` makes the new job a sub-window job of that ``split`` job. ``replaces`` names
        a failed job this claim resubmits (the retry policy): when a new job is claimed, the
        failed one is superseded by it. ``attempt`` counts the jobs of the same partition and
        body, so a resubmission's attempt is one more than the job it replaces.

        A ``deferred`` job of the same request is taken up again: ``(that job, True)``, back to
        ``submitting`` under this run (it never reached the vendor, so it is the same attempt).
        A new job claimed beside deferred jobs of the same partition and window (another body,
        or ``force``) supersedes them, so the partition keeps one live job.
        """
        key = _active_key(vendor, export, partition_key, fingerprint)
        for _ in range(3):
            try:
                with self._session() as session:
                    existing = session.scalars(
                        select(ExportJob).where(ExportJob.active_key == key).with_for_update()
                    ).first()
                    if existing is not None and not force:
                        if existing.state != JobState.DEFERRED.value:
                            return _snapshot(existing), False
                        taken = self._take_up(session, existing, run_id)
                        if taken:
                            self._resubmitted(session, replaces, existing)
                        return _snapshot(existing), taken
                    if existing is not None:
                        existing.active_key = None
                        session.flush()
                    earlier = session.scalar(
                        select(func.count(ExportJob.id)).where(
                            ExportJob.vendor == vendor,
                            ExportJob.export == export,
                            ExportJob.partition_key == partition_key,
                            ExportJob.fingerprint == fingerprint,
                        )
                    )
                    job = ExportJob(
                        vendor=vendor,
                        export=export,
                        partition_key=partition_key,
                        partitioned=partitioned,
                        window_start=window[0] if window else None,
                        window_end=window[1] if window else None,
                        fingerprint=fingerprint,
                        request_body=body,
                        window_fixed=window_fixed,
                        active_key=key,
                        state=JobState.SUBMITTING.value,
                        attempt=(earlier or 0) + 1,
                        polls=0,
                        submitted_by_run=run_id,
                        parent_id=parent_id,
                    )
                    job.events.append(JobEvent(state=JobState.SUBMITTING.value, detail=run_id))
                    session.add(job)
                    session.flush()
                    if existing is not None:
                        self._supersede(existing, job.id)
                    self._replace_deferred(session, job)
                    self._resubmitted(session, replaces, job)
                    return _snapshot(job), True
            except IntegrityError:
                continue  # another run claimed it between our read and insert: adopt theirs
        raise RuntimeError(f"could not claim {key} in the ledger after 3 tries")

    def _resubmitted(self, session: Session, replaces: int | None, job: ExportJob) -> None:
        """Supersede the failed job ``replaces`` (the retry policy's) by the claimed ``job``."""
        if replaces is None:
            return
        failed = self._job(session, replaces)
        if failed.state in (JobState.FAILED.value, JobState.TIMED_OUT.value):
            failed.superseded_by = job.id
            self._move(
                failed,
                JobState.SUPERSEDED,
                f"resubmitted by the retry policy as ledger job {job.id} "
                f"(attempt {job.attempt}) after: {failed.error}",
            )

    def _take_up(self, session: Session, job: ExportJob, run_id: str | None) -> bool:
        """Move a deferred job back to ``submitting`` under ``run_id``; False when another run
        took it up first. A compare and set on its state: SQLite ignores ``FOR UPDATE``."""
        taken = (
            session.connection()
            .execute(
                update(ExportJob)
                .where(ExportJob.id == job.id, ExportJob.state == JobState.DEFERRED.value)
                .values(
                    state=JobState.SUBMITTING.value,
                    not_before=None,
                    error=None,
                    submitted_by_run=run_id,
                    updated_at=utcnow(),
                )
            )
            .rowcount
        )
        session.refresh(job)
        if taken:
            job.events.append(
                JobEvent(state=JobState.SUBMITTING.value, detail=f"{run_id} (after a deferral)")
            )
        return bool(taken)

    def _replace_deferred(self, session: Session, job: ExportJob) -> None:
        """Supersede the deferred jobs of ``job``'s partition and window (another body of it):
        the new job stands for that window now, so none of them is submitted later beside it."""
        stale = session.scalars(
            select(ExportJob)
            .where(
                ExportJob.vendor == job.vendor,
                ExportJob.export == job.export,
                ExportJob.partition_key == job.partition_key,
                ExportJob.parent_id == job.parent_id,
                ExportJob.window_start == job.window_start,
                ExportJob.window_end == job.window_end,
                ExportJob.state == JobState.DEFERRED.value,
                ExportJob.id != job.id,
            )
            .with_for_update()
        ).all()
        for deferred in stale:
            deferred.superseded_by = job.id
            self._move(
                deferred,
                JobState.SUPERSEDED,
                f"replaced by ledger job {job.id} before it was submitted (it was deferred)",
            )

    def _supersede(self, old: ExportJob, new_id: int) -> None:
        old.superseded_by = new_id
        if old.submit_outcome == SubmitRecord.AMBIGUOUS and old.vendor_job_id is None:
            why = (
                f"forced resubmission as ledger job {new_id}; the vendor may hold an orphan job "
                "of this submit, whose outcome is unknown"
            )
        else:
            why = f"forced resubmission as ledger job {new_id}"
        self._move(old, JobState.SUPERSEDED, why)

    def mark_submitted(
        self,
        job_id: int,
        vendor_job_id: str,
        outcome: SubmitRecord = SubmitRecord.CREATED,
        detail: str | None = None,
    ) -> JobRecord:
        """The vendor named its job: ``outcome`` says whether it created it or reused one."""
        with self._session() as session:
            job = self._job(session, job_id)
            job.vendor_job_id = vendor_job_id
            job.submitted_at = utcnow()
            job.submit_outcome = outcome.value
            job.error = None
            self._move(
                job,
                JobState.RUNNING,
                detail or f"vendor job {vendor_job_id} ({outcome.value})",
            )
            return _snapshot(job)

    def mark_ambiguous(self, job_id: int, error: str) -> JobRecord:
        """The submit was sent but its answer never came (or its run died): the vendor may have
        created a job. The claim is kept, so no other run submits blindly in its place."""
        with self._session() as session:
            job = self._job(session, job_id)
            job.submit_outcome = SubmitRecord.AMBIGUOUS.value
            job.error = error
            job.updated_at = utcnow()
            job.events.append(JobEvent(state=job.state, detail=f"submit outcome unknown: {error}"))
            return _snapshot(job)

    def mark_deferred(self, job_id: int, not_before: datetime, detail: str) -> JobRecord:
        """The submit was not made, or refused with nothing created, because the vendor's quota
        is spent until ``not_before``. The job keeps its partition's claim without being in
        flight: the next claim of its request (the status sensor asks for one once it is due)
        takes it up again; ``detail`` (the vendor's word) is an event and the job's error."""
        with self._session() as session:
            job = self._job(session, job_id)
            job.not_before = not_before
            job.error = detail
            self._move(job, JobState.DEFERRED, f"deferred until {not_before.isoformat()}: {detail}")
            return _snapshot(job)

    def mark_failed(self, job_id: int, error: str) -> JobRecord:
        with self._session() as session:
            job = self._job(session, job_id)
            job.error = error
            self._move(job, JobState.FAILED, error)
            return _snapshot(job)

    def mark_timed_out(self, job_id: int, detail: str) -> JobRecord:
        with self._session() as session:
            job = self._job(session, job_id)
            job.error = detail
            self._move(job, JobState.TIMED_OUT, detail)
            return _snapshot(job)

    def mark_split(self, job_id: int, detail: str) -> JobRecord:
        """A failed job too large for the vendor is asked again in sub-windows (its children).
        It becomes adoptable again where its window is fixed, so a later run of the partition
        adopts the split instead of asking the vendor for the whole window once more."""
        with self._session() as session:
            job = self._job(session, job_id)
            if job.state == JobState.SPLIT.value:
                return _snapshot(job)
            self._move(job, JobState.SPLIT, detail)
            key = _active_key(job.vendor, job.export, job.partition_key, job.fingerprint)
            taken = session.scalar(select(ExportJob.id).where(ExportJob.active_key == key))
            if job.window_fixed and taken is None:
                job.active_key = key
            return _snapshot(job)

    def name_slot(self, job_id: int, vendor_job_id: str, detail: str) -> JobRecord:
        """A standing slot's job gets its vendor job id, unless a run racing on the same claim
        named it first (the same id: nothing was sent, so naming it twice would only repeat the
        event, or move a job the sensor already completed back to running)."""
        with self._session() as session:
            named = (
                session.connection()
                .execute(
                    update(ExportJob)
                    .where(ExportJob.id == job_id, ExportJob.vendor_job_id.is_(None))
                    .values(
                        vendor_job_id=vendor_job_id,
                        submitted_at=utcnow(),
                        submit_outcome=SubmitRecord.STANDING.value,
                        error=None,
                    )
                )
                .rowcount
            )
            job = self._job(session, job_id)
            if named:
                self._move(job, JobState.RUNNING, detail)
            return _snapshot(job)

    # --- standing requests ------------------------------------------------------------------

    def claim_standing(
        self,
        *,
        vendor: str,
        export: str,
        fingerprint: str,
        body: dict[str, Any],
        run_id: str | None,
    ) -> tuple[StandingRecord, bool]:
        """The standing request of this export and body: ``(record, True)`` when the caller
        inserted it and must create it at the vendor now, ``(record, False)`` when it exists
        (created, or another run's claim: the caller decides from its state)."""
        for _ in range(3):
            with self._session() as session:
                row = session.scalars(
                    select(StandingRequest).where(
                        StandingRequest.vendor == vendor,
                        StandingRequest.export == export,
                        StandingRequest.fingerprint == fingerprint,
                    )
                ).first()
                if row is not None:
                    return _standing(row), False
            try:
                with self._session() as session:
                    row = StandingRequest(
                        vendor=vendor,
                        export=export,
                        fingerprint=fingerprint,
                        request_body=body,
                        state=StandingState.CREATING.value,
                        attempt=1,
                        claimed_by_run=run_id,
                    )
                    session.add(row)
                    session.flush()
                    return _standing(row), True
            except IntegrityError:
                continue  # another run inserted it between our read and insert: read theirs
        raise RuntimeError(f"could not claim the standing request of {vendor}/{export}")

    def reclaim_standing(self, record: StandingRecord, run_id: str | None) -> StandingRecord | None:
        """Claim again a standing request whose create failed or was never answered, if nobody
        else did since ``record`` was read (compare and set on its attempt); None if someone did."""
        now = utcnow()
        with self._session() as session:
            taken = (
                session.connection()
                .execute(
                    update(StandingRequest)
                    .where(
                        StandingRequest.id == record.id,
                        StandingRequest.attempt == record.attempt,
                        StandingRequest.state != StandingState.CREATED.value,
                    )
                    .values(
                        state=StandingState.CREATING.value,
                        attempt=record.attempt + 1,
                        claimed_by_run=run_id,
                        claimed_at=now,
                        updated_at=now,
                        submit_outcome=None,
                    )
                )
                .rowcount
            )
        return self.standing(record.id) if taken else None

    def standing_created(self, standing_id: int, vendor_request_id: str) -> StandingRecord:
        return self._set_standing(
            standing_id,
            state=StandingState.CREATED.value,
            vendor_request_id=vendor_request_id,
            submit_outcome=None,
            error=None,
        )

    def standing_failed(self, standing_id: int, error: str) -> StandingRecord:
        """Nothing was created at the vendor: the next run may claim it again at once."""
        return self._set_standing(
            standing_id, state=StandingState.FAILED.value, submit_outcome=None, error=error
        )

    def standing_ambiguous(self, standing_id: int, error: str) -> StandingRecord:
        """Sent without a complete answer: the claim is kept; the next run looks for it first."""
        return self._set_standing(
            standing_id, submit_outcome=SubmitRecord.AMBIGUOUS.value, error=error
        )

    def _set_standing(self, standing_id: int, **values: Any) -> StandingRecord:
        with self._session() as session:
            row = session.get(StandingRequest, standing_id, with_for_update=True)
            if row is None:
                raise KeyError(f"no standing request {standing_id} in the ledger")
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            return _standing(row)

    def standing(self, standing_id: int) -> StandingRecord:
        with self._session() as session:
            row = session.get(StandingRequest, standing_id)
            if row is None:
                raise KeyError(f"no standing request {standing_id} in the ledger")
            return _standing(row)

    def standing_requests(self, vendor: str | None = None) -> list[StandingRecord]:
        with self._session() as session:
            query = select(StandingRequest).order_by(StandingRequest.id)
            if vendor:
                query = query.where(StandingRequest.vendor == vendor)
            return [_standing(row) for row in session.scalars(query).all()]

    # --- polling ----------------------------------------------------------------------------

    def record_poll(self, job_id: int, progress: tuple[int, int] | None = None) -> None:
        """One poll of the vendor; a change of ``progress`` (parts ready, total) is an event."""
        self.record_polls([(job_id, progress)])

    def record_polls(self, polls: Sequence[tuple[int, tuple[int, int] | None]]) -> None:
        """Many polls in one transaction: ``(job id, progress or None)`` each, as
        :meth:`record_poll` records one. A tick that polls a thousand jobs pays for one commit
        (one fsync) instead of a thousand (``bench/ledger.py`` measures both)."""
        if not polls:
            return
        now = utcnow()
        times = Counter(job_id for job_id, _ in polls)
        by_count: dict[int, list[int]] = {}
        for job_id, count in times.items():
            by_count.setdefault(count, []).append(job_id)
        with self._session() as session:
            counted = 0
            for count, ids in by_count.items():
                result = session.connection().execute(
                    update(ExportJob)
                    .where(ExportJob.id.in_(sorted(ids)))
                    .values(polls=ExportJob.polls + count, last_polled_at=now)
                )
                counted += result.rowcount
            if counted != len(times):
                known = set(session.scalars(select(ExportJob.id).where(ExportJob.id.in_(times))))
                missing = sorted(set(times) - known)
                raise KeyError(f"no export job {', '.join(map(str, missing))} in the ledger")
            reported = {job_id: progress for job_id, progress in polls if progress is not None}
            if not reported:
                return
            rows = session.execute(
                select(
                    ExportJob.id,
                    ExportJob.state,
                    ExportJob.progress_ready,
                    ExportJob.progress_total,
                ).where(ExportJob.id.in_(sorted(reported)))
            ).all()
            for job_id, state, ready, total in rows:
                progress = reported[job_id]
                if progress == (ready, total):
                    continue
                session.execute(
                    update(ExportJob)
                    .where(ExportJob.id == job_id)
                    .values(progress_ready=progress[0], progress_total=progress[1])
                    .execution_options(synchronize_session=False)
                )
                session.add(
                    JobEvent(
                        job_id=job_id,
                        at=now,
                        state=state,
                        detail=f"progress {progress[0]}/{progress[1]} parts",
                    )
                )

    def mark_completed(
        self, job_id: int, files: Sequence[FileUpdate], vendor_rows: int | None
    ) -> JobRecord:
        with self._session() as session:
            job = self._job(session, job_id)
            job.completed_at = job.completed_at or utcnow()
            job.vendor_rows = vendor_rows
            self._replace_files(job, files)
            self._move(job, JobState.COMPLETED, f"{len(files)} file(s)")
            return _snapshot(job)

    def refresh_files(self, job_id: int, files: Sequence[FileUpdate]) -> JobRecord:
        """Fresh URLs for a finished job's files (after an expiry); downloads are kept."""
        with self._session() as session:
            job = self._job(session, job_id)
            if len(files) != len(job.files):
                raise ValueError(
                    f"job {job_id}: the vendor now lists {len(files)} files, not {len(job.files)}"
                )
            for record, offered in zip(job.files, files, strict=True):
                record.url = offered.url
                record.expires_at = offered.expires_at
            job.events.append(JobEvent(state=job.state, detail="file URLs refreshed"))
            return _snapshot(job)

    @staticmethod
    def _replace_files(job: ExportJob, files: Sequence[FileUpdate]) -> None:
        job.files.clear()
        for index, offered in enumerate(files):
            job.files.append(
                JobFile(
                    index=index, name=offered.name, url=offered.url, expires_at=offered.expires_at
                )
            )

    # --- completion callbacks ---------------------------------------------------------------

    def submitted_job(self, vendor: str, vendor_job_id: str) -> JobRecord | None:
        """The job the pipeline submitted under this vendor job id (the newest), or None: the
        receiver refuses a callback for a job nobody here submitted."""
        with self._session() as session:
            job = session.scalars(
                select(ExportJob)
                .where(ExportJob.vendor == vendor, ExportJob.vendor_job_id == vendor_job_id)
                .order_by(ExportJob.id.desc())
            ).first()
            return _snapshot(job) if job else None

    def record_delivery(
        self,
        job_id: int,
        *,
        digest: str,
        files: Sequence[FileUpdate],
        vendor_rows: int | None,
    ) -> DeliveryOutcome:
        """Record a job's completion callback exactly once, and complete the job with it, in one
        transaction. The delivery row is written first: of two concurrent deliveries one insert
        wins and the other sees the UNIQUE constraint, so it is a duplicate however they race."""
        try:
            with self._session() as session:
                job = self._job(session, job_id)
                assert job.vendor_job_id is not None
                running = job.state == JobState.RUNNING.value
                outcome = DeliveryOutcome.COMPLETED if running else DeliveryOutcome.NOT_RUNNING
                note = (
                    f"{len(files)} file(s) delivered"
                    if running
                    else f"arrived while the job was {job.state}: not applied"
                )
                session.add(
                    Delivery(
                        vendor=job.vendor,
                        vendor_job_id=job.vendor_job_id,
                        job_id=job.id,
                        digest=digest,
                        outcome=f"{outcome.value}: {note}",
                    )
                )
                session.flush()
                if running:
                    job.completed_at = utcnow()
                    job.vendor_rows = vendor_rows
                    self._replace_files(job, files)
                    self._move(job, JobState.COMPLETED, f"callback: {note}")
                else:
                    job.events.append(JobEvent(state=job.state, detail=f"callback {note}"))
                return outcome
        except IntegrityError:
            with self._session() as session:
                row = session.scalars(
                    select(Delivery).where(Delivery.job_id == job_id).with_for_update()
                ).first()
                if row is None:
                    raise
                row.duplicates += 1
            return DeliveryOutcome.DUPLICATE

    def deliveries(self, vendor: str) -> list[tuple[str, str, str, int]]:
        """Every recorded callback of a vendor: (vendor job id, digest, outcome, duplicates)."""
        with self._session() as session:
            rows = session.scalars(
                select(Delivery).where(Delivery.vendor == vendor).order_by(Delivery.id)
            ).all()
            return [(r.vendor_job_id, r.digest, r.outcome, r.duplicates) for r in rows]

    def awaiting_launch(self, vendor: str) -> list[JobRecord]:
        """Completed jobs for which no raw+table run was ever requested (a callback vendor's
        deliveries, recorded by the receiver while the sensor may not be running)."""
        return self._jobs_where(
            ExportJob.vendor == vendor,
            ExportJob.state == JobState.COMPLETED.value,
            ExportJob.ingest_attempt == 0,
            order_by=(ExportJob.id,),
        )

    # --- download and ingestion -------------------------------------------------------------

    def record_download(
        self, job_id: int, index: int, *, local_path: str, size: int, sha256: str
    ) -> None:
        with self._session() as session:
            job = self._job(session, job_id)
            record = job.files[index]
            record.local_path = local_path
            record.bytes = size
            record.sha256 = sha256
            record.downloaded_at = utcnow()

    def mark_downloaded(self, job_id: int) -> JobRecord:
        with self._session() as session:
            job = self._job(session, job_id)
            job.bytes = sum(f.bytes or 0 for f in job.files)
            self._move(job, JobState.DOWNLOADED, f"{job.bytes} bytes")
            return _snapshot(job)

    def mark_ingested(self, job_id: int, rows_per_file: Sequence[int]) -> JobRecord:
        with self._session() as session:
            job = self._job(session, job_id)
            for record, rows in zip(job.files, rows_per_file, strict=True):
                record.rows = rows
            job.rows = sum(rows_per_file)
            job.ingested_at = utcnow()
            job.error = None
            self._move(job, JobState.INGESTED, f"{job.rows} rows")
            return _snapshot(job)

    def record_error(self, job_id: int, error: str) -> JobRecord:
        """A step failed on this job without changing its state (a normalize that refused the
        raw files leaves the job ``downloaded``): the error is kept and is an event."""
        with self._session() as session:
            job = self._job(session, job_id)
            job.error = error
            job.updated_at = utcnow()
            job.events.append(JobEvent(state=job.state, detail=f"error: {error}"))
            return _snapshot(job)

    def record_event(self, job_id: int, detail: str) -> JobRecord:
        """Something worth keeping happened to this job without changing its state (the table
        step found schema drift): one event in its history."""
        with self._session() as session:
            job = self._job(session, job_id)
            job.events.append(JobEvent(state=job.state, detail=detail))
            return _snapshot(job)

    def record_ingest_attempt(self, job_id: int, attempt: int, detail: str) -> JobRecord:
        """The status sensor requested raw+table run number ``attempt`` for this job."""
        with self._session() as session:
            job = self._job(session, job_id)
            if attempt > (job.ingest_attempt or 0):
                job.ingest_attempt = attempt
                job.events.append(JobEvent(state=job.state, detail=detail))
            return _snapshot(job)

    # --- reads ------------------------------------------------------------------------------

    def get(self, job_id: int) -> JobRecord:
        with self._session() as session:
            return _snapshot(self._job(session, job_id))

    def _jobs_where(
        self, *conditions: Any, order_by: tuple[Any, ...], limit: int | None = None
    ) -> list[JobRecord]:
        """The jobs that meet every condition, in ``order_by``'s order (the first ``limit``),
        with their history."""
        with self._session() as session:
            query = _with_history(select(ExportJob)).where(*conditions).order_by(*order_by)
            rows = session.scalars(query.limit(limit) if limit is not None else query).all()
            return [_snapshot(row) for row in rows]

    def _tree(self, job: JobRecord) -> dict[int, JobRecord]:
        """Every job of ``job``'s partition (a split tree never leaves its partition)."""
        with self._session() as session:
            rows = session.scalars(
                _with_history(select(ExportJob)).where(
                    ExportJob.vendor == job.vendor,
                    ExportJob.export == job.export,
                    ExportJob.partition_key == job.partition_key,
                )
            ).all()
            return {row.id: _snapshot(row) for row in rows}

    def root_of(self, job: JobRecord) -> JobRecord:
        """The top of the split tree ``job`` belongs to (``job`` itself when it has no parent)."""
        if job.parent_id is None:
            return job
        jobs = self._tree(job)
        while job.parent_id is not None and job.parent_id in jobs:
            job = jobs[job.parent_id]
        return job

    def depth(self, job: JobRecord) -> int:
        """How many splits above ``job``: 0 for a partition's own job, 1 for its halves…"""
        jobs, depth = self._tree(job), 0
        while job.parent_id is not None and job.parent_id in jobs:
            job, depth = jobs[job.parent_id], depth + 1
        return depth

    def leaves(self, root: JobRecord) -> list[JobRecord]:
        """The jobs that stand for ``root``'s window now, in window order: ``root`` itself unless
        it was split; else, recursively, its sub-window jobs, each replaced by its resubmission
        (the newest job of the same parent and window) where the retry policy resubmitted it."""
        if root.state is not JobState.SPLIT:
            return [root]
        jobs = self._tree(root)
        children: dict[int, list[JobRecord]] = {}
        for job in jobs.values():
            if job.parent_id is not None:
                children.setdefault(job.parent_id, []).append(job)

        def standing(parent: JobRecord) -> list[JobRecord]:
            newest: dict[str, JobRecord] = {}
            for child in sorted(children.get(parent.id, []), key=lambda j: j.id):
                newest[child.fingerprint] = child
            found: list[JobRecord] = []
            for child in sorted(newest.values(), key=lambda j: j.window_start or j.created_at):
                if child.state is JobState.SPLIT:
                    found += standing(child)
                else:
                    found.append(child)
            return found

        return standing(root)

    def in_flight(self, vendor: str, limit: int | None = None) -> list[JobRecord]:
        """Jobs the vendor is working on, least recently polled first (a fair backlog); the
        first ``limit`` of them: a tick reads what it can poll, not a backlog of ten thousand."""
        return self._jobs_where(
            *_in_flight(vendor),
            order_by=(ExportJob.last_polled_at.asc().nulls_first(), ExportJob.id),
            limit=limit,
        )

    def count_in_flight(self, vendor: str) -> int:
        """How many jobs the vendor is working on (one indexed count, for a tick's report)."""
        with self._session() as session:
            counted = session.scalar(select(func.count(ExportJob.id)).where(*_in_flight(vendor)))
            return int(counted or 0)

    def due_deferred(self, vendor: str, now: datetime) -> list[JobRecord]:
        """A vendor's deferred jobs whose ``not_before`` has come (``<= now``), earliest first."""
        return self._jobs_where(
            ExportJob.vendor == vendor,
            ExportJob.state == JobState.DEFERRED.value,
            ExportJob.not_before <= now,
            order_by=(ExportJob.not_before, ExportJob.id),
        )

    def quota_spent_until(self, vendor: str, now: datetime) -> datetime | None:
        """The earliest ``not_before`` after ``now`` of a vendor's deferred jobs: until then its
        quota is known to be spent, so a submit can be deferred without asking; None if none."""
        with self._session() as session:
            return session.scalar(
                select(func.min(ExportJob.not_before)).where(
                    ExportJob.vendor == vendor,
                    ExportJob.state == JobState.DEFERRED.value,
                    ExportJob.not_before > now,
                )
            )

    def awaiting_ingest(self, vendor: str) -> list[JobRecord]:
        """Finished jobs not yet in the lake: completed (to download) or downloaded (to
        normalize)."""
        return self._jobs_where(
            ExportJob.vendor == vendor,
            ExportJob.state.in_([JobState.COMPLETED.value, JobState.DOWNLOADED.value]),
            order_by=(ExportJob.id,),
        )

    def latest(
        self, vendor: str, export: str, partition_key: str | None = None
    ) -> JobRecord | None:
        """The job a raw/table step works on: the adoptable one, else the newest — of one
        partition, or of the whole export when ``partition_key`` is None."""
        with self._session() as session:
            query = select(ExportJob).where(ExportJob.vendor == vendor, ExportJob.export == export)
            if partition_key is not None:
                query = query.where(ExportJob.partition_key == partition_key)
            job = session.scalars(
                query.order_by(ExportJob.active_key.is_(None), ExportJob.id.desc())
            ).first()
            return _snapshot(job) if job else None

    def jobs(self, vendor: str | None = None, export: str | None = None) -> list[JobRecord]:
        with self._session() as session:
            query = select(ExportJob).order_by(ExportJob.id)
            if vendor:
                query = query.where(ExportJob.vendor == vendor)
            if export:
                query = query.where(ExportJob.export == export)
            return [_snapshot(j) for j in session.scalars(_with_history(query)).all()]
