"""The simulated HelloData account's settings (``SandboxConfig(hellodata=...)``).

Defaults are DECISIONS.md H-4 … H-6 (``export_pipelines.decisions.hellodata``); the dataset sizes
make a few-row or a multi-million-row export (``property_count * month_count`` rows).
"""

from datetime import date

from pydantic import Field, field_validator

from export_pipelines.decisions import hellodata as decisions
from export_pipelines.sandbox.vendor import DEFAULT_SEED, VendorConfig

DEFAULT_HELLODATA_API_KEY = "sandbox-hellodata-key"


class HelloDataSandboxConfig(VendorConfig):
    """The simulated HelloData account: its key, its dataset, its timings, its webhook policy."""

    api_key: str = DEFAULT_HELLODATA_API_KEY
    seed: int = DEFAULT_SEED
    property_count: int = Field(default=200, ge=1, le=10_000_000)
    #: Monthly snapshots from ``first_month`` on (its day is ignored: months start on the 1st).
    first_month: date = date(2024, 1, 1)
    month_count: int = Field(default=24, ge=1, le=240)
    #: An export is queued this long before its file is written and its webhook sent.
    completion_delay_seconds: float = Field(default=2.0, ge=0)
    #: Lifetime of the signed file URL (``gcsBlob.expires``); documented 30 days.
    url_ttl_seconds: int = Field(default=decisions.URL_TTL_SECONDS, ge=1)
    #: H-4: exports queued or processing at once per account; one more is a 429.
    max_running_exports: int = Field(default=decisions.MAX_RUNNING_EXPORTS, ge=1)
    #: H-5: retries after the first attempt; the wait before retry n is ``backoff * 2^(n-1)``.
    webhook_retries: int = Field(default=decisions.WEBHOOK_RETRIES, ge=0)
    webhook_backoff_seconds: float = Field(default=1.0, ge=0)
    webhook_timeout_seconds: float = Field(default=decisions.WEBHOOK_TIMEOUT_SECONDS, gt=0)
    #: Accept ``http://`` or ``https://`` webhooks on loopback hosts (the local receiver); the
    #: vendor itself refuses them (400).
    allow_loopback_webhooks: bool = False
    #: H-7: exports with one of these ``name``s fail silently (no webhook, ever).
    fail_names: frozenset[str] = frozenset()
    #: Requests per key per window before 429 (the vendor publishes no numbers).
    rate_limit: int = Field(default=1_000, ge=1)
    rate_limit_window_seconds: int = Field(default=60, ge=1)

    @field_validator("first_month")
    @classmethod
    def _month_start(cls, value: date) -> date:
        return value.replace(day=1)
