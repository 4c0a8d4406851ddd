"""The simulated Enterpret account's settings (``SandboxConfig(enterpret=...)``).

Every default is a documented value or a DECISIONS.md choice from ``export_pipelines.decisions``,
so a sandbox started with no arguments behaves as the client was written to expect.
"""

from datetime import UTC, datetime

from pydantic import Field, field_validator, model_validator

from export_pipelines.decisions import enterpret as enterpret_decisions
from export_pipelines.sandbox.vendor import DEFAULT_SEED, VendorConfig

DEFAULT_ENTERPRET_API_KEY = "sandbox-enterpret-key"


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are read as UTC: the vendor speaks epoch seconds, which have no zone."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class EnterpretSandboxConfig(VendorConfig):
    """The simulated Enterpret account: its key, its feedback universe and its timings."""

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
