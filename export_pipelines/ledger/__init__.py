"""The export ledger: a durable record of every vendor job (SQLite by default, PostgreSQL by URL)."""

from export_pipelines.ledger import schema
from export_pipelines.ledger.models import (
    FINISHED_OK,
    IN_FLIGHT,
    JobState,
    StandingState,
    SubmitRecord,
)
from export_pipelines.ledger.resource import LedgerResource
from export_pipelines.ledger.schema import LedgerSchemaError
from export_pipelines.ledger.store import (
    DeliveryOutcome,
    FileRecord,
    FileUpdate,
    JobRecord,
    Ledger,
    StandingRecord,
)

__all__ = [
    "FINISHED_OK",
    "IN_FLIGHT",
    "DeliveryOutcome",
    "FileRecord",
    "FileUpdate",
    "JobRecord",
    "JobState",
    "Ledger",
    "LedgerResource",
    "LedgerSchemaError",
    "StandingRecord",
    "StandingState",
    "SubmitRecord",
    "schema",
]
