"""The simulated Connhex deployment's settings (``SandboxConfig(connhex=...)``).

The defaults make a small, fast account: a job waits ``queued_seconds`` as ``notProcessed``, then is
``inProgress`` for at least ``completion_delay_seconds`` while its file is written. Tests that want
jobs to stay put raise the delays and complete them through the control endpoints instead.
"""

from datetime import UTC, datetime

from pydantic import Field, field_validator, model_validator

from export_pipelines.decisions import connhex as decisions
from export_pipelines.sandbox.vendor import DEFAULT_SEED, VendorConfig

DEFAULT_CONNHEX_API_KEY = "sandbox-connhex-token"


class ConnhexSandboxConfig(VendorConfig):
    """The simulated deployment: its bearer token, its devices' data, timings and limits."""

    api_key: str = DEFAULT_CONNHEX_API_KEY
    seed: int = DEFAULT_SEED
    #: Devices (publishers) and channels; every device publishes every variable on every channel.
    publisher_count: int = Field(default=3, ge=1, le=1_000)
    channel_count: int = Field(default=2, ge=1, le=100)
    #: Nominal points per hour of each variable, before gaps (the size knob: 1 … 3600).
    points_per_hour: int = Field(default=12, ge=1, le=3_600)
    dataset_start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    dataset_end: datetime = datetime(2028, 1, 1, tzinfo=UTC)
    #: Seconds a job stays ``notProcessed`` once its run time has come.
    queued_seconds: float = Field(default=0.1, ge=0)
    #: Seconds a job is ``inProgress`` at least (and until its file is written).
    completion_delay_seconds: float = Field(default=0.3, ge=0)
    #: C-7: requests not yet terminal that an account may hold; one more is refused with 429.
    max_queued_exports: int = Field(default=decisions.MAX_QUEUED_EXPORTS, ge=1)
    #: Jobs of items on these channel ids fail instead of completing (a standing fault).
    fail_channels: frozenset[str] = frozenset()
    #: A recurring request creates at most this many runs (a guard against ``PT1S`` from 1970).
    max_recurring_runs: int = Field(default=1_000, ge=1)
    #: Seconds the simulated clock runs ahead of the real one (``POST clock/advance`` adds to it).
    clock_offset_seconds: float = 0.0

    @field_validator("dataset_start", "dataset_end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _span(self) -> "ConnhexSandboxConfig":
        if self.dataset_end <= self.dataset_start:
            raise ValueError("dataset_end must be after dataset_start")
        return self
