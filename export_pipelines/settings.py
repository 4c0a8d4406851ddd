"""The environment variables export_pipelines reads, and their defaults: one place for each.

Secrets (API keys) are only ever read through ``dg.EnvVar`` by the resources; this module names the
variables so that the resources, the sandbox launcher, the demo and the docs agree on them.
"""

import os
from pathlib import Path
from typing import Final

#: Root of the raw files and the Parquet lake (``<root>/raw``, ``<root>/lake``).
DATA_DIR_ENV: Final = "EXPORT_PIPELINES_DATA_DIR"
#: ``s3://<bucket>/<prefix>``: keep the lake (raw files and tables) on S3; unset means the local
#: data root. The data root then holds only scratch space and locks.
LAKE_URL_ENV: Final = "EXPORT_PIPELINES_LAKE_URL"
#: An S3-compatible endpoint instead of AWS (MinIO, a local moto server): ``http://host:port``.
S3_ENDPOINT_URL_ENV: Final = "EXPORT_PIPELINES_S3_ENDPOINT_URL"
#: The lake bucket's region; unset means the AWS chain's (``AWS_REGION``, the profile).
S3_REGION_ENV: Final = "EXPORT_PIPELINES_S3_REGION"
#: The standard AWS variables, passed to ``S3Resource`` through ``dg.EnvVar`` when set.
S3_CREDENTIAL_ENVS: Final = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
}
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


def lake_url() -> tuple[str, str] | None:
    """``(bucket, prefix)`` of ``$EXPORT_PIPELINES_LAKE_URL``; None for the local lake."""
    value = os.environ.get(LAKE_URL_ENV, "").strip()
    if not value:
        return None
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() != "s3":
        raise ValueError(f"{LAKE_URL_ENV} must be an s3://<bucket>/<prefix> URL")
    bucket, _, prefix = rest.partition("/")
    problem = s3_bucket_problem(bucket)
    if problem:
        raise ValueError(f"{LAKE_URL_ENV}: the bucket {problem}")
    return bucket, prefix.strip("/")


def s3_endpoint_url() -> str | None:
    value = os.environ.get(S3_ENDPOINT_URL_ENV, "").strip()
    if not value:
        return None
    problem = base_url_problem(value)
    if problem:
        raise ValueError(f"{S3_ENDPOINT_URL_ENV} {problem}")
    return value


def s3_region() -> str | None:
    return os.environ.get(S3_REGION_ENV, "").strip() or None


def s3_credential_envs() -> dict[str, str]:
    """The ``S3Resource`` fields whose AWS variable is set, with the variable's name (not its
    value): unset ones are left to the AWS chain (an instance or pod role)."""
    return {field: env for field, env in S3_CREDENTIAL_ENVS.items() if os.environ.get(env)}


def s3_bucket_problem(bucket: str) -> str | None:
    """What makes ``bucket`` an impossible S3 bucket name; None when it may be one."""
    if not 3 <= len(bucket) <= 63:
        return "must be 3 to 63 characters long"
    if not all(c.islower() or c.isdigit() or c in ".-" for c in bucket) or not bucket.isascii():
        return "may hold only lower-case letters, digits, dots and hyphens"
    if not (bucket[0].isalnum() and bucket[-1].isalnum()):
        return "must start and end with a letter or digit"
    return None


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
