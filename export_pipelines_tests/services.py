"""Local services the tests use for real, and the rule for when they are missing.

A test that needs PostgreSQL runs whenever it is reachable. Under CI (``CI=true``) a missing service
fails the run instead of skipping: CI must not pass by testing less.
"""

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

POSTGRES_ADMIN_URL = os.environ.get(
    "EXPORT_PIPELINES_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    if _reachable("127.0.0.1", 5432):
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("PostgreSQL is required in CI (CI=true) but 127.0.0.1:5432 is not reachable")
    pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")


@contextmanager
def _created(kind: str, prefix: str, drop_suffix: str = "") -> Iterator[str]:
    """A throw-away PostgreSQL object (``SCHEMA`` or ``DATABASE``) named ``<prefix>_<random>``."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE {kind} "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP {kind} "{name}" {drop_suffix}'))
        admin.dispose()


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in the ``test`` database, as a SQLAlchemy URL; dropped afterwards."""
    with _created("SCHEMA", "t", "CASCADE") as schema:
        yield f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database (for a Dagster instance, which owns its schema), as a SQLAlchemy URL."""
    with _created("DATABASE", "ep", "WITH (FORCE)") as name:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
