"""The state of the simulated Enterpret account: its export jobs and their files.

A job is ``running`` from submit until ``completion_delay_seconds`` later (or until a test completes
it now), then ``writing`` while a background thread streams its files to disk, then ``completed``;
a test can make it ``failed`` at any time. Fetch keeps answering "in progress" until the files are
fully written. Uvicorn's thread, the writer threads and the tests all touch jobs: one lock guards
the job table and every job's state.
"""

import secrets
import shutil
import string
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from export_pipelines.sandbox.enterpret.config import EnterpretSandboxConfig
from export_pipelines.sandbox.enterpret.dataset import FeedbackDataset
from export_pipelines.sandbox.enterpret.export_files import ExportStopped, file_name, write_export
from export_pipelines.sandbox.enterpret.export_request import ExportRequest, parse_submit

VENDOR = "enterpret"
_QUERY_ID_ALPHABET = string.ascii_lowercase + string.digits
_QUERY_ID_LENGTH = 6
DEFAULT_FAILURE_MESSAGE = "export failed (sandbox)"


class JobState(StrEnum):
    RUNNING = "running"
    WRITING = "writing"
    COMPLETED = "completed"
    FAILED = "failed"


class JobError(Exception):
    """A control action that does not apply: unknown job, or completing a failed one."""


@dataclass
class Job:
    """One submitted export. Mutable fields change only under the simulator's lock."""

    query_id: str
    request: ExportRequest
    raw_request: Any
    submitted_at: float
    deadline: float
    directory: Path
    state: JobState = JobState.RUNNING
    error: str | None = None
    record_count: int | None = None
    files: list[Path] = field(default_factory=list)
    fetch_count: int = 0
    wake: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    def summary(self) -> dict[str, Any]:
        """What the control API lists: the request as understood, the window, the outcome."""
        return {
            "queryID": self.query_id,
            "state": self.state.value,
            "request": self.request.normalized,
            "raw_request": self.raw_request,
            "window_start": self.request.window_start,
            "window_end": self.request.window_end,
            "page_size": self.request.page_size,
            "submitted_at": self.submitted_at,
            "record_count": self.record_count,
            "file_count": len(self.files) if self.state is JobState.COMPLETED else None,
            "error": self.error,
            "fetch_count": self.fetch_count,
        }


