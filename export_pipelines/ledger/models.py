"""The ledger's tables: every vendor job, its state history and its files.

The schema is versioned: ``migrations/`` holds one Alembic revision per change, and
:mod:`export_pipelines.ledger.schema` applies them on open. A change here needs a revision there.

A vendor's job id is written here before anything else happens with it, so a crashed run or daemon
never loses a job the vendor is working on (Airbyte keeps it in memory; we do the opposite).
``active_key`` carries a UNIQUE constraint and is set only while a job may be adopted: two runs
racing to submit the same partition cannot both insert one, so the loser adopts the winner's job.
A job too large for the vendor is ``split``: sub-window jobs name it as their ``parent_id``.
A submit refused because the vendor's quota is spent for hours is ``deferred`` to ``not_before``.
``standing_requests`` holds the vendor-side standing requests (one per export and body), under the
same kind of constraint, so partitions launched together create one between them.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class JobState(StrEnum):
    SUBMITTING = "submitting"  # row written, submit call in flight
    RUNNING = "running"  # the vendor accepted it and is working
    COMPLETED = "completed"  # the vendor finished; files listed, not yet downloaded
    DOWNLOADED = "downloaded"  # every file is on disk, hashed
    INGESTED = "ingested"  # normalized to Parquet in the lake
    FAILED = "failed"  # the vendor reported failure, or submission failed
    TIMED_OUT = "timed_out"  # the vendor did not finish within the deadline
    SUPERSEDED = "superseded"  # replaced by a resubmission (forced, or by the retry policy)
    SPLIT = "split"  # too large for the vendor: its window is asked again in sub-window jobs
    DEFERRED = "deferred"  # the vendor's quota was spent: not submitted; asked after not_before


class SubmitRecord(StrEnum):
    """What became of a job's submit, as far as anyone knows."""

    CREATED = "created"  # the vendor created a new job
    ADOPTED = "adopted"  # the vendor answered with its in-flight job for an identical request
    DEDUPED = "deduped"  # the vendor reused a finished job for an identical request
    AMBIGUOUS = "ambiguous"  # sent, no complete answer: the vendor may hold a job we cannot name
    STANDING = "standing"  # a slot of a standing request (``StandingRequest``): nothing submitted


