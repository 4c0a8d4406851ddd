"""Submit outcomes, progress, supersession, ingest attempts, and the webhook deliveries table.

Between the first release and Alembic, ``create_all`` added missing *tables* on open but never
missing *columns*: a first-release database opened by later code may already hold
``export_deliveries`` while ``export_jobs`` lacks every new column. Such a database is stamped at
0001 like any other, so this revision adds only what is missing, and is exact on a clean 0001.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JOB_COLUMNS = (
    sa.Column("submit_outcome", sa.String(16), nullable=True),
    sa.Column("progress_ready", sa.Integer(), nullable=True),
    sa.Column("progress_total", sa.Integer(), nullable=True),
    sa.Column("superseded_by", sa.Integer(), nullable=True),
    # NOT NULL needs a default for the rows already there: 0 runs launched by the sensor (only a
    # callback vendor reads 0 as "still to launch", and the first release had none).
    sa.Column("ingest_attempt", sa.Integer(), nullable=False, server_default="0"),
)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = {c["name"] for c in inspector.get_columns("export_jobs")}
    for column in JOB_COLUMNS:
        if column.name not in present:
            op.add_column("export_jobs", column.copy())
    if not inspector.has_table("export_deliveries"):
        op.create_table(
            "export_deliveries",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("vendor", sa.String(64), nullable=False),
            sa.Column("vendor_job_id", sa.String(200), nullable=False),
            sa.Column("job_id", sa.Integer(), sa.ForeignKey("export_jobs.id"), nullable=False),
            sa.Column("digest", sa.String(64), nullable=False),
            sa.Column("received_at", sa.DateTime(), nullable=False),
            sa.Column("outcome", sa.Text(), nullable=False),
            sa.Column("duplicates", sa.Integer(), nullable=False),
            sa.UniqueConstraint("vendor", "vendor_job_id", name="uq_export_deliveries_vendor_job"),
        )
        op.create_index("ix_export_deliveries_job_id", "export_deliveries", ["job_id"])


def downgrade() -> None:
    op.drop_table("export_deliveries")
    for column in reversed(JOB_COLUMNS):
        op.drop_column("export_jobs", column.name)
