"""The ledger's tables exactly as the first release (commit 8e516d2) declared them.

That release created its database with ``Base.metadata.create_all`` on open and had no Alembic, so
these declarations, run through ``create_all``, make a database like the ones in the field. Kept
apart from today's models on purpose: the migrations are tested against what was shipped, not
against their own first revision.
"""

from datetime import UTC, datetime
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
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def _naive_utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class FirstReleaseBase(DeclarativeBase):
    type_annotation_map: dict[Any, Any] = {datetime: DateTime, dict[str, Any]: JSON}


class ExportJob(FirstReleaseBase):
    __tablename__ = "export_jobs"
    __table_args__ = (
        UniqueConstraint("active_key", name="uq_export_jobs_active_key"),
        Index("ix_export_jobs_vendor_state", "vendor", "state"),
        Index("ix_export_jobs_partition", "vendor", "export", "partition_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vendor: Mapped[str] = mapped_column(String(64))
    export: Mapped[str] = mapped_column(String(200))
    partition_key: Mapped[str] = mapped_column(String(200))
    partitioned: Mapped[bool] = mapped_column(default=True)
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    fingerprint: Mapped[str] = mapped_column(String(64))
    request_body: Mapped[dict[str, Any]]
    window_fixed: Mapped[bool] = mapped_column(default=True)
    active_key: Mapped[str | None] = mapped_column(String(600))
    vendor_job_id: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    polls: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=_naive_utcnow)
    submitted_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=_naive_utcnow)
    last_polled_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    ingested_at: Mapped[datetime | None]
    rows: Mapped[int | None] = mapped_column(BigInteger)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    vendor_rows: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    submitted_by_run: Mapped[str | None] = mapped_column(String(64))


class JobEvent(FirstReleaseBase):
    __tablename__ = "export_job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("export_jobs.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=_naive_utcnow)
    state: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class JobFile(FirstReleaseBase):
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
