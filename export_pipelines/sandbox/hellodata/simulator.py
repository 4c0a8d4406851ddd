"""The state of the simulated HelloData account: its exports, their files and webhook deliveries.

An export is ``queued`` after the 201 and ``processing`` while its file is written, in a background
thread, after ``completion_delay_seconds`` (or at once on the ``complete`` control); then it is
``completed`` and the same thread delivers the webhook: attempt 1, then up to ``webhook_retries``
retries on a non-2xx or no answer (backoff doubling from ``webhook_backoff_seconds``), then it gives
up. A failed export (``fail_names``, ``fail_next``, the ``fail`` control) sends nothing (H-7).
Exports ``queued`` or ``processing`` count as running for the cap of 10 (H-4).

Delivery faults (``DeliveryFault``) act on the next deliveries: ``drop`` (nothing is sent, as a
webhook lost on the way), ``delay`` (sent ``delay_seconds`` late), ``duplicate`` (sent, then sent
again verbatim: a replay). ``replay`` re-sends a delivered body verbatim on demand. Every attempt
is recorded with its answer. One lock guards every export.
"""

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import httpx

from export_pipelines.decisions.hellodata import FILE_SUFFIXES
from export_pipelines.sandbox.hellodata.config import HelloDataSandboxConfig
from export_pipelines.sandbox.hellodata.dataset import DatasetParams, PropertyDataset
from export_pipelines.sandbox.hellodata.files import WriteStopped, write_export_file
from export_pipelines.sandbox.hellodata.jsonjs import js_stringify
from export_pipelines.sandbox.hellodata.query import Query
from export_pipelines.sandbox.hellodata.webhooks import delivery_headers, signature

VENDOR = "hellodata"

#: (root URL the client used, query UUID, filename) → (signed file URL, its expiry).
FileUrl = Callable[[str, str, str], tuple[str, datetime]]


