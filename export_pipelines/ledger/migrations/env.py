"""Alembic's entry point for the ledger: migrate the connection the caller passes in.

The caller (:func:`export_pipelines.ledger.schema.upgrade`) has begun a transaction and taken the
upgrade lock on that connection, so Alembic runs inside it and never commits: the caller does,
which releases PostgreSQL's transaction-scoped advisory lock with the commit.

Writing a new revision by hand is the usual way; to let Alembic draft one against a scratch
ledger, run its CLI with ``script_location = export_pipelines.ledger:migrations`` and
``sqlalchemy.url`` in an ini of your own: without a connection passed in, that URL is used.
"""

from alembic import context
from sqlalchemy import Connection, create_engine

from export_pipelines.ledger.models import Base


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


passed_in = context.config.attributes.get("connection")
if passed_in is not None:
    _migrate(passed_in)
else:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("the ledger's migrations need a connection or sqlalchemy.url")
    engine = create_engine(url)
    with engine.begin() as connection:
        _migrate(connection)
    engine.dispose()
