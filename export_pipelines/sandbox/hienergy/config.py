"""The simulated HiEnergy account's settings (``SandboxConfig(hienergy=...)``).

The defaults are DECISIONS.md E-3 … E-6 (``export_pipelines.decisions.hienergy``) and the documented
rate limit of a publisher account; the universe sizes make a few-row or a multi-million-row report.
"""

from datetime import date

from pydantic import Field, field_validator, model_validator

from export_pipelines.decisions import hienergy as decisions
from export_pipelines.sandbox.vendor import DEFAULT_SEED, VendorConfig

DEFAULT_HIENERGY_API_KEY = "sandbox-hienergy-key"


class HiEnergySandboxConfig(VendorConfig):
    """The simulated HiEnergy account: its key, its data universe, its timings and its limits."""

    api_key: str = DEFAULT_HIENERGY_API_KEY
    seed: int = DEFAULT_SEED
    advertiser_count: int = Field(default=2_000, ge=1, le=1_000_000)
    deal_count: int = Field(default=10_000, ge=1, le=20_000_000)
    click_count: int = Field(default=200_000, ge=1, le=50_000_000)
    dataset_start: date = date(2024, 1, 1)
    dataset_end: date = date(2027, 1, 1)
    #: E-4: past this many rows a report is chunked into parts of at most this many rows.
    rows_per_part: int = Field(default=decisions.ROWS_PER_PART, ge=1)
    #: A report is ``pending`` for half of this, then ``processing``; never completed sooner.
    completion_delay_seconds: float = Field(default=2.0, ge=0)
    #: The least time each part of a report takes, so that a chunked parent's progress grows.
    part_delay_seconds: float = Field(default=0.2, ge=0)
    #: E-5: lifetime of a ``download_url``.
    download_expires_in_seconds: int = Field(default=decisions.DOWNLOAD_EXPIRES_IN_SECONDS, ge=1)
    #: E-3: an identical request within this long after a report completed is answered by it.
    dedupe_window_seconds: float = Field(default=decisions.DEDUPE_WINDOW_SECONDS, ge=0)
    #: Requests per key per window (HiEnergy documents 1,000/h or 10,000/h by account kind).
    rate_limit: int = Field(default=10_000, ge=1)
    rate_limit_window_seconds: int = Field(default=3600, ge=1)
    #: Reports of these types fail (``error_message`` set) instead of completing.
    fail_report_types: frozenset[str] = frozenset()

    @field_validator("fail_report_types")
    @classmethod
    def _known_types(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(value - set(decisions.REPORT_TYPES))
        if unknown:
            raise ValueError(f"unknown report types {unknown}; known: {decisions.REPORT_TYPES}")
        return value

    @model_validator(mode="after")
    def _span(self) -> "HiEnergySandboxConfig":
        if self.dataset_end <= self.dataset_start:
            raise ValueError("dataset_end must be after dataset_start")
        return self
