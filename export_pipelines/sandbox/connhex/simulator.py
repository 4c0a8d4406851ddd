"""The state of the simulated Connhex exporter: requests, their jobs, their files.

A oneTime request makes one job per item at once. A recurring request runs at ``periodStart + k *
periodicity`` (decisions C-1 rule) and each run makes one job per item, for every run time that has
passed on the sandbox's clock: a ``periodStart`` in the past makes the missed runs at once, and the
control endpoint ``POST clock/advance`` moves the clock forward so a test sees later runs without
waiting (at most ``max_recurring_runs`` runs per request). A job is ``notProcessed`` for
``queued_seconds``, then ``inProgress`` while a writer thread writes its file, for at least
``completion_delay_seconds``, then ``done``, or ``failed`` (its channel is in ``fail_channels``, a
test armed ``fail-next``, or the file could not be written). A job's ``startedAt`` is when it went
in progress, but never before its run time nor at or after the next run (a missed run is dated
within its own period), so the C-1 rule gives a client its run time back.

Times the API shows come from the simulated clock (the real one plus ``clock_offset_seconds``);
the delays are real seconds. One lock guards every request and job; the scheduler thread, the
writer threads, uvicorn's thread and the tests all take it.
"""

import hashlib
import os
import shutil
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from export_pipelines.decisions.connhex import LONG_COLUMNS, STATUS_SEVERITY, TERMINAL_STATUSES
from export_pipelines.sandbox.connhex.config import ConnhexSandboxConfig
from export_pipelines.sandbox.connhex.generator import ConnhexGenerator, GeneratorParams
from export_pipelines.sandbox.connhex.item_files import (
    TooManyRows,
    member_names,
    write_item_file,
)
from export_pipelines.sandbox.connhex.points import long_frames, select, wide_frames
from export_pipelines.sandbox.connhex.request import ExportRequest, parse_export

VENDOR = "connhex"
_TICK_SECONDS = 0.02
_IDLE_SECONDS = 1.0
_WRITERS = 2


class ExportError(Exception):
    """A request or job that does not exist, or an action that does not apply to it."""


class Stopped(Exception):
    """The sandbox closed while a file was being written."""


class NotDownloadable(Exception):
    """A download asked of jobs that are not all done."""


def iso_time(epoch_seconds: float | None) -> str | None:
    """``2024-03-10T01:30:00.000Z``: the API's date-times, UTC with milliseconds."""
    if epoch_seconds is None:
        return None
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Job:
    """One run of one item. Mutable fields change only under the simulator's lock."""

    id: str
    export_id: str
    item_index: int
    #: C-1: the run time (Unix seconds, whole) the window is computed from.
    run_time: int
    created_at: float
    ready_at: float
    status: str = "notProcessed"
    notification_status: str = "notSent"
    started_at: float | None = None
    completed_at: float | None = None
    done_at: float | None = None
    fail: bool = False
    error: str | None = None
    window: tuple[float, float] | None = None
    rows: int | None = None
    path: Path | None = None
    written: bool = False
    finished: threading.Event = field(default_factory=threading.Event)

    def api(self) -> dict[str, Any]:
        """The job as ``GET /exports/{id}`` and ``/status`` show it (C-1)."""
        return {
            "id": self.id,
            "itemIndex": self.item_index,
            "status": self.status,
            "notificationStatus": self.notification_status,
            "startedAt": iso_time(self.started_at),
            "completedAt": iso_time(self.completed_at),
        }

    def summary(self) -> dict[str, Any]:
        """What the control API shows: the job, its run time, window, rows and failure."""
        return {
            **self.api(),
            "exportId": self.export_id,
            "runTime": self.run_time,
            "windowStart": None if self.window is None else self.window[0],
            "windowEnd": None if self.window is None else self.window[1],
            "rows": self.rows,
            "error": self.error,
        }