class State(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


RUNNING = (State.QUEUED, State.PROCESSING)


class Delivery(StrEnum):
    WAITING = "waiting"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    GAVE_UP = "gave_up"
    DROPPED = "dropped"
    NOT_SENT = "not_sent"


DONE_DELIVERING = (Delivery.DELIVERED, Delivery.GAVE_UP, Delivery.DROPPED, Delivery.NOT_SENT)


class ExportError(Exception):
    """A control action that does not apply (unknown export, replay before any delivery…)."""


def js_date(moment: datetime) -> str:
    """JavaScript's ``Date.toJSON()``: ``2026-12-01T20:20:22.123Z`` (H-8)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class DeliveryFault:
    kind: Literal["drop", "delay", "duplicate"]
    remaining: int = 1
    delay_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "times": self.remaining, "delay_seconds": self.delay_seconds}


@dataclass
class Attempt:
    number: int
    kind: str  # delivery | retry | duplicate | replay
    at: str
    status: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "kind": self.kind,
            "at": self.at,
            "status": self.status,
            "error": self.error,
        }


@dataclass
class Export:
    """One export; mutable fields change only under the simulator's lock."""

    query_uuid: str
    name: str
    format: str
    webhook_url: str
    dataset: dict[str, Any]
    query: Query
    requested_at: datetime
    requested_mono: float
    #: ``scheme://host:port/hellodata`` as the creating request reached the sandbox.
    root: str
    state: State = State.QUEUED
    delivery: Delivery = Delivery.WAITING
    filename: str | None = None
    path: Path | None = None
    row_count: int | None = None
    completed_at: datetime | None = None
    #: The webhook body exactly as sent, and its header signature.
    body: bytes | None = None
    attempts: list[Attempt] = field(default_factory=list)
    fail_with: str | None = None
    release: threading.Event = field(default_factory=threading.Event)
    written: threading.Event = field(default_factory=threading.Event)
    delivered: threading.Event = field(default_factory=threading.Event)


class HelloDataSimulator:
    """Every export of the simulated account."""

    def __init__(
        self,
        config: HelloDataSandboxConfig,
        work_dir: Path,
        file_url: FileUrl,
    ) -> None:
        self.config = config
        self.api_key = config.api_key
        self.work_dir = work_dir
        self.params = DatasetParams(
            config.seed, config.property_count, config.first_month, config.month_count
        )
        self.dataset = PropertyDataset(self.params)
        self.file_url = file_url
        self._exports: dict[str, Export] = {}
        self._fail_next: list[str] = []
        self._delivery_faults: list[DeliveryFault] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()

    # The API side.

    def running(self) -> int:
        with self._lock:
            return sum(1 for export in self._exports.values() if export.state in RUNNING)

    def seconds_until_a_slot(self) -> int:
        """A guess for ``RateLimit`` ``t`` on a 429 for the cap: when the oldest running one ends."""
        with self._lock:
            started = [e.requested_mono for e in self._exports.values() if e.state in RUNNING]
        if not started:
            return 1
        left = min(started) + self.config.completion_delay_seconds - time.monotonic()
        return max(1, int(left + 0.999))

    def create(
        self,
        root: str,
        name: str,
        file_format: str,
        webhook_url: str,
        dataset: dict[str, Any],
        query: Query,
    ) -> Export | None:
        """A new queued export; None when the running cap is reached."""
        with self._lock:
            running = sum(1 for e in self._exports.values() if e.state in RUNNING)
            if running >= self.config.max_running_exports:
                return None
            export = Export(
                query_uuid=str(uuid.uuid4()),
                name=name,
                format=file_format,
                webhook_url=webhook_url,
                dataset=dataset,
                query=query,
                requested_at=datetime.now(UTC),
                requested_mono=time.monotonic(),
                root=root,
            )
            if self._fail_next:
                export.fail_with = self._fail_next.pop(0)
            elif name in self.config.fail_names:
                export.fail_with = f"export {name!r} fails (sandbox fail_names)"
            self._exports[export.query_uuid] = export
            self._threads = [thread for thread in self._threads if thread.is_alive()]
            thread = threading.Thread(
                target=self._run, args=(export,), name=f"hellodata-{export.query_uuid}", daemon=True
            )
            self._threads.append(thread)
        thread.start()
        return export

    def file_of(self, query_uuid: str, filename: str) -> Path | None:
        with self._lock:
            export = self._exports.get(query_uuid)
            if export is None or export.state is not State.COMPLETED:
                return None
            return export.path if export.filename == filename else None

    # Controls.

    def get(self, query_uuid: str) -> Export:
        with self._lock:
            export = self._exports.get(query_uuid)
        if export is None:
            raise ExportError(f"unknown export {query_uuid}")
        return export

    def exports(self) -> list[Export]:
        with self._lock:
            return sorted(self._exports.values(), key=lambda e: e.requested_mono)

    def summary(self, query_uuid: str) -> dict[str, Any]:
        export = self.get(query_uuid)
        with self._lock:
            return {
                "queryUUID": export.query_uuid,
                "name": export.name,
                "format": export.format,
                "webhookURL": export.webhook_url,
                "dataset": export.dataset,
                "state": export.state.value,
                "delivery": export.delivery.value,
                "filename": export.filename,
                "row_count": export.row_count,
                "requestedOn": js_date(export.requested_at),
                "completedOn": js_date(export.completed_at) if export.completed_at else None,
                "error": export.fail_with if export.state is State.FAILED else None,
                "attempts": [attempt.as_dict() for attempt in export.attempts],
                "webhook_body": export.body.decode() if export.body is not None else None,
            }

    def complete(self, query_uuid: str, wait: str, timeout: float) -> Export:
        """Start now; ``wait`` ``file`` (until written), ``delivery`` (until done) or ``none``."""
        export = self.get(query_uuid)
        export.release.set()
        if wait in ("file", "delivery") and not export.written.wait(timeout):
            raise TimeoutError(f"export {query_uuid} not written after {timeout} s")
        if wait == "delivery" and not export.delivered.wait(timeout):
            raise TimeoutError(f"export {query_uuid} still delivering after {timeout} s")
        return export

    def fail(self, query_uuid: str, message: str | None) -> Export:
        """Fail a running export silently (nothing will be sent)."""
        export = self.get(query_uuid)
        with self._lock:
            if export.state not in RUNNING:
                raise ExportError(f"export {query_uuid} is {export.state.value}; it cannot fail")
            export.fail_with = message or "export failed (sandbox fail control)"
        export.release.set()
        export.written.wait(30)
        return export

    def fail_next(self, message: str) -> None:
        with self._lock:
            self._fail_next.append(message)

    def add_delivery_fault(self, fault: DeliveryFault) -> None:
        with self._lock:
            self._delivery_faults.append(fault)

    def delivery_faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.as_dict() for fault in self._delivery_faults]

    def clear_delivery_faults(self) -> None:
        with self._lock:
            self._delivery_faults.clear()

    def replay(self, query_uuid: str) -> Attempt:
        """Send the delivered body again, byte for byte, with the same signature header."""
        export = self.get(query_uuid)
        if export.body is None:
            raise ExportError(f"export {query_uuid} has no delivery to replay")
        return self._attempt(export, "replay")

    def wait_delivered(self, query_uuid: str, timeout: float) -> Export:
        export = self.get(query_uuid)
        if not export.delivered.wait(timeout):
            raise TimeoutError(f"export {query_uuid} still delivering after {timeout} s")
        return export

    # The background thread.

    def _run(self, export: Export) -> None:
        try:
            self._produce(export)
        except WriteStopped:
            pass
        except Exception as error:  # a sandbox bug must show as a failed export, not a hang
            with self._lock:
                export.state = State.FAILED
                export.fail_with = f"sandbox export writer crashed: {error!r}"
                export.delivery = Delivery.NOT_SENT
        finally:
            export.written.set()
            export.delivered.set()

    def _produce(self, export: Export) -> None:
        delay = max(
            0.0, export.requested_mono + self.config.completion_delay_seconds - time.monotonic()
        )
        export.release.wait(delay)
        if self._closing.is_set():
            return
        with self._lock:
            if export.fail_with is not None:
                export.state, export.delivery = State.FAILED, Delivery.NOT_SENT
                return
            export.state = State.PROCESSING
            export.filename = f"{export.query_uuid}{FILE_SUFFIXES[export.format]}"
        path = self.work_dir / export.query_uuid / export.filename
        count = write_export_file(
            path,
            export.format,
            export.query.scopes,
            export.query.select(self.dataset.rows()),
            lambda: self._closing.is_set() or export.fail_with is not None,
        )
        completed = datetime.now(UTC)
        with self._lock:
            if export.fail_with is not None:
                export.state, export.delivery = State.FAILED, Delivery.NOT_SENT
                return
            export.path, export.row_count, export.completed_at = path, count, completed
            export.state = State.COMPLETED
            export.body = self._webhook_body(export)
        export.written.set()
        self._deliver(export)

    def _webhook_body(self, export: Export) -> bytes:
        assert export.filename is not None and export.completed_at is not None
        url, expires = self.file_url(export.root, export.query_uuid, export.filename)
        payload_signature = signature(self.api_key, js_stringify(export.dataset).encode())
        elapsed = export.completed_at - export.requested_at
        body = {
            "queryUUID": export.query_uuid,
            "name": export.name,
            "format": export.format,
            "payload": export.dataset,
            "hmacSignature": payload_signature,
            "gcsBlob": {
                "url": url,
                "expires": js_date(expires),
                "timeTakenMs": int(elapsed / timedelta(milliseconds=1)),
                "numberRows": export.row_count,
            },
            "requestedOn": js_date(export.requested_at),
            "completedOn": js_date(export.completed_at),
        }
        return js_stringify(body).encode()

    def _take_fault(self) -> DeliveryFault | None:
        with self._lock:
            if not self._delivery_faults:
                return None
            fault = self._delivery_faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._delivery_faults.pop(0)
            return fault

    def _set_delivery(self, export: Export, state: Delivery) -> None:
        with self._lock:
            export.delivery = state

    def _deliver(self, export: Export) -> None:
        fault = self._take_fault()
        if fault is not None and fault.kind == "drop":
            self._set_delivery(export, Delivery.DROPPED)
            return
        if fault is not None and fault.kind == "delay" and self._closing.wait(fault.delay_seconds):
            return
        self._set_delivery(export, Delivery.DELIVERING)
        for attempt in range(1 + self.config.webhook_retries):
            if attempt and self._closing.wait(
                self.config.webhook_backoff_seconds * 2 ** (attempt - 1)
            ):
                return
            result = self._attempt(export, "delivery" if attempt == 0 else "retry")
            if result.status is not None and 200 <= result.status < 300:
                self._set_delivery(export, Delivery.DELIVERED)
                if fault is not None and fault.kind == "duplicate":
                    self._attempt(export, "duplicate")
                return
        self._set_delivery(export, Delivery.GAVE_UP)

    def _attempt(self, export: Export, kind: str) -> Attempt:
        assert export.body is not None
        with self._lock:
            record = Attempt(len(export.attempts) + 1, kind, js_date(datetime.now(UTC)))
            export.attempts.append(record)
        try:
            response = httpx.post(
                export.webhook_url,
                content=export.body,
                headers=delivery_headers(self.api_key, export.body),
                timeout=self.config.webhook_timeout_seconds,
            )
            outcome: tuple[int | None, str | None] = (response.status_code, None)
        except httpx.HTTPError as exc:
            outcome = (None, f"{type(exc).__name__}: {exc}")
        with self._lock:
            record.status, record.error = outcome
        return record

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            threads = list(self._threads)
            for export in self._exports.values():
                export.release.set()
        for thread in threads:
            thread.join(timeout=10)
