"""The environment variables export_pipelines reads, and their defaults: one place for each.

Secrets (API keys) are only ever read through ``dg.EnvVar`` by the resources; this module names the
variables so that the resources, the sandbox launcher, the demo and the docs agree on them.
"""

import os
from pathlib import Path
from typing import Final

#: Root of the raw files and the Parquet lake (``<root>/raw``, ``<root>/lake``).
DATA_DIR_ENV: Final = "EXPORT_PIPELINES_DATA_DIR"
#: SQLAlchemy URL of the export ledger; unset means SQLite under ``$DAGSTER_HOME``.
LEDGER_URL_ENV: Final = "EXPORT_PIPELINES_LEDGER_URL"

#: Where ``export-pipelines sandbox serve`` listens unless told otherwise.
SANDBOX_DEFAULT_HOST: Final = "127.0.0.1"
SANDBOX_DEFAULT_PORT: Final = 8765


def vendor_base_url_env(vendor: str) -> str:
    """``ENTERPRET_BASE_URL``: where the vendor's API lives (the sandbox, or the real vendor)."""
    return f"{vendor.upper()}_BASE_URL"


def vendor_api_key_env(vendor: str) -> str:
    """``ENTERPRET_API_KEY``: the vendor API key; read through ``dg.EnvVar``, never logged."""
    return f"{vendor.upper()}_API_KEY"


def data_dir() -> Path:
    """The data root: ``$EXPORT_PIPELINES_DATA_DIR``, else ``./data`` of the working directory."""
    return Path(os.environ.get(DATA_DIR_ENV) or Path.cwd() / "data").resolve()
