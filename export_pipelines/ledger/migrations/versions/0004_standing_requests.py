"""The vendor-side standing requests (Connhex's recurring ones), one per export and body.

A new table only: existing jobs are untouched (a standing slot's job is an ordinary ``export_jobs``
row whose ``submit_outcome`` is ``standing``, a value the column, a string, already holds).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "standing_requests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("export", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("request_body", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("vendor_request_id", sa.String(200), nullable=True),
        sa.Column("submit_outcome", sa.String(16), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("claimed_by_run", sa.String(64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("vendor", "export", "fingerprint", name="uq_standing_requests_body"),
    )


def downgrade() -> None:
    op.drop_table("standing_requests")
