"""One module per ledger schema revision, oldest first (Alembic skips this file)."""
