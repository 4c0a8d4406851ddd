"""The export ledger: its store, its schema and migrations, and its behaviour at scale."""
