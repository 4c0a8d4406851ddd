"""The ledger as the first release created it (commit 8e516d2): jobs, their events and files.

That release had no Alembic: it ran ``create_all`` on open, so a database of it has these three
tables and no ``alembic_version``. :mod:`export_pipelines.ledger.schema` stamps such a database at
this revision before upgrading it. Datetimes are naive UTC (``UtcDateTime``); defaults were set by
the ORM, not the database, so there are no server defaults here either.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("export", sa.String(200), nullable=False),
        sa.Column("partition_key", sa.String(200), nullable=False),
        sa.Column("partitioned", sa.Boolean(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=True),
        sa.Column("window_end", sa.DateTime(), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("request_body", sa.JSON(), nullable=False),
        sa.Column("window_fixed", sa.Boolean(), nullable=False),
        sa.Column("active_key", sa.String(600), nullable=True),
        sa.Column("vendor_job_id", sa.String(200), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("polls", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("last_polled_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("ingested_at", sa.DateTime(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("vendor_rows", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("submitted_by_run", sa.String(64), nullable=True),
        sa.UniqueConstraint("active_key", name="uq_export_jobs_active_key"),
    )
    op.create_index("ix_export_jobs_vendor_state", "export_jobs", ["vendor", "state"])
    op.create_index(
        "ix_export_jobs_partition", "export_jobs", ["vendor", "export", "partition_key"]
    )
    op.create_table(
        "export_job_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("export_jobs.id"), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_export_job_events_job_id", "export_job_events", ["job_id"])
    op.create_table(
        "export_job_files",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("export_jobs.id"), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("local_path", sa.Text(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("downloaded_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("job_id", "index", name="uq_export_job_files_index"),
    )


def downgrade() -> None:
    op.drop_table("export_job_files")
    op.drop_table("export_job_events")
    op.drop_table("export_jobs")
