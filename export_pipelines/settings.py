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


def api_key_problem(value: str) -> str | None:
    """What is wrong with an API key, in words that never show it; None when it can be sent.

    A key must be printable ASCII without spaces: a trailing newline (a key saved with ``echo``
    or read from a file) made httpx print the whole header, key and all, in its error.
    """
    if not value:
        return "is empty"
    for position, char in enumerate(value, start=1):
        if char in "\r\n":
            return f"has a line break at character {position} of {len(value)}"
        if char.isspace():
            return f"has whitespace at character {position} of {len(value)}"
        if not char.isascii() or not char.isprintable():
            return f"has a control or non-ASCII character at character {position} of {len(value)}"
    return None


def base_url_problem(value: str) -> str | None:
    """What is wrong with a vendor base URL (without repeating it); None when it is usable."""
    if not value:
        return "is empty"
    if any(char.isspace() or not char.isprintable() for char in value):
        return "has whitespace or a control character"
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return "must start with http:// or https://"
    host = rest.split("/", 1)[0]
    if not host:
        return "names no host"
    if "@" in host:
        return "must not carry credentials (user:password@); the key goes in the API key setting"
    return None
