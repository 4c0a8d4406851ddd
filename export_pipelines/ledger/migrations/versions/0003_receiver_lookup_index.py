"""Index the webhook receiver's lookup of a job by the vendor's job id.

``Ledger.submitted_job(vendor, vendor_job_id)`` runs for every callback the receiver gets; without
this index it scans every job the ledger ever held (measured in ``bench/ledger.py``).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_export_jobs_vendor_job", "export_jobs", ["vendor", "vendor_job_id"])


def downgrade() -> None:
    op.drop_index("ix_export_jobs_vendor_job", table_name="export_jobs")
