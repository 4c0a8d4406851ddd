"""Sub-window jobs: ``export_jobs.parent_id`` names the ``split`` job a sub-window job asks a part of.

A new nullable column and its index only: existing jobs have no parent, and the new state
``split`` is a value the ``state`` column, a string, already holds.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEX = "ix_export_jobs_parent_id"


def upgrade() -> None:
    op.add_column("export_jobs", sa.Column("parent_id", sa.Integer(), nullable=True))
    op.create_index(INDEX, "export_jobs", ["parent_id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="export_jobs")
    op.drop_column("export_jobs", "parent_id")
