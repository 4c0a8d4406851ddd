"""The state of the simulated Rebilly organization: its data exports and their files.

An export is ``pending`` until its ``scheduledTime`` (R-1), ``queued`` for ``queued_seconds``, then
``processing`` while a background thread resolves its window (relative dates at that moment, R-2)
and streams its file, for at least ``completion_delay_seconds``; then ``completed``, or ``failed``
with a ``failureReason`` (armed by a test, or ``record-limit-exceeded`` past ``max_records``).
A test can advance an export one status now, complete it, or fail it. Uvicorn's thread, the writer
threads and the tests share one lock over the export table and every export's state.
"""

import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from export_pipelines.decisions.rebilly import FAILURE_REASONS, MODIFIABLE_STATUS
from export_pipelines.sandbox.rebilly.config import SANDBOX_USER_ID, RebillySandboxConfig
from export_pipelines.sandbox.rebilly.dataset import RebillyDataset, timestamp_text
from export_pipelines.sandbox.rebilly.formats import ExportStopped, content_type, write_export
from export_pipelines.sandbox.rebilly.request import ExportRequest, parse_export

VENDOR = "rebilly"
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class ExportError(Exception):
    """A control action that does not apply (unknown export, wrong status)."""


class TooManyRecords(Exception):
    """The export matches more records than ``max_records``."""


def _new_id(prefix: str) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ID_ALPHABET) for _ in range(26))}"


@dataclass
class DataExport:
    """One data export. Mutable fields change only under the simulator's lock."""

    id: str
    request: ExportRequest
    created_at: float
    updated_at: float
    scheduled_at: float
    directory: Path
    status: str = "pending"
    queued_until: float = 0.0
    processing_until: float = 0.0
    failure_reason: str | None = None
    armed_failure: str | None = None
    #: Why the sandbox itself failed the export (a writer crash), for the control API.
    error: str | None = None
    resolved_at: float | None = None
    window_start: int | None = None
    window_end: int | None = None
    record_count: int | None = None
    file_id: str | None = None
    file_path: Path | None = None
    file_parts: int = 0
    deleted: bool = False
    wake: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    def resource(self) -> dict[str, Any]:
        """The DataExport members this export has now (links and expansions are the routes')."""
        body: dict[str, Any] = {"id": self.id, **self.request.echo}
        body["userId"] = SANDBOX_USER_ID
        if self.status == "completed":
            body["recordCount"] = self.record_count
            body["fileId"] = self.file_id
        body["scheduledTime"] = timestamp_text(int(self.scheduled_at))
        body["createdTime"] = timestamp_text(int(self.created_at))
        body["updatedTime"] = timestamp_text(int(self.updated_at))
        body["status"] = self.status
        body["failureReason"] = self.failure_reason
        return body

    def summary(self) -> dict[str, Any]:
        """What the control API lists: the export, its resolved absolute window, its file."""
        return {
            "id": self.id,
            "status": self.status,
            "request": self.request.echo,
            "resource": self.request.resource,
            "format": self.request.format,
            "date_field": self.request.date_field,
            "resolved_at": self.resolved_at,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "filter": self.request.filter,
            "sort": self.request.sort,
            "q": self.request.q,
            "fields": None if self.request.fields is None else list(self.request.fields),
            "record_count": self.record_count,
            "file_id": self.file_id,
            "file_parts": self.file_parts,
            "failure_reason": self.failure_reason,
            "error": self.error,
        }


