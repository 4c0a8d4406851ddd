"""What every vendor adapter provides, so the pipeline never branches on a vendor's name.

A vendor adapter is four things: a pydantic model of its export request (the catalog's ``request``
block is validated against it, so a typo fails ``dg check defs``), a function that turns a validated
request plus a time window into the body the vendor expects, a client that submits and polls, and a
normalizer that turns its result files into Arrow record batches with a fixed schema.

Submitting is where vendors differ most, so :class:`Submitted` says what the vendor did with a
submit (created a job, answered with its in-flight twin, reused a finished one) and
:meth:`VendorClient.find_submitted` finds the job after a submit whose answer was lost, where the
vendor can be asked at all.

Completion is either polled (:meth:`VendorClient.status`, from the status sensor) or called back
(HelloData POSTs a webhook and has no status endpoint). Both are *observations* of a vendor job,
turned into a :class:`RemoteStatus` and applied to the ledger; *launching* the download is separate
and reads only the ledger. A callback adapter therefore also reads deliveries
(:meth:`VendorAdapter.read_delivery`), so that the webhook receiver needs the ledger and the adapter
and nothing of Dagster.

Some vendors also hold *standing* requests: one request the vendor runs on its own schedule, each
run making a job for one period (Connhex's ``type: recurring``; Rebilly's RRULE exports could be
another). An adapter says whether an export's request is one (:meth:`VendorAdapter.is_standing`)
and builds its one body for the export's fixed-length partitioning (:class:`StandingSchedule`);
the pipeline creates it once and names each partition's share of it with
:func:`standing_slot_id`, which the vendor's client resolves in :meth:`VendorClient.status`.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import dagster as dg
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, model_validator

from export_pipelines import settings
from export_pipelines.normalize.schema import RESCUED
from export_pipelines.transport import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    AnswerLimits,
    DownloadPolicy,
    RetryPolicy,
)
from export_pipelines.transport.http import (
    DEFAULT_ANSWER_DEADLINE_SECONDS,
    DEFAULT_MAX_ANSWER_BYTES,
)


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


@dataclass(frozen=True)
class StandingSchedule:
    """The partitions a standing request feeds: partition k is ``[first_start + k * length,
    first_start + (k + 1) * length)``. Only partitionings whose windows all have one length have
    one (a vendor's period between runs is fixed; a day in Rome is 23 or 25 hours twice a year)."""

    first_start: datetime
    length: timedelta

    def __post_init__(self) -> None:
        if self.first_start.tzinfo is None:
            raise ValueError("the first partition's start must be timezone-aware")
        if self.length <= timedelta(0) or self.length.total_seconds() % 1:
            raise ValueError(f"a partition length of {self.length} is no whole number of seconds")


#: Separates a standing request's id from its slot's window start in a slot's vendor job id.
_SLOT_MARK = "@"


def standing_slot_id(request_id: str, window: Window) -> str:
    """The vendor job id of one partition's share of a standing request:
    ``<request id>@<window start in Unix seconds>``. Nothing is submitted for it; the client's
    :meth:`VendorClient.status` reads the request's jobs and finds the one(s) of that window."""
    if _SLOT_MARK in request_id:
        raise ValueError(f"a standing request id may not hold {_SLOT_MARK!r}: {request_id!r}")
    return f"{request_id}{_SLOT_MARK}{int(window.start.timestamp())}"


def parse_standing_slot(vendor_job_id: str) -> tuple[str, datetime] | None:
    """(standing request id, window start) of a slot's vendor job id; None for any other id."""
    request_id, mark, start = vendor_job_id.rpartition(_SLOT_MARK)
    if not mark or not request_id or not start.isdigit():
        return None
    return request_id, datetime.fromtimestamp(int(start), UTC)


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
    #: (parts ready, total parts) of a job delivered in parts that finish one by one (HiEnergy's
    #: chunked reports); None where the vendor says nothing of the kind.
    progress: tuple[int, int] | None = None


class FailureKind(StrEnum):
    """What a vendor's reason for failing a job means for asking again (the adapter says)."""

    TRANSIENT = "transient"  # the vendor's own trouble: the same request may well succeed
    TOO_LARGE = "too_large"  # past the vendor's record limit or time limit: ask for less
    PERMANENT = "permanent"  # nothing known says asking again helps (the default)


class Completion(StrEnum):
    """How a vendor says a job is done."""

    POLL = "poll"  # the status sensor asks (:meth:`VendorClient.status`)
    CALLBACK = "callback"  # the vendor POSTs to a webhook; the receiver records it in the ledger


@dataclass(frozen=True)
class Delivery:
    """A verified completion callback: which vendor job, what it says, and the body's digest."""

    vendor_job_id: str
    status: RemoteStatus
    #: sha256 of the raw body: a replay of the same bytes is recognised in the ledger.
    digest: str


class DeliveryRefused(Exception):
    """A callback the receiver refuses: ``status`` is the HTTP answer, the message says why (and
    never holds a secret)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class CallbackSettings:
    """What a receiver knows when it reads a delivery: the signing secret and the vendor's
    optional relaxations (an allow-list of download hosts for a weaker signature)."""

    secret: str
    allow_payload_signature: bool = False
    allowed_download_hosts: tuple[str, ...] = ()


class SubmitOutcome(StrEnum):
    """What the vendor did with a submit."""

    CREATED = "created"  # a new job
    ADOPTED = "adopted"  # its in-flight job for an identical request (HiEnergy's 409)
    DEDUPED = "deduped"  # a finished job for an identical request (HiEnergy's dedupe window)
    STANDING = "standing"  # a slot of a standing request: nothing submitted for the partition


@dataclass(frozen=True)
class Submitted:
    """The vendor's answer to a submit: its job id, what it did, and what the answer already says
    about the job (a deduped job that is already completed needs no poll)."""

    vendor_job_id: str
    outcome: SubmitOutcome = SubmitOutcome.CREATED
    status: RemoteStatus | None = None


class VendorClient(Protocol):
    """The calls the pipeline makes on a vendor, whatever its protocol."""

    #: Whether :meth:`find_submitted` can ask the vendor (it has a list endpoint, or answers an
    #: identical submit with the existing job). False (Enterpret): a submit whose answer was lost
    #: cannot be found again; the pipeline then refuses to resubmit on its own (docs/reliability.md).
    can_find_submitted: ClassVar[bool]

    def submit(self, body: dict[str, Any]) -> Submitted:
        """Create the export (or let the vendor adopt or dedupe it); say what the vendor did.

        Raises ``RequestNotSent`` when the request never left, ``OutcomeUnknown`` when it was sent
        and no complete answer came back: the vendor may hold a job nobody knows the id of.
        """

    def find_submitted(self, body: dict[str, Any], submitted_after: datetime) -> Submitted | None:
        """After an ambiguous submit: the vendor's job for ``body`` created at or after
        ``submitted_after``, or None when the vendor holds none. Only called when
        :attr:`can_find_submitted` is True; others raise ``NotImplementedError``."""

    def status(self, vendor_job_id: str) -> RemoteStatus:
        """Ask the vendor how the job is doing; completed jobs list fresh file URLs. A standing
        slot's id (:func:`standing_slot_id`) is answered from the standing request's jobs: a run
        the vendor has not made yet is running (never failed); done when every item's job of
        that window is."""

    def download_headers(self, url: str) -> dict[str, str]:
        """Headers to send with a file download (empty for pre-signed URLs)."""

    #: Whether the vendor documents a way to stop a job it is working on (:meth:`cancel`).
    can_cancel: ClassVar[bool]

    def cancel(self, vendor_job_id: str) -> None:
        """Ask the vendor to stop (and drop) the job: a stuck job is cancelled so it holds none
        of the vendor's capacity. Only called when :attr:`can_cancel`; others raise
        ``NotImplementedError``."""

    @property
    def download_policy(self) -> DownloadPolicy:
        """Where this vendor's file URLs may point, and the size cap (``VendorResource``)."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class VendorResource(dg.ConfigurableResource):
    """Settings every vendor resource has; subclasses add the vendor's own and build the client.

    ``api_key`` is bound to ``dg.EnvVar`` in the definitions, so it is read from the environment
    at run time and never stored in the definitions' snapshot. The settings are checked whenever
    Dagster builds the resource (for a run, a sensor tick): a key with whitespace or a control
    character, an empty key, a base URL without http(s) are refused there, with a message naming
    the setting and its environment variable and never the value (pydantic's own messages would
    print the input, so they are told not to).
    """

    model_config = ConfigDict(hide_input_in_errors=True)

    base_url: str
    api_key: str
    #: The environment variables ``base_url`` and ``api_key`` came from, recorded when they are
    #: bound with ``dg.EnvVar`` so that errors can name them.
    base_url_env: str = ""
    api_key_env: str = ""
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    #: A vendor asking (``Retry-After``) for a longer wait than this is not waited for.
    max_retry_after_seconds: float = 120.0
    #: A result file larger than this is cut off and fails (a runaway body must not fill a disk).
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES
    #: An API answer larger than this is refused, one still arriving after this long abandoned
    #: (a vendor dripping bytes never trips the per-read timeout).
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    answer_deadline_seconds: float = DEFAULT_ANSWER_DEADLINE_SECONDS
    #: How long a manual "Materialize raw" waits for a vendor job that is still running.
    wait_timeout_seconds: float = 900.0
    poll_interval_seconds: float = 2.0
    #: A job the vendor has not finished after this long is marked timed out (never waited on
    #: forever; HelloData's silent failures make this necessary).
    job_deadline_seconds: float = 6 * 60 * 60

    def __init__(self, **data: Any) -> None:
        # Recorded as config values in their own right, so that the copy Dagster builds at run
        # time from the resolved config (values read from the environment) still knows them.
        for name in ("base_url", "api_key"):
            if isinstance(data.get(name), dg.EnvVar):
                data.setdefault(f"{name}_env", data[name].env_var_name)
        super().__init__(**data)

    @model_validator(mode="before")
    @classmethod
    def _checked_settings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        problems = []
        for name, check in (
            ("base_url", settings.base_url_problem),
            ("api_key", settings.api_key_problem),
        ):
            value = data.get(name)
            if isinstance(value, dg.EnvVar):
                continue  # bound to the environment: checked once Dagster has read it
            if not isinstance(value, str):
                continue  # a missing or non-text value gets pydantic's own (value-free) error
            problem = check(value)
            if problem is not None:
                env = data.get(f"{name}_env")
                source = f" (environment variable {env})" if env else ""
                problems.append(f"{name}{source} {problem}")
        for name in (
            "timeout_seconds",
            "max_retry_after_seconds",
            "max_download_bytes",
            "max_answer_bytes",
            "answer_deadline_seconds",
        ):
            value = data.get(name)
            if isinstance(value, int | float) and value <= 0:
                problems.append(f"{name} must be positive")
        attempts = data.get("max_attempts")
        if isinstance(attempts, int) and attempts < 1:
            problems.append("max_attempts must be at least 1")
        if problems:
            raise ValueError(f"{cls.__name__} settings refused: " + "; ".join(problems))
        return data

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts, max_retry_after_seconds=self.max_retry_after_seconds
        )

    def answer_limits(self) -> AnswerLimits:
        return AnswerLimits(
            max_bytes=self.max_answer_bytes, deadline_seconds=self.answer_deadline_seconds
        )

    def download_policy(self) -> DownloadPolicy:
        """Downloads may reach public hosts and this vendor's configured host, up to the cap."""
        return DownloadPolicy.for_base_url(self.base_url, max_bytes=self.max_download_bytes)

    def client(self) -> VendorClient:
        raise NotImplementedError


