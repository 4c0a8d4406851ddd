"""What every vendor adapter provides, so the pipeline never branches on a vendor's name.

A vendor adapter is four things: a pydantic model of its export request (the catalog's ``request``
block is validated against it, so a typo fails ``dg check defs``), a function that turns a validated
request plus a time window into the body the vendor expects, a client that submits and polls, and a
normalizer that turns its result files into Arrow record batches with a fixed schema.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol

import dagster as dg
import pyarrow as pa
from pydantic import BaseModel


@dataclass(frozen=True)
class Window:
    """A half-open time window [start, end) in UTC: what one export covers."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")


class RemoteState(StrEnum):
    """A vendor job's state as the vendor reports it, mapped onto three outcomes."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class RemoteFile:
    """One result file the vendor offers: where, under which local name, and until when."""

    url: str
    name: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class RemoteStatus:
    state: RemoteState
    files: tuple[RemoteFile, ...] = ()
    error: str | None = None
    #: Rows the vendor says the export holds, where it says (Rebilly, HelloData); None otherwise.
    vendor_rows: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class VendorClient(Protocol):
    """The calls the pipeline makes on a vendor, whatever its protocol."""

    def submit(self, body: dict[str, Any]) -> str:
        """Create the export; return the vendor's job id."""

    def status(self, vendor_job_id: str) -> RemoteStatus:
        """Ask the vendor how the job is doing; completed jobs list fresh file URLs."""

    def download_headers(self, url: str) -> dict[str, str]:
        """Headers to send with a file download (empty for pre-signed URLs)."""

    def close(self) -> None: ...


class VendorResource(dg.ConfigurableResource):
    """Settings every vendor resource has; subclasses add the vendor's own and build the client.

    ``api_key`` is bound to ``dg.EnvVar`` in the definitions, so it is read from the environment
    at run time and never stored in the definitions' snapshot.
    """

    base_url: str
    api_key: str
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    #: How long a manual "Materialize raw" waits for a vendor job that is still running.
    wait_timeout_seconds: float = 900.0
    poll_interval_seconds: float = 2.0
    #: A job the vendor has not finished after this long is marked timed out (never waited on
    #: forever; HelloData's silent failures make this necessary).
    job_deadline_seconds: float = 6 * 60 * 60

    def client(self) -> VendorClient:
        raise NotImplementedError


class Normalizer(Protocol):
    """Streams one vendor file into Arrow record batches of :attr:`schema`."""

    schema: pa.Schema

    def batches(self, path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]: ...


class VendorAdapter(Protocol):
    """The one object per vendor that the catalog and the pipeline use."""

    name: ClassVar[str]
    resource_class: ClassVar[type[VendorResource]]
    request_model: ClassVar[type[BaseModel]]
    normalizer: ClassVar[Normalizer]

    def check_request(
        self, request: BaseModel, *, partitioned: bool, windowed_by_recurrence: bool
    ) -> None:
        """Raise ValueError when the request does not fit the export's partitioning (a
        recurrence hands an unpartitioned export the window each occurrence closes)."""

    def build_body(self, request: BaseModel, window: Window | None) -> dict[str, Any]:
        """The body to submit for ``window`` (None: the request's own time range); ValueError
        when there is neither."""

    def window_is_fixed(self, request: BaseModel, window: Window | None) -> bool:
        """Whether two submissions of this body ask for the same data (no relative dates)."""

    def file_rows_problem(self, body: dict[str, Any], rows_per_file: list[int]) -> str | None:
        """What is wrong with the rows counted per file, by the vendor's own rules; None if
        nothing (used by the table's row-count check)."""
