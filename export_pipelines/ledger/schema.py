"""The ledger's schema on open: upgraded in place, created at head, or refused when too new.

Every process that opens a ledger (the daemon, each run worker, the webhook receiver) calls
:func:`upgrade` once per URL. Several start at once, so the check and the upgrade happen under a
lock held for one transaction: PostgreSQL's transaction-scoped advisory lock (keyed by the schema
on the search path, so two ledgers in one database do not wait for each other) or SQLite's own
write lock (``BEGIN IMMEDIATE``). The second opener waits, then finds the schema at head.

A ledger made before the schema was versioned (``create_all``, no ``alembic_version``) is stamped
at the first release's revision and upgraded from there. A ledger stamped with a revision this code
does not know was written by a newer release: it is refused rather than used with a schema whose
meaning this code cannot know.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

MIGRATIONS = Path(__file__).parent / "migrations"
#: The revision whose schema the first release (no Alembic) created.
FIRST_RELEASE = "0001"
#: A table every ledger of any release has: its presence without a version marks a pre-Alembic one.
JOBS_TABLE = "export_jobs"


class LedgerSchemaError(RuntimeError):
    """The ledger's database cannot be used by this code (e.g. a newer release migrated it)."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    revision = script().get_current_head()
    assert revision is not None
    return revision


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtext('export_pipelines.ledger:' || current_schema()))"
            )
        )
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        raise LedgerSchemaError(
            f"the export ledger supports SQLite and PostgreSQL, not {connection.dialect.name}"
        )


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Bring the ledger at ``engine`` to the code's head revision (see the module docstring);
    the revision it is at afterwards."""
    known = {s.revision for s in script().walk_revisions()}
    target = head()
    with engine.connect() as connection:
        # The common case, a ledger already at head, is read without the lock: no process start
        # waits on another's write lock for nothing.
        if current_revision(connection) == target:
            return target
        connection.rollback()
        _lock(connection)
        found = current_revision(connection)
        config = _config(connection)
        if found is None and inspect(connection).has_table(JOBS_TABLE):
            command.stamp(config, FIRST_RELEASE)
            found = FIRST_RELEASE
        if found is not None and found not in known:
            raise LedgerSchemaError(
                f"the export ledger at {engine.url.render_as_string(hide_password=True)} is at "
                f"schema revision {found!r}, which this code does not know (it knows up to "
                f"{target!r}): a newer release of export_pipelines migrated it. Run that release, "
                "or upgrade this one; the ledger was left unchanged."
            )
        if found != target:
            command.upgrade(config, target)
        connection.commit()
    return target
