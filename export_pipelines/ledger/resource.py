"""``LedgerResource``: where the ledger lives, as a Dagster resource."""

import os

import dagster as dg

from export_pipelines import settings
from export_pipelines.ledger.store import Ledger, default_ledger_url


class LedgerResource(dg.ConfigurableResource):
    """The export ledger. ``url`` is a SQLAlchemy URL (``postgresql+psycopg2://…``). Empty means
    ``$EXPORT_PIPELINES_LEDGER_URL`` read at run time (a URL may hold a password, so it is never
    put in the definitions), else SQLite at ``$DAGSTER_HOME/export_ledger.sqlite``."""

    url: str = ""

    def ledger(self) -> Ledger:
        return Ledger(self.url or os.environ.get(settings.LEDGER_URL_ENV) or default_ledger_url())