IN_FLIGHT = (JobState.SUBMITTING, JobState.RUNNING)
#: States whose job keeps its partition's claim (``active_key``) while not finished: in flight,
#: or deferred (the next claim of the same request takes the deferred job up again).
HOLDS_CLAIM = (*IN_FLIGHT, JobState.DEFERRED)
FINISHED_OK = (JobState.COMPLETED, JobState.DOWNLOADED, JobState.INGESTED)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python, naive UTC in the database (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("ledger datetimes must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: dict[Any, Any] = {datetime: UtcDateTime, dict[str, Any]: JSON}


class ExportJob(Base):
    __tablename__ = "export_jobs"
    __table_args__ = (
        UniqueConstraint("active_key", name="uq_export_jobs_active_key"),
        Index("ix_export_jobs_vendor_state", "vendor", "state"),
        Index("ix_export_jobs_partition", "vendor", "export", "partition_key"),
        # The webhook receiver finds a callback's job by the vendor's job id.
        Index("ix_export_jobs_vendor_job", "vendor", "vendor_job_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vendor: Mapped[str] = mapped_column(String(64))
    export: Mapped[str] = mapped_column(String(200))
    #: The lake folder of the job: the Dagster partition key, ``all``, or a recurrence window.
    partition_key: Mapped[str] = mapped_column(String(200))
    #: Whether ``partition_key`` is a Dagster partition of the export's assets.
    partitioned: Mapped[bool] = mapped_column(default=True)
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    fingerprint: Mapped[str] = mapped_column(String(64))
    request_body: Mapped[dict[str, Any]]
    #: False for bodies with relative dates: a finished job of such a body is not adopted later.
    window_fixed: Mapped[bool] = mapped_column(default=True)
    active_key: Mapped[str | None] = mapped_column(String(600))
    vendor_job_id: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    polls: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_polled_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    ingested_at: Mapped[datetime | None]
    rows: Mapped[int | None] = mapped_column(BigInteger)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    vendor_rows: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    submitted_by_run: Mapped[str | None] = mapped_column(String(64))
    #: A :class:`SubmitRecord` value; None while the submit call is in flight.
    submit_outcome: Mapped[str | None] = mapped_column(String(16))
    #: Parts ready and total parts, as last reported by a vendor that delivers in parts.
    progress_ready: Mapped[int | None] = mapped_column(Integer)
    progress_total: Mapped[int | None] = mapped_column(Integer)
    #: The job that replaced this one by a forced resubmission.
    superseded_by: Mapped[int | None] = mapped_column(Integer)
    #: Raw+table runs launched for this job by the status sensor (1 is the first).
    ingest_attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The ``split`` job whose window this job asks for a part of (a half, recursively); its
    #: partition's table is written from every sub-window job of the tree at once.
    parent_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: A ``deferred`` job is not asked of the vendor before this (the reset its quota was
    #: refused until); None for every other job.
    not_before: Mapped[datetime | None]

    events: Mapped[list["JobEvent"]] = relationship(
        back_populates="job", order_by="JobEvent.id", cascade="all, delete-orphan"
    )
    files: Mapped[list["JobFile"]] = relationship(
        back_populates="job", order_by="JobFile.index", cascade="all, delete-orphan"
    )


class JobEvent(Base):
    """One state change of a job, with what caused it."""

    __tablename__ = "export_job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("export_jobs.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)

    job: Mapped[ExportJob] = relationship(back_populates="events")


class JobFile(Base):
    """One result file: where the vendor offers it, until when, and what we keep of it."""

    __tablename__ = "export_job_files"
    __table_args__ = (UniqueConstraint("job_id", "index", name="uq_export_job_files_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("export_jobs.id"))
    index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    local_path: Mapped[str | None] = mapped_column(Text)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    rows: Mapped[int | None] = mapped_column(BigInteger)
    downloaded_at: Mapped[datetime | None]

    job: Mapped[ExportJob] = relationship(back_populates="files")


class Delivery(Base):
    """One completion callback a vendor POSTed (HelloData's webhook), recorded by the receiver.

    At most one per vendor job (the UNIQUE constraint): a vendor's retry or a replayed body is
    acknowledged and ignored, so a job completes, and its data lands, exactly once. The row and the
    job's completion are written in one transaction, so the Dagster daemon need not be running.
    """

    __tablename__ = "export_deliveries"
    __table_args__ = (
        UniqueConstraint("vendor", "vendor_job_id", name="uq_export_deliveries_vendor_job"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vendor: Mapped[str] = mapped_column(String(64))
    vendor_job_id: Mapped[str] = mapped_column(String(200))
    job_id: Mapped[int] = mapped_column(ForeignKey("export_jobs.id"), index=True)
    #: sha256 of the raw body as received (the body itself holds a signed URL: not kept).
    digest: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: What the delivery did: completed the job, or why it did not (the job was no longer running).
    outcome: Mapped[str] = mapped_column(Text)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)


class StandingState(StrEnum):
    CREATING = "creating"  # claimed; the create call is in flight (or its outcome unknown)
    CREATED = "created"  # the vendor named the request: every partition's slot refers to it
    FAILED = "failed"  # the create was refused or never sent: the next run claims it again


class StandingRequest(Base):
    """One vendor-side standing request (Connhex's ``type: recurring``), feeding many partitions.

    At most one per export and body (the UNIQUE constraint): of partitions launched together, one
    run inserts the row and creates the request; the others wait for its id. The partitions' jobs
    in ``export_jobs`` name it in their vendor job id (``<request id>@<window start>``).
    """

    __tablename__ = "standing_requests"
    __table_args__ = (
        UniqueConstraint("vendor", "export", "fingerprint", name="uq_standing_requests_body"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vendor: Mapped[str] = mapped_column(String(64))
    export: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))
    request_body: Mapped[dict[str, Any]]
    #: A :class:`StandingState` value.
    state: Mapped[str] = mapped_column(String(16))
    vendor_request_id: Mapped[str | None] = mapped_column(String(200))
    #: ``ambiguous`` while a create was sent without a complete answer; None otherwise.
    submit_outcome: Mapped[str | None] = mapped_column(String(16))
    #: Claims so far (a refused create is claimed again); compare-and-set guard of a re-claim.
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    claimed_by_run: Mapped[str | None] = mapped_column(String(64))
    #: When the current claim was taken: a create whose answer was lost is looked for from then.
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    error: Mapped[str | None] = mapped_column(Text)
