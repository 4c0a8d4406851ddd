"""The state of the simulated HiEnergy account: its export reports, their parts and files.

A report is ``pending`` for half of ``completion_delay_seconds``, then ``processing``: a background
thread counts its rows and, past ``rows_per_part`` (E-4), turns it into a chunked parent with one
child report per part, then writes the file(s) one part at a time (at least ``part_delay_seconds``
each), so ``progress.parts_ready`` grows; the report is ``completed`` when every part is, and never
before ``completion_delay_seconds``. A failure (a ``fail_report_types`` type, a ``fail_next`` armed
by a test, or a ``fail`` control) makes it ``failed`` with an ``error_message``.

Tests take the timers over with ``release`` (let N more parts be written, then hold) and
``complete`` (write everything now). One lock guards every report; the writer threads, uvicorn's
thread and the tests all go through it.
"""

import hashlib
import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from export_pipelines.decisions.hienergy import REPORT_TYPES
from export_pipelines.sandbox.hienergy.config import HiEnergySandboxConfig
from export_pipelines.sandbox.hienergy.errors import ApiError
from export_pipelines.sandbox.hienergy.generator import COLUMNS, GeneratorParams, HiEnergyGenerator
from export_pipelines.sandbox.hienergy.report_files import (
    WriteStopped,
    extension,
    write_report_file,
)
from export_pipelines.sandbox.hienergy.search import Search, SearchError, parse_search

VENDOR = "hienergy"
FIRST_REPORT_ID = 4101
_UNLIMITED = 1 << 62

DISPLAY_NAMES = {
    "advertisers_csv": "Advertisers (CSV)",
    "deals_excel": "Deals (Excel)",
    "hot_advertisers_excel": "Hot advertisers (Excel)",
    "clicks_details_excel": "Click details (Excel)",
}


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


IN_FLIGHT = (Status.PENDING, Status.PROCESSING)


class ReportError(Exception):
    """A control action that does not apply: an unknown report, or completing a failed one."""


def iso(moment: datetime | None) -> str | None:
    """``2026-12-01T20:20:22.123Z``, the vendor's timestamp form."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces: what "identical parameters" compares (E-3)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def dedupe_key(api_key: str, report_type: str, search: Any, index: Any) -> str:
    """E-3: same key, ``report_type`` and canonical ``search_params`` / ``index_params``.

    Hashed, so the API key is never kept in a report; an absent object counts as ``{}``.
    """
    text = "\n".join((api_key, report_type, canonical_json(search), canonical_json(index)))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CreateRequest:
    """A create body as understood."""

    report_type: str
    search_params: dict[str, Any]
    index_params: dict[str, Any]
    search: Search


def parse_create(body: Any) -> CreateRequest:
    """The create body checked against the documented schema (ApiError 400 naming the field)."""
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "request body must be a JSON object")
    unknown = sorted(set(body) - {"report_type", "search_params", "index_params"})
    if unknown:
        raise ApiError(400, "bad_request", f"unknown field {unknown[0]!r}", {"field": unknown[0]})
    report_type = body.get("report_type")
    if report_type is None:
        raise ApiError(400, "bad_request", "report_type is required", {"field": "report_type"})
    if report_type not in REPORT_TYPES:
        raise ApiError(
            400,
            "bad_request",
            f"unknown report_type {report_type!r}",
            {"field": "report_type", "allowed": list(REPORT_TYPES)},
        )
    objects: dict[str, dict[str, Any]] = {}
    for name in ("search_params", "index_params"):
        value = body.get(name)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ApiError(400, "bad_request", f"{name} must be an object", {"field": name})
        objects[name] = value
    try:
        search = parse_search(report_type, objects["search_params"])
    except SearchError as exc:
        raise ApiError(400, "bad_request", str(exc), {"field": exc.field}) from None
    return CreateRequest(report_type, objects["search_params"], objects["index_params"], search)


@dataclass
class Report:
    """A report or a part of one. Mutable fields change only under the simulator's lock."""

    id: int
    report_type: str
    search_params: dict[str, Any]
    index_params: dict[str, Any]
    search: Search
    created_at: datetime
    created_mono: float
    dedupe_key: str | None = None
    parent_id: int | None = None
    part_number: int | None = None
    status: Status = Status.PENDING
    updated_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    completed_mono: float | None = None
    error_message: str | None = None
    chunked: bool = False
    total_parts: int | None = None
    parts_ready: int = 0
    children: list[int] = field(default_factory=list)
    row_count: int | None = None
    file: Path | None = None
    filename: str | None = None
    #: None: the timers decide; a number: parts a test has let be written (``release``).
    allowed_parts: int | None = None
    #: A failure armed for this report when it starts processing.
    fail_with: str | None = None
    wake: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def display_name(self) -> str:
        name = DISPLAY_NAMES[self.report_type]
        if self.part_number is not None:
            return f"{name}, part {self.part_number} of {self.total_parts}"
        return name

    @property
    def status_display(self) -> str:
        if self.status is Status.PROCESSING and self.chunked:
            return f"Processing ({self.parts_ready} of {self.total_parts} parts ready)"
        return self.status.value.capitalize()