class Normalizer(Protocol):
    """Streams one vendor file into Arrow record batches of :attr:`schema`."""

    schema: pa.Schema

    def batches(self, path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]: ...


RequestT = TypeVar("RequestT", bound=BaseModel)


class VendorAdapter(ABC, Generic[RequestT]):
    """The one object per vendor that the catalog and the pipeline use.

    Generic over the vendor's request model: the catalog validates the ``request`` block into
    ``request_model`` once, so the methods below receive that model and need no type checks.
    """

    name: ClassVar[str]
    resource_class: ClassVar[type[VendorResource]]
    #: Polled by the status sensor, or called back (the sensor then only launches and times out).
    completion: ClassVar[Completion] = Completion.POLL
    #: The pydantic model of the catalog's ``request`` block (a class attribute in subclasses).
    request_model: type[RequestT]
    normalizer: ClassVar[Normalizer]

    def normalizer_for(self, request: RequestT) -> Normalizer:
        """The normalizer of one export's files: the vendor's one :attr:`normalizer`, unless its
        table depends on the request (HiEnergy: a schema per report type; Rebilly: a table per
        resource, read from the format asked; HelloData: the columns its scopes ask for)."""
        return self.normalizer

    def output_forms(self, request: RequestT) -> Mapping[str, Normalizer]:
        """Further tables made from the same files, by name, beside the main one (Connhex: the
        ``wide`` layout an export asks for, beside its tidy long table). Each becomes the asset
        ``<vendor>/<export>/<form>``, materialized in the same run as the table. Most have none."""
        return {}

    def parse_request(self, raw: dict[str, Any]) -> RequestT:
        """The catalog's ``request`` block as the vendor's model (pydantic ValidationError)."""
        return self.request_model.model_validate(raw)

    @abstractmethod
    def check_request(
        self, request: RequestT, *, partitioned: bool, windowed_by_recurrence: bool
    ) -> None:
        """Raise ValueError when the request does not fit the export's partitioning (a
        recurrence hands an unpartitioned export the window each occurrence closes)."""

    @abstractmethod
    def build_body(self, request: RequestT, window: Window | None) -> dict[str, Any]:
        """The body to submit for ``window`` (None: the request's own time range); ValueError
        when there is neither."""

    def is_standing(self, request: RequestT) -> bool:
        """Whether the request is a standing one the vendor runs on its own schedule (one request
        for the whole export, each run's job landing in the partition of its window). Most are
        not: each partition submits its own request."""
        return False

    def build_standing_body(self, request: RequestT, schedule: StandingSchedule) -> dict[str, Any]:
        """The one body of a standing export, whose run k's job covers partition k of
        ``schedule``; ValueError when the request cannot be made so (checked at catalog load)."""
        raise NotImplementedError(f"{self.name} has no standing requests")

    @abstractmethod
    def window_is_fixed(self, request: RequestT, window: Window | None) -> bool:
        """Whether two submissions of this body ask for the same data (no relative dates)."""

    def read_delivery(
        self, raw_body: bytes, headers: Mapping[str, str], settings: CallbackSettings
    ) -> Delivery:
        """Verify and read one completion callback (``completion`` is ``CALLBACK``); raise
        :class:`DeliveryRefused` for a bad signature or body. Polled vendors keep this."""
        raise DeliveryRefused(404, f"{self.name} completes by polling and takes no callbacks")

    def schema_drift_problem(self, request: RequestT, policy: str) -> str | None:
        """Why this export's files cannot follow the drift ``policy``; None if they can.

        ``rescue`` and ``evolve`` work on the ``_rescued`` column (:mod:`export_pipelines.
        normalize.drift`), so a normalizer without one can only refuse undeclared fields, which
        is ``freeze``. A vendor overrides this to say why its files keep no such column."""
        if policy == "freeze" or RESCUED.name in self.normalizer_for(request).schema.names:
            return None
        return (
            f"{self.name}'s table keeps no {RESCUED.name} column, so a field its files do not "
            "declare always fails the file; only freeze applies"
        )

    def schema_drift_default(self, request: RequestT) -> str:
        """The policy of an export that declares none: ``rescue`` where the files can keep an
        undeclared field (nothing breaks, nothing is lost, the table's columns stay as
        declared), else ``freeze`` (what such a vendor's reader does anyway)."""
        return "rescue" if self.schema_drift_problem(request, "rescue") is None else "freeze"

    def classify_failure(self, reason: str) -> FailureKind:
        """What the vendor's reason for a failed job means (:class:`FailureKind`), by what the
        vendor documents of its reasons. Vendors that document none keep this: permanent, so
        only a policy resubmitting on any reason asks again."""
        return FailureKind.PERMANENT

    def can_narrow_window(self, body: dict[str, Any]) -> bool:
        """Whether the request ``body`` takes a narrower window (:meth:`build_body` with a part of
        it) that asks for the part's records only: a too-large job is then split into sub-window
        jobs. Vendors whose request has no such window keep this."""
        return False

    def file_rows_problem(self, body: dict[str, Any], rows_per_file: list[int]) -> str | None:
        """What is wrong with the rows counted per file, by the vendor's own rules; None if
        nothing (used by the table's row-count check). Vendors without such rules keep this."""
        return None
