"""The simulated Rebilly account's settings (``SandboxConfig(rebilly=...)``).

Defaults are documented values or DECISIONS.md choices from ``export_pipelines.decisions.rebilly``;
tests lower the record limit per file, the signed-link lifetime and the rate limit to reach those
behaviours quickly.
"""

from datetime import UTC, datetime

from pydantic import Field, field_validator, model_validator

from export_pipelines.decisions import rebilly as decisions
from export_pipelines.sandbox.vendor import DEFAULT_SEED, VendorConfig

DEFAULT_REBILLY_API_KEY = "sandbox-rebilly-key"
#: The sandbox's one organization: the client's base URL ends with ``/organizations/<this>``.
DEFAULT_ORGANIZATION_ID = "sandbox-organization"
#: The user every export belongs to (``userId``, the ``user`` link).
SANDBOX_USER_ID = "usr_sandbox"


class RebillySandboxConfig(VendorConfig):
    """The simulated Rebilly organization: key, id, synthetic data, timings and limits."""

    api_key: str = DEFAULT_REBILLY_API_KEY
    organization_id: str = Field(default=DEFAULT_ORGANIZATION_ID, pattern=r"^[@~\-\.\w]+$")
    seed: int = DEFAULT_SEED
    #: Records per resource (transactions, customers, subscriptions, invoices).
    record_count: int = Field(default=20_000, ge=10, le=10_000_000)
    dataset_start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    dataset_end: datetime = datetime(2027, 1, 1, tzinfo=UTC)
    #: Seconds an export stays ``queued`` once its ``scheduledTime`` has come.
    queued_seconds: float = Field(default=0.5, ge=0)
    #: Seconds an export is ``processing`` at least (and until its file is written).
    completion_delay_seconds: float = Field(default=2.0, ge=0)
    #: Past this many records the file is a ZIP of parts of at most this many records.
    records_per_file: int = Field(default=decisions.RECORDS_PER_FILE, ge=1)
    #: An export matching more records fails with ``record-limit-exceeded``.
    max_records: int = Field(default=10_000_000, ge=1)
    #: R-4: lifetime of a ``signedLink``; every GET of a completed export signs a fresh one.
    signed_link_ttl_seconds: int = Field(default=decisions.SIGNED_LINK_TTL_SECONDS, ge=1)
    #: Non-GET requests per organization per window (the vendor's sandbox: 3 000 per 10 minutes).
    rate_limit_requests: int = Field(default=decisions.RATE_LIMIT_REQUESTS, ge=1)
    rate_limit_window_seconds: int = Field(default=decisions.RATE_LIMIT_WINDOW_SECONDS, ge=1)

    @field_validator("dataset_start", "dataset_end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _span(self) -> "RebillySandboxConfig":
        if self.dataset_end <= self.dataset_start:
            raise ValueError("dataset_end must be after dataset_start")
        return self