class HiEnergySimulator:
    """Reports of the simulated account; safe to call from any thread."""

    def __init__(
        self,
        config: HiEnergySandboxConfig,
        work_dir: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.api_key = config.api_key
        self.params = GeneratorParams(
            seed=config.seed,
            advertiser_count=config.advertiser_count,
            deal_count=config.deal_count,
            click_count=config.click_count,
            dataset_start=config.dataset_start,
            dataset_end=config.dataset_end,
        )
        self.generator = HiEnergyGenerator(self.params)
        self.work_dir = work_dir
        self.clock = clock
        self._reports: dict[int, Report] = {}
        self._ids = itertools.count(FIRST_REPORT_ID)
        self._fail_next: list[tuple[str | None, str]] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # The API.

    def create(self, api_key: str, body: Any) -> tuple[int, Report]:
        """Create a report, or answer with an identical one: (HTTP status per E-2, report)."""
        request = parse_create(body)
        key = dedupe_key(api_key, request.report_type, request.search_params, request.index_params)
        now, mono = self._now(), time.monotonic()
        with self._lock:
            for existing in sorted(self._reports.values(), key=lambda r: -r.id):
                if existing.dedupe_key != key:
                    continue
                if existing.status in IN_FLIGHT:
                    return 409, existing
                if (
                    existing.status is Status.COMPLETED
                    and existing.completed_mono is not None
                    and mono - existing.completed_mono <= self.config.dedupe_window_seconds
                ):
                    return 200, existing
            report = Report(
                id=next(self._ids),
                report_type=request.report_type,
                search_params=request.search_params,
                index_params=request.index_params,
                search=request.search,
                created_at=now,
                updated_at=now,
                created_mono=mono,
                dedupe_key=key,
            )
            report.fail_with = self._armed_failure(report.report_type)
            self._reports[report.id] = report
            self._threads = [thread for thread in self._threads if thread.is_alive()]
            thread = threading.Thread(
                target=self._run, args=(report,), name=f"hienergy-report-{report.id}", daemon=True
            )
            self._threads.append(thread)
        thread.start()
        return 201, report

    def _armed_failure(self, report_type: str) -> str | None:
        for position, (wanted, message) in enumerate(self._fail_next):
            if wanted is None or wanted == report_type:
                del self._fail_next[position]
                return message
        if report_type in self.config.fail_report_types:
            return f"{report_type} generation failed (sandbox fail_report_types)"
        return None

    def get(self, report_id: int) -> Report | None:
        with self._lock:
            return self._reports.get(report_id)

    def listing(self, limit: int, parent_id: int | None) -> list[Report]:
        """Newest first: the top-level reports, or the parts of ``parent_id`` (E-4)."""
        with self._lock:
            chosen = [r for r in self._reports.values() if r.parent_id == parent_id]
        chosen.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return chosen[:limit]

    def export_object(
        self,
        report: Report,
        download_url: Callable[[Report], str],
        status_url: Callable[[int], str],
    ) -> dict[str, Any]:
        """The documented export object; a completed file gets a freshly signed URL."""
        with self._lock:
            has_file = report.status is Status.COMPLETED and report.file is not None
            return {
                "id": report.id,
                "report_type": report.report_type,
                "display_name": report.display_name,
                "status": report.status.value,
                "status_display": report.status_display,
                "parameters": {
                    "search_params": report.search_params,
                    "index_params": report.index_params,
                },
                "filename": report.filename,
                "download_url": download_url(report) if has_file else None,
                "download_expires_in_seconds": (
                    self.config.download_expires_in_seconds if has_file else None
                ),
                "error_message": report.error_message,
                "progress": (
                    {"parts_ready": report.parts_ready, "total_parts": report.total_parts}
                    if report.chunked
                    else None
                ),
                "parent_report_id": report.parent_id,
                "chunked_export": report.chunked,
                "created_at": iso(report.created_at),
                "updated_at": iso(report.updated_at),
                "started_at": iso(report.started_at),
                "completed_at": iso(report.completed_at),
                "status_url": status_url(report.id),
            }

    def file_of(self, report_id: int, filename: str) -> Path | None:
        """The finished file of a completed report, if ``filename`` is its name."""
        with self._lock:
            report = self._reports.get(report_id)
            if report is None or report.status is not Status.COMPLETED:
                return None
            if report.file is None or report.filename != filename:
                return None
            return report.file

    # Controls.

    def reports(self) -> list[Report]:
        with self._lock:
            return sorted(self._reports.values(), key=lambda r: r.id)

    def _require(self, report_id: int) -> Report:
        report = self._reports.get(report_id)
        if report is None:
            raise ReportError(f"unknown report id {report_id}")
        return report

    def _top(self, report_id: int) -> Report:
        report = self._require(report_id)
        return self._require(report.parent_id) if report.parent_id is not None else report

    def summary(self, report_id: int) -> dict[str, Any]:
        """What the control API shows: the request as understood and the outcome."""
        with self._lock:
            report = self._require(report_id)
            return {
                "id": report.id,
                "report_type": report.report_type,
                "status": report.status.value,
                "search_params": report.search_params,
                "index_params": report.index_params,
                "parent_report_id": report.parent_id,
                "part_number": report.part_number,
                "chunked_export": report.chunked,
                "total_parts": report.total_parts,
                "parts_ready": report.parts_ready,
                "parts": list(report.children),
                "row_count": report.row_count,
                "filename": report.filename,
                "error_message": report.error_message,
            }

    def release(self, report_id: int, parts: int = 1) -> Report:
        """Take the timers over: let ``parts`` more parts be written, then hold again."""
        with self._lock:
            report = self._top(report_id)
            if report.status is Status.FAILED:
                raise ReportError(f"report {report.id} has failed")
            base = report.allowed_parts if report.allowed_parts is not None else report.parts_ready
            report.allowed_parts = base + parts
            report.wake.set()
        return report

    def wait_parts(self, report_id: int, parts: int, timeout: float | None = None) -> Report:
        """Block until ``parts`` parts are written (or the report is no longer processing)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                report = self._top(report_id)
                ready = report.parts_ready >= parts and report.total_parts is not None
                if ready or report.finished.is_set():
                    return report
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"report {report_id}: {parts} parts not ready after {timeout} s")
            time.sleep(0.01)

    def complete(self, report_id: int, wait: bool = True, timeout: float | None = None) -> Report:
        """Write every part now; with ``wait``, until the report is completed."""
        with self._lock:
            report = self._top(report_id)
            if report.status is Status.FAILED:
                raise ReportError(f"report {report.id} has failed; it cannot complete")
            report.allowed_parts = _UNLIMITED
            report.wake.set()
        if wait and not report.finished.wait(timeout):
            raise TimeoutError(f"report {report.id} still processing after {timeout} s")
        return report

    def fail(self, report_id: int, message: str | None = None) -> Report:
        """Fail the report (and its unfinished parts) with ``error_message``."""
        with self._lock:
            report = self._top(report_id)
            if report.status is Status.COMPLETED:
                raise ReportError(f"report {report.id} has completed; it cannot fail")
            self._mark_failed(report, message or "report generation failed (sandbox)")
        report.finished.wait(timeout=30)
        return report

    def fail_next(self, message: str, report_type: str | None = None) -> None:
        """Make the next created report (of ``report_type``, if given) fail with ``message``."""
        if report_type is not None and report_type not in REPORT_TYPES:
            raise ReportError(f"unknown report_type {report_type!r}")
        with self._lock:
            self._fail_next.append((report_type, message))

    def _mark_failed(self, report: Report, message: str) -> None:
        now = self._now()
        for part_id in report.children:
            part = self._reports[part_id]
            if part.status in IN_FLIGHT:
                part.status, part.error_message, part.updated_at = Status.FAILED, message, now
        report.status, report.error_message, report.updated_at = Status.FAILED, message, now
        report.wake.set()

    # The writer thread.

    def _wait_until(self, report: Report, ready: Callable[[], float | None]) -> bool:
        """Wait until ``ready()`` (called under the lock) gives None, meaning go; it otherwise
        gives seconds to sleep. False if the report failed or the sandbox is closing."""
        while True:
            with self._lock:
                if self._closing.is_set() or report.status is Status.FAILED:
                    return False
                remaining = ready()
                if remaining is None:
                    return True
                report.wake.clear()
            report.wake.wait(remaining)

    def _gate(self, report: Report, part: int, not_before: float) -> Callable[[], float | None]:
        def ready() -> float | None:
            if report.allowed_parts is not None:
                return None if report.allowed_parts > part else 60.0
            remaining = not_before - time.monotonic()
            return None if remaining <= 0 else remaining

        return ready

    def _run(self, report: Report) -> None:
        try:
            self._produce(report)
        except WriteStopped:
            pass
        except Exception as error:  # a sandbox bug must surface as a failed report, not a hang
            with self._lock:
                if report.status in IN_FLIGHT:
                    self._mark_failed(report, f"sandbox report writer crashed: {error!r}")
        finally:
            report.finished.set()

    def _produce(self, report: Report) -> None:
        delay = self.config.completion_delay_seconds
        if not self._wait_until(report, self._gate(report, 0, report.created_mono + delay / 2)):
            return
        with self._lock:
            report.status, report.started_at = Status.PROCESSING, self._now()
            report.updated_at = report.started_at
            if report.fail_with is not None:
                self._mark_failed(report, report.fail_with)
                return
        count = self.generator.count(report.report_type, report.search)
        per_part = self.config.rows_per_part
        total = max(1, math.ceil(count / per_part))
        parts = self._plan_parts(report, count, total)
        rows = self.generator.rows(report.report_type, report.search)
        columns = [name for name, _ in COLUMNS[report.report_type]]
        last = time.monotonic()
        for number, part in enumerate(parts):
            gate = self._gate(report, number, last + self.config.part_delay_seconds)
            if not self._wait_until(report, gate):
                return
            self._set_status(part, Status.PROCESSING)
            assert part.filename is not None
            path = self.work_dir / str(part.id) / part.filename
            written = write_report_file(
                path,
                report.report_type,
                columns,
                itertools.islice(rows, per_part),
                lambda: self._closing.is_set() or report.status is Status.FAILED,
            )
            last = time.monotonic()
            with self._lock:
                if report.status is Status.FAILED:
                    return
                part.file, part.row_count = path, written
                if part is not report:
                    self._finish(part)
                    report.parts_ready += 1
                    report.updated_at = part.completed_at
        if not self._wait_until(report, self._gate(report, 0, report.created_mono + delay)):
            return
        with self._lock:
            if report.status is Status.PROCESSING:
                report.row_count = count
                self._finish(report)

    def _plan_parts(self, report: Report, count: int, total: int) -> list[Report]:
        """The reports the files go to: the report itself, or its new child reports (E-4)."""
        suffix = extension(report.report_type)
        with self._lock:
            if total == 1:
                report.filename = f"{report.report_type}_{report.id}{suffix}"
                return [report]
            report.chunked, report.total_parts, report.parts_ready = True, total, 0
            now = self._now()
            parts = []
            for number in range(1, total + 1):
                part = Report(
                    id=next(self._ids),
                    report_type=report.report_type,
                    search_params=report.search_params,
                    index_params=report.index_params,
                    search=report.search,
                    created_at=now,
                    updated_at=now,
                    created_mono=time.monotonic(),
                    parent_id=report.id,
                    part_number=number,
                    total_parts=total,
                    filename=(
                        f"{report.report_type}_{report.id}_part{number:03d}_of_{total:03d}{suffix}"
                    ),
                )
                self._reports[part.id] = part
                report.children.append(part.id)
                parts.append(part)
            report.updated_at = now
            return parts

    def _set_status(self, report: Report, status: Status) -> None:
        with self._lock:
            if report.status in IN_FLIGHT:
                report.status, report.updated_at = status, self._now()
                if report.started_at is None:
                    report.started_at = report.updated_at

    def _finish(self, report: Report) -> None:
        report.status = Status.COMPLETED
        report.completed_at = report.updated_at = self._now()
        report.completed_mono = time.monotonic()

    def rows_of(self, report_id: int) -> Iterator[dict[str, Any]]:
        """Every row the report holds (all its parts), recomputed from the generator."""
        report = self.get(report_id)
        if report is None:
            raise ReportError(f"unknown report id {report_id}")
        return self.generator.rows(report.report_type, report.search)

    def close(self) -> None:
        """Stop the writer threads; remove nothing (the work directory belongs to the sandbox)."""
        self._closing.set()
        with self._lock:
            threads = list(self._threads)
            for report in self._reports.values():
                report.wake.set()
        for thread in threads:
            thread.join(timeout=10)