class EnterpretSimulator:
    """Jobs and files of the simulated account; safe to call from any thread."""

    def __init__(
        self,
        config: EnterpretSandboxConfig,
        work_dir: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.api_key = config.api_key
        self.dataset = FeedbackDataset.from_config(config)
        self.work_dir = work_dir
        self.clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []

    def submit(self, body: Any) -> Job:
        """Accept an export request (RequestError if malformed) and start its job."""
        now = self.clock()
        request = parse_submit(body, now)
        with self._lock:
            query_id = self._new_query_id()
            job = Job(
                query_id=query_id,
                request=request,
                raw_request=body,
                submitted_at=now,
                deadline=time.monotonic() + self.config.completion_delay_seconds,
                directory=self.work_dir / query_id,
            )
            self._jobs[query_id] = job
            self._threads = [thread for thread in self._threads if thread.is_alive()]
            thread = threading.Thread(
                target=self._run, args=(job,), name=f"enterpret-export-{query_id}", daemon=True
            )
            self._threads.append(thread)
        thread.start()
        return job

    def _new_query_id(self) -> str:
        while True:
            suffix = "".join(secrets.choice(_QUERY_ID_ALPHABET) for _ in range(_QUERY_ID_LENGTH))
            query_id = f"async-{suffix}"
            if query_id not in self._jobs:
                return query_id

    def job(self, query_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(query_id)

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def summaries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [job.summary() for job in self._jobs.values()]

    def summary(self, query_id: str) -> dict[str, Any]:
        with self._lock:
            return self._require(query_id).summary()

    def _require(self, query_id: str) -> Job:
        job = self._jobs.get(query_id)
        if job is None:
            raise JobError(f"unknown queryID {query_id!r}")
        return job

    def fetch(self, query_id: str, file_url: Callable[[int], str]) -> dict[str, Any] | None:
        """The fetch answer (N-2), or None for an unknown queryID.

        While running, answers alternate between ``{}`` (the reference) and
        ``{"isCompleted": false}`` (what the sample scripts test), so a client meets both.
        """
        with self._lock:
            job = self._jobs.get(query_id)
            if job is None:
                return None
            job.fetch_count += 1
            if job.state is JobState.FAILED:
                return {"isCompleted": True, "error": job.error}
            if job.state is not JobState.COMPLETED:
                return {} if job.fetch_count % 2 else {"isCompleted": False}
            file_count = len(job.files)
        return {"isCompleted": True, "responseFiles": [file_url(n) for n in range(file_count)]}

    def file_path(self, query_id: str, index: int) -> Path | None:
        """The finished file ``index`` of a completed job, or None."""
        with self._lock:
            job = self._jobs.get(query_id)
            if job is None or job.state is not JobState.COMPLETED:
                return None
            if not 0 <= index < len(job.files):
                return None
            return job.files[index]

    def complete(self, query_id: str, wait: bool = True, timeout: float | None = None) -> Job:
        """Complete the job now instead of after the delay; with ``wait``, until files are written."""
        with self._lock:
            job = self._require(query_id)
            if job.state is JobState.FAILED:
                raise JobError(f"{query_id} has failed; it cannot complete")
            job.deadline = time.monotonic()
            job.wake.set()
        if wait and not job.finished.wait(timeout):
            raise TimeoutError(f"{query_id} still writing after {timeout} s")
        return job

    def fail(self, query_id: str, message: str | None = None) -> Job:
        """Make the job failed: fetch answers ``{"isCompleted": true, "error": message}``."""
        with self._lock:
            job = self._require(query_id)
            job.state = JobState.FAILED
            job.error = message or DEFAULT_FAILURE_MESSAGE
            job.files = []
            job.wake.set()
        job.finished.wait(timeout=30)
        shutil.rmtree(job.directory, ignore_errors=True)
        return job

    def wait(self, query_id: str, timeout: float | None = None) -> Job:
        """Block until the job has completed or failed."""
        job = self.job(query_id)
        if job is None:
            raise JobError(f"unknown queryID {query_id!r}")
        if not job.finished.wait(timeout):
            raise TimeoutError(f"{query_id} not finished after {timeout} s")
        return job

    def _run(self, job: Job) -> None:
        try:
            self._wait_for_deadline(job)
            with self._lock:
                if job.state is not JobState.RUNNING or self._closing.is_set():
                    return
                job.state = JobState.WRITING
            self._write(job)
        finally:
            job.finished.set()

    def _wait_for_deadline(self, job: Job) -> None:
        while not self._closing.is_set():
            with self._lock:
                remaining = job.deadline - time.monotonic()
                if remaining <= 0 or job.state is not JobState.RUNNING:
                    return
                job.wake.clear()
            job.wake.wait(remaining)

    def _write(self, job: Job) -> None:
        request = job.request

        def should_stop() -> bool:
            return self._closing.is_set() or job.state is JobState.FAILED

        try:
            indices = self.dataset.window_indices(request.window_start, request.window_end)
            records: Iterable[dict[str, Any]] = (self.dataset.record(i) for i in indices)
            if request.predicate is not None:
                records = filter(request.predicate, records)
            count, files = write_export(records, request.page_size, job.directory, should_stop)
        except ExportStopped:
            return
        except Exception as error:  # a sandbox bug must surface as a failed job, not a hang
            with self._lock:
                job.state = JobState.FAILED
                job.error = f"sandbox export writer crashed: {error!r}"
                job.files = []
            return
        with self._lock:
            if job.state is JobState.WRITING:
                job.record_count = count
                job.files = files
                job.state = JobState.COMPLETED

    def file_name(self, index: int) -> str:
        return file_name(index)

    def close(self) -> None:
        """Stop the writer threads (their partial files are removed)."""
        self._closing.set()
        with self._lock:
            threads = list(self._threads)
            for job in self._jobs.values():
                job.wake.set()
        for thread in threads:
            thread.join(timeout=10)