class RebillySimulator:
    """Exports and files of the simulated organization; safe to call from any thread."""

    def __init__(
        self,
        config: RebillySandboxConfig,
        work_dir: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.api_key = config.api_key
        self.dataset = RebillyDataset(
            config.seed, config.record_count, config.dataset_start, config.dataset_end
        )
        self.work_dir = work_dir
        self.clock = clock
        self._exports: dict[str, DataExport] = {}
        self._files: dict[str, DataExport] = {}
        self._armed_failures: list[str] = []
        #: (export id, its status when deleted), in the order the API's DELETEs came.
        self._deleted: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def parse(self, body: Any) -> ExportRequest:
        return parse_export(body, self._now())

    def create(self, request: ExportRequest, export_id: str | None = None) -> DataExport:
        now = self.clock()
        with self._lock:
            if export_id is None:
                export_id = _new_id("exp")
                while export_id in self._exports:
                    export_id = _new_id("exp")
            export = DataExport(
                id=export_id,
                request=request,
                created_at=now,
                updated_at=now,
                scheduled_at=now if request.scheduled_at is None else request.scheduled_at,
                directory=self.work_dir / export_id,
            )
            if export.scheduled_at <= now:
                # Due now: queued at once, so the create answer already says so.
                self._queue(export)
            if self._armed_failures:
                export.armed_failure = self._armed_failures.pop(0)
            self._exports[export_id] = export
            self._threads = [thread for thread in self._threads if thread.is_alive()]
            thread = threading.Thread(
                target=self._run, args=(export,), name=f"rebilly-export-{export_id}", daemon=True
            )
            self._threads.append(thread)
        thread.start()
        return export

    def update(self, export_id: str, request: ExportRequest) -> DataExport | None:
        """Replace a pending export's request; None if it is no longer pending."""
        with self._lock:
            export = self._require(export_id)
            if export.status != MODIFIABLE_STATUS:
                return None
            export.request = request
            export.updated_at = self.clock()
            export.scheduled_at = (
                export.created_at if request.scheduled_at is None else request.scheduled_at
            )
            export.wake.set()
            return export

    def delete(self, export_id: str) -> bool:
        """Remove an export in any status, stopping its writer (R-9); False if unknown."""
        with self._lock:
            export = self._exports.pop(export_id, None)
            if export is None:
                return False
            export.deleted = True
            self._deleted.append((export_id, export.status))
            if export.file_id is not None:
                self._files.pop(export.file_id, None)
            export.wake.set()
        export.finished.wait(timeout=30)
        shutil.rmtree(export.directory, ignore_errors=True)
        return True

    def deleted(self) -> list[tuple[str, str]]:
        """Every export deleted through the API, with the status it was in (a test sees a cancel)."""
        with self._lock:
            return list(self._deleted)

    def get(self, export_id: str) -> DataExport | None:
        with self._lock:
            return self._exports.get(export_id)

    def exports(self) -> list[DataExport]:
        with self._lock:
            return list(self._exports.values())

    def resources(self) -> list[dict[str, Any]]:
        with self._lock:
            return [export.resource() for export in self._exports.values()]

    def snapshot(self, export_id: str) -> dict[str, Any] | None:
        with self._lock:
            export = self._exports.get(export_id)
            return None if export is None else export.resource()

    def summaries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [export.summary() for export in self._exports.values()]

    def summary(self, export_id: str) -> dict[str, Any]:
        with self._lock:
            return self._require(export_id).summary()

    def file(self, file_id: str) -> tuple[Path, str, str] | None:
        """(path, content type, download name) of a completed export's file, or None."""
        with self._lock:
            export = self._files.get(file_id)
            if export is None or export.status != "completed" or export.file_path is None:
                return None
            path = export.file_path
            return path, content_type(export.request.format, export.file_parts), path.name

    def _require(self, export_id: str) -> DataExport:
        export = self._exports.get(export_id)
        if export is None:
            raise ExportError(f"unknown data export {export_id!r}")
        return export

    def arm_failure(self, reason: str, times: int = 1) -> None:
        """Make the next ``times`` exports created fail with ``reason`` when processed."""
        if reason not in FAILURE_REASONS:
            raise ExportError(f"failureReason must be one of {', '.join(FAILURE_REASONS)}")
        with self._lock:
            self._armed_failures += [reason] * times

    def advance(
        self, export_id: str, wait: bool = True, timeout: float | None = None
    ) -> DataExport:
        """Move an export to its next status now (completed: by default once its file is written)."""
        with self._lock:
            export = self._require(export_id)
            status = export.status
            if status == "pending":
                export.scheduled_at = min(export.scheduled_at, self.clock())
            elif status == "queued":
                export.queued_until = time.monotonic()
            elif status == "processing":
                export.processing_until = time.monotonic()
            else:
                raise ExportError(f"{export_id} is {status}; it has no next status")
            export.wake.set()
        if status == "processing" and wait and not export.finished.wait(timeout):
            raise TimeoutError(f"{export_id} still processing after {timeout} s")
        if status != "processing":
            self._await_status_change(export, status, timeout)
        return export

    def _await_status_change(self, export: DataExport, status: str, timeout: float | None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else 30)
        while time.monotonic() < deadline:
            with self._lock:
                if export.status != status or export.deleted:
                    return
            time.sleep(0.005)
        raise TimeoutError(f"{export.id} still {status} after {timeout} s")

    def complete(self, export_id: str, timeout: float | None = None) -> DataExport:
        """Run the export through to ``completed`` (or ``failed``) now."""
        while True:
            export = self.advance(export_id, wait=True, timeout=timeout)
            with self._lock:
                if export.status in ("completed", "failed"):
                    return export

    def fail(self, export_id: str, reason: str) -> DataExport:
        """Fail an export now with ``reason`` (its file, if any, is withdrawn)."""
        if reason not in FAILURE_REASONS:
            raise ExportError(f"failureReason must be one of {', '.join(FAILURE_REASONS)}")
        with self._lock:
            export = self._require(export_id)
            self._set_failed(export, reason)
            export.wake.set()
        export.finished.wait(timeout=30)
        shutil.rmtree(export.directory, ignore_errors=True)
        return export

    def _set_failed(self, export: DataExport, reason: str) -> None:
        export.status = "failed"
        export.failure_reason = reason
        export.updated_at = self.clock()
        if export.file_id is not None:
            self._files.pop(export.file_id, None)
        export.file_path = None

    def _wait(self, export: DataExport, ready: Callable[[], float]) -> bool:
        """Wait until ``ready()`` (seconds left, under the lock) is ≤ 0; False if stopped."""
        while not self._closing.is_set():
            with self._lock:
                if export.deleted or export.status == "failed":
                    return False
                remaining = ready()
                if remaining <= 0:
                    return True
                export.wake.clear()
            export.wake.wait(min(remaining, 60))
        return False

    def _queue(self, export: DataExport) -> None:
        export.status = "queued"
        export.updated_at = self.clock()
        export.queued_until = time.monotonic() + self.config.queued_seconds

    def _run(self, export: DataExport) -> None:
        try:
            if not self._wait(export, lambda: export.scheduled_at - self.clock()):
                return
            with self._lock:
                if export.status == "pending":
                    self._queue(export)
            if not self._wait(export, lambda: export.queued_until - time.monotonic()):
                return
            with self._lock:
                export.status = "processing"
                export.updated_at = now = self.clock()
                export.processing_until = time.monotonic() + self.config.completion_delay_seconds
                export.resolved_at = now
                query, start, end = export.request.query(datetime.fromtimestamp(now, UTC))
                export.window_start, export.window_end = start, end
            self._process(export, query)
        finally:
            export.finished.set()

    def _process(self, export: DataExport, query: Any) -> None:
        def should_stop() -> bool:
            return self._closing.is_set() or export.deleted or export.status == "failed"

        limit = self.config.max_records
        file_id = _new_id("file")

        def limited() -> Any:
            for count, row in enumerate(query.rows(self.dataset), start=1):
                if count > limit:
                    raise TooManyRecords()
                yield row

        reason: str | None = None
        try:
            count, path, parts = write_export(
                limited(),
                export_format=export.request.format,
                resource=export.request.resource,
                columns=query.columns,
                directory=export.directory,
                stem=file_id,
                records_per_file=self.config.records_per_file,
                should_stop=should_stop,
            )
        except ExportStopped:
            return
        except TooManyRecords:
            reason = "record-limit-exceeded"
        except Exception as error:  # a sandbox bug must show as a failed export, not a hang
            reason = "max-retries-reached"
            with self._lock:
                export.error = f"sandbox export writer crashed: {error!r}"
        if not self._wait(export, lambda: export.processing_until - time.monotonic()):
            return
        with self._lock:
            if export.deleted or export.status != "processing":
                return
            reason = reason or export.armed_failure
            if reason is not None:
                self._set_failed(export, reason)
                shutil.rmtree(export.directory, ignore_errors=True)
                return
            export.record_count, export.file_id = count, file_id
            export.file_path, export.file_parts = path, parts
            export.status = "completed"
            export.updated_at = self.clock()
            self._files[file_id] = export

    def close(self) -> None:
        """Stop the writer threads (their partial files are removed)."""
        self._closing.set()
        with self._lock:
            threads = list(self._threads)
            for export in self._exports.values():
                export.wake.set()
        for thread in threads:
            thread.join(timeout=10)
