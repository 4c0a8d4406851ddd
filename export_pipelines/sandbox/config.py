"""Settings of the sandbox: where it listens, where it writes, and each simulated vendor's knobs.

Every default is either a documented value or a DECISIONS.md choice imported from
``export_pipelines.decisions``, so that a test that starts the sandbox with no arguments exercises
the same behaviour the client was written against.
"""

from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from export_pipelines.decisions import enterpret as enterpret_decisions
from export_pipelines.settings import SANDBOX_DEFAULT_HOST, SANDBOX_DEFAULT_PORT

DEFAULT_ENTERPRET_API_KEY = "sandbox-enterpret-key"
DEFAULT_SEED = 20240101


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are read as UTC: the vendors speak epoch seconds, which have no zone."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class EnterpretSandboxConfig(BaseModel):
    """The simulated Enterpret account: its key, its feedback universe and its timings."""

    model_config = ConfigDict(frozen=True)

    api_key: str = DEFAULT_ENTERPRET_API_KEY
    seed: int = DEFAULT_SEED
    record_count: int = Field(default=100_000, ge=10, le=10_000_000)
    dataset_start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    dataset_end: datetime = datetime(2027, 1, 1, tzinfo=UTC)
    #: How long an export stays "in progress" after submit (the files are written after that).
    completion_delay_seconds: float = Field(default=2.0, ge=0)
    #: N-6: lifetime of a response-file URL; a new fetch hands out fresh URLs.
    file_url_ttl_seconds: int = Field(default=enterpret_decisions.FILE_URL_TTL_SECONDS, ge=1)

    @field_validator("dataset_start", "dataset_end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)

    @model_validator(mode="after")
    def _span(self) -> "EnterpretSandboxConfig":
        if self.dataset_end <= self.dataset_start:
            raise ValueError("dataset_end must be after dataset_start")
        return self


class SandboxConfig(BaseModel):
    """The whole sandbox: one HTTP server, one work directory, one section per vendor."""

    model_config = ConfigDict(frozen=True)

    host: str = SANDBOX_DEFAULT_HOST
    #: 0 picks a free port (what tests want); the CLI defaults to ``SANDBOX_DEFAULT_PORT``.
    port: int = Field(default=SANDBOX_DEFAULT_PORT, ge=0, le=65535)
    #: Where generated export files go; None means a fresh temporary directory, removed on stop.
    work_dir: Path | None = None
    enterpret: EnterpretSandboxConfig = EnterpretSandboxConfig()