@dataclass
class Export:
    id: str
    request: ExportRequest
    created_at: float
    updated_at: float
    jobs: list[Job] = field(default_factory=list)
    runs: int = 0

    def status(self) -> str:
        """C-1: the worst of its jobs' statuses (no job yet: not processed)."""
        if not self.jobs:
            return "notProcessed"
        return min((job.status for job in self.jobs), key=STATUS_SEVERITY.index)

    def api(self) -> dict[str, Any]:
        return {
            **self.request.echo,
            "id": self.id,
            "status": self.status(),
            "createdAt": iso_time(self.created_at),
            "updatedAt": iso_time(self.updated_at),
            "deletedAt": None,
            "jobs": [job.api() for job in self.jobs],
        }


class ConnhexSimulator:
    """Requests, jobs and files of the simulated exporter; safe to call from any thread."""

    def __init__(self, config: ConnhexSandboxConfig, work_dir: Path) -> None:
        self.config = config
        self.api_key = config.api_key
        self.params = GeneratorParams(
            seed=config.seed,
            publisher_count=config.publisher_count,
            channel_count=config.channel_count,
            points_per_hour=config.points_per_hour,
            start=int(config.dataset_start.timestamp()),
            end=int(config.dataset_end.timestamp()),
        )
        self.generator = ConnhexGenerator(self.params)
        self.work_dir = work_dir
        self._offset = config.clock_offset_seconds
        self._exports: dict[str, Export] = {}
        self._jobs: dict[str, Job] = {}
        self._fail_next = 0
        self._lock = threading.RLock()
        self._zip_lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._writers = ThreadPoolExecutor(_WRITERS, thread_name_prefix="connhex-writer")
        self._scheduler = threading.Thread(
            target=self._schedule, name="connhex-scheduler", daemon=True
        )
        self._scheduler.start()

    def now(self) -> float:
        """The simulated clock (Unix seconds)."""
        return time.time() + self._offset

    def advance_clock(self, seconds: float) -> float:
        """Move the simulated clock forward, make the runs that are now due; the new time."""
        if seconds < 0:
            raise ExportError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
            self._tick()
        return self.now()

    def parse(self, body: Any) -> ExportRequest:
        return parse_export(body, set(self.generator.channels), self.now())

    def queued(self) -> int:
        with self._lock:
            return sum(
                export.status() not in TERMINAL_STATUSES for export in self._exports.values()
            )

    def create(self, request: ExportRequest) -> Export:
        now = self.now()
        with self._lock:
            export = Export(str(uuid.uuid4()), request, now, now)
            self._exports[export.id] = export
            if request.type == "oneTime":
                self._run(export, int(now))
            else:
                self._tick()
        self._wake.set()
        return export

    def _run(self, export: Export, run_time: int) -> None:
        now = self.now()
        ready_at = time.monotonic() + self.config.queued_seconds
        for index, item in enumerate(export.request.items):
            job = Job(str(uuid.uuid4()), export.id, index, run_time, now, ready_at)
            if self._fail_next:
                self._fail_next -= 1
                job.fail = True
            if item.channel_id in self.config.fail_channels:
                job.fail = True
            export.jobs.append(job)
            self._jobs[job.id] = job
        export.runs += 1
        export.updated_at = now

    def _due_runs(self, export: Export) -> None:
        request = export.request
        if request.type != "recurring":
            return
        assert request.periodicity_seconds is not None and request.period_start is not None
        now = self.now()
        while export.runs < self.config.max_recurring_runs:
            run_time = request.period_start + export.runs * request.periodicity_seconds
            if run_time > now:
                return
            self._run(export, int(run_time))

    def _tick(self) -> None:
        """One pass over every request and job (under the lock)."""
        monotonic = time.monotonic()
        for export in self._exports.values():
            self._due_runs(export)
            for job in export.jobs:
                if job.status == "notProcessed" and job.ready_at <= monotonic:
                    self._start(export, job)
                elif job.status == "inProgress" and job.written and self._due(job, monotonic):
                    self._finish(export, job)

    @staticmethod
    def _due(job: Job, monotonic: float) -> bool:
        return job.done_at is not None and job.done_at <= monotonic

    def _start(self, export: Export, job: Job) -> None:
        job.status = "inProgress"
        request = export.request
        started = self.now()
        if request.periodicity_seconds is not None:
            latest = job.run_time + request.periodicity_seconds - 0.001
            started = min(max(started, job.run_time), latest)
        job.started_at = started
        job.done_at = time.monotonic() + self.config.completion_delay_seconds
        job.window = request.items[job.item_index].window(job.run_time)
        export.updated_at = self.now()
        job.path = self.work_dir / export.id / f"{job.id}.{request.format.extension}"
        self._writers.submit(self._write, export, job)

    def _write(self, export: Export, job: Job) -> None:
        request = export.request
        item = request.items[job.item_index]
        assert job.window is not None and job.path is not None
        error = None
        rows = None
        try:
            selection = select(self.generator, item, job.window)
            if item.output_format == "wide":
                pairs = tuple((column.id, column.label) for column in request.format.columns)
                frames = wide_frames(self.generator, item, selection, pairs)
                columns: tuple[str, ...] = ("time", *(label for _, label in pairs))
            else:
                frames = long_frames(self.generator, item, selection)
                columns = LONG_COLUMNS
            rows = write_item_file(
                job.path,
                self._unless_closing(frames),
                columns,
                request.format.extension,
                request.format.zone,
                request.format.csv_delimiter,
            )
        except TooManyRows as exc:
            error = str(exc)
        except Stopped:
            return
        except Exception as exc:  # a crash fails the job, visible to the tests
            error = f"sandbox writer crashed: {type(exc).__name__}: {exc}"
        with self._lock:
            job.rows = rows
            if error is not None:
                job.fail, job.error = True, error
            job.written = True
        self._wake.set()

    def _unless_closing(self, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """The frames, stopping the writer (a ``Stopped``) when the sandbox closes."""
        for frame in frames:
            if self._closing.is_set():
                raise Stopped()
            yield frame

    def _finish(self, export: Export, job: Job) -> None:
        job.status = "failed" if job.fail else "done"
        if job.fail and job.error is None:
            job.error = "failed by a sandbox fault"
        job.notification_status = "sent"
        job.completed_at = self.now()
        export.updated_at = job.completed_at
        job.finished.set()

    def _busy(self) -> bool:
        """Whether a job may move or a run may come due (else the scheduler idles)."""
        return any(
            export.request.type == "recurring"
            or any(job.status not in TERMINAL_STATUSES for job in export.jobs)
            for export in self._exports.values()
        )

    def _schedule(self) -> None:
        while not self._closing.is_set():
            with self._lock:
                self._tick()
                busy = self._busy()
            # Idle sandboxes (most tests mount every vendor) cost nothing; a create wakes it.
            self._wake.wait(_TICK_SECONDS if busy else _IDLE_SECONDS)
            self._wake.clear()

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        self._scheduler.join(timeout=10)
        self._writers.shutdown(wait=True, cancel_futures=True)

    def get(self, export_id: str) -> Export | None:
        with self._lock:
            return self._exports.get(export_id)

    def snapshot(self, export_id: str) -> dict[str, Any] | None:
        with self._lock:
            export = self._exports.get(export_id)
            return None if export is None else export.api()

    def status(self, export_id: str) -> dict[str, Any] | None:
        with self._lock:
            export = self._exports.get(export_id)
            if export is None:
                return None
            return {"status": export.status(), "jobs": [job.api() for job in export.jobs]}

    def exports(self) -> list[Export]:
        with self._lock:
            return list(self._exports.values())

    def snapshots(self) -> list[dict[str, Any]]:
        with self._lock:
            return [export.api() for export in self._exports.values()]

    def _require(self, export_id: str) -> Export:
        export = self._exports.get(export_id)
        if export is None:
            raise ExportError(f"unknown export {export_id!r}")
        return export

    def _require_job(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise ExportError(f"unknown job {job_id!r}")
        return job

    def summary(self, export_id: str) -> dict[str, Any]:
        with self._lock:
            export = self._require(export_id)
            return {
                **export.api(),
                "memberNames": member_names(export.request),
                "jobs": [job.summary() for job in export.jobs],
            }

    def job_summary(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._require_job(job_id)
            export = self._exports[job.export_id]
            return {**job.summary(), "request": export.request.echo}

    def arm_failures(self, times: int) -> None:
        with self._lock:
            self._fail_next += times

    def complete(self, export_id: str, timeout: float = 600) -> dict[str, Any]:
        """Every job of the request through to done (or failed) now, files written."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                export = self._require(export_id)
                now = time.monotonic()
                for job in export.jobs:
                    job.ready_at = min(job.ready_at, now)
                    if job.done_at is not None:
                        job.done_at = min(job.done_at, now)
                self._tick()
                if all(job.status in TERMINAL_STATUSES for job in export.jobs):
                    return self.summary(export_id)
            if time.monotonic() > deadline:
                raise TimeoutError(f"export {export_id} not finished after {timeout} s")
            time.sleep(_TICK_SECONDS)

    def fail(self, job_id: str) -> dict[str, Any]:
        """Fail a job now, whatever it was doing (its file withdrawn)."""
        with self._lock:
            job = self._require_job(job_id)
            if job.status in TERMINAL_STATUSES:
                raise ExportError(f"job {job_id} is already {job.status}")
            job.fail, job.error = True, "failed by the sandbox's control API"
            export = self._exports[job.export_id]
            self._finish(export, job)
            return job.summary()

    def expire(self, job_id: str) -> dict[str, Any]:
        """The expiry policy, applied to one done job now: ``expired``, its file deleted."""
        with self._lock:
            job = self._require_job(job_id)
            if job.status != "done":
                raise ExportError(f"job {job_id} is {job.status}; only a done job expires")
            job.status = "expired"
            if job.path is not None:
                job.path.unlink(missing_ok=True)
            self._exports[job.export_id].updated_at = self.now()
            return job.summary()

    def forget(self) -> None:
        """Drop every request (test isolation: the queue limit counts them all)."""
        with self._lock:
            exports = list(self._exports)
            self._exports.clear()
            self._jobs.clear()
        for export_id in exports:
            shutil.rmtree(self.work_dir / export_id, ignore_errors=True)

    def download(self, export_id: str, job_id: str | None) -> tuple[Path, str]:
        """(ZIP path, download name) of the request's latest job per item, or of one job.

        Raises ExportError (unknown request or job) or NotDownloadable (a job not done)."""
        with self._lock:
            export = self._require(export_id)
            if job_id is not None:
                job = self._jobs.get(job_id)
                if job is None or job.export_id != export_id:
                    raise ExportError(f"export {export_id} has no job {job_id!r}")
                jobs = [job]
            else:
                latest: dict[int, Job] = {}
                for job in export.jobs:
                    latest[job.item_index] = job
                jobs = [latest[index] for index in sorted(latest)]
                if not jobs:
                    raise NotDownloadable(f"export {export_id} has no job yet")
            for job in jobs:
                if job.status != "done":
                    raise NotDownloadable(
                        f"job {job.id} (item {job.item_index}) is {job.status}, not done"
                    )
            names = member_names(export.request)
            members = [(job.path, names[job.item_index]) for job in jobs]
        key = hashlib.sha256("\n".join(job.id for job in jobs).encode()).hexdigest()[:24]
        target = self.work_dir / export_id / "downloads" / f"{key}.zip"
        with self._zip_lock:
            if not target.exists():
                _write_zip(target, members)
        return target, f"export-{export_id}.zip"


def _write_zip(target: Path, members: list[tuple[Path | None, str]]) -> None:
    """The ZIP of those files, each copied in a block at a time, then renamed into place.

    Deflate level 1: on a 9 MB item file three times faster than the default level, for a ZIP
    about 30 % larger; the sandbox should not be slower than the client it tests."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.partial")
    try:
        with zipfile.ZipFile(
            temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1
        ) as archive:
            for path, name in members:
                assert path is not None
                # ZipInfo keeps the name as given (``archive.write`` would strip a leading "/"):
                # the vendor does not sanitise names, and clients must be tested against that.
                info = zipfile.ZipInfo(name, date_time=time.gmtime(path.stat().st_mtime)[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                info._compresslevel = 1  # type: ignore[attr-defined]  # 3.11: no public name
                info.file_size = path.stat().st_size
                with path.open("rb") as source, archive.open(info, "w") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
