"""Deferred submits: ``export_jobs.not_before`` holds when a ``deferred`` job may be asked again.

A new nullable column only: existing jobs were never deferred, and the new state ``deferred`` is a
value the ``state`` column, a string, already holds. No index: the due deferred jobs are found
through the existing (vendor, state) index, and there are few of them at any time.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("export_jobs", sa.Column("not_before", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("export_jobs", "not_before")
