"""The ledger's Alembic environment: ``env.py`` and one module per revision under ``versions/``.

It is run from code (:mod:`export_pipelines.ledger.schema`), never from an ``alembic.ini``: the
connection, already holding the upgrade lock, is handed to ``env.py`` in the config's attributes.
"""
