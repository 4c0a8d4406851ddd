"""Alembic's entry point for the ledger: migrate the connection the caller passes in.

The caller (:func:`export_pipelines.ledger.schema.upgrade`) has begun a transaction and taken the
upgrade lock on that connection, so Alembic runs inside it and never commits: the caller does,
which releases PostgreSQL's transaction-scoped advisory lock with the commit.
"""

from alembic import context

from export_pipelines.ledger.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
