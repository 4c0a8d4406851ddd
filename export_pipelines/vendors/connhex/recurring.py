"""Which window a job of a recurring Connhex request covers, and a partition's share of one.

A recurring request runs at ``periodStart + k * periodicity`` and each run makes one job per item
(DECISIONS C-1, C-4, written out in ``decisions/connhex.py``). A job says only when it started,
at or after its run time and before the next one, so its run time is ``periodStart`` plus the whole
periodicities elapsed until ``startedAt``, and its window the item's ``period`` ending there
(C-3: ``[run time - period, run time)``). Computed on Unix seconds: ``periodicity`` is a fixed
length (no months or years), so no calendar enters.

The pipeline feeds a partitioned export from one such request (``pipeline.standing``) and names a
partition's share of it ``<request id>@<window start>``; :func:`slot_status` answers for that
share from ``GET /exports/{id}``: the jobs, one per item, whose window starts there. A run not made
yet, or a job not started yet (``startedAt`` is empty until it is, so its window is unknown), is
still running, never failed; the share is done when every item's job is, each job's file being
``download?jobId=``'s ZIP.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from export_pipelines.transport import VendorError
from export_pipelines.vendors.base import RemoteFile, RemoteState, RemoteStatus, Window
from export_pipelines.vendors.connhex.request import exact_duration

VENDOR = "connhex"


@dataclass(frozen=True)
class Job:
    """One job of a request as ``GET /exports/{id}`` lists it (C-1)."""

    id: str
    item_index: int
    status: str
    started_at: datetime | None


def _moment(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise VendorError(VENDOR, f"{where}: {str(value)[:60]!r} is not a time")


def parse_jobs(export_id: str, answer: Any) -> list[Job]:
    jobs = answer.get("jobs") if isinstance(answer, dict) else None
    if not isinstance(jobs, list):
        raise VendorError(VENDOR, f"export {export_id} has no list of jobs")
    parsed = []
    for job in jobs:
        if not isinstance(job, dict) or not isinstance(job.get("id"), str | int):
            raise VendorError(VENDOR, f"export {export_id} lists a job without an id")
        where = f"export {export_id} job {job['id']} startedAt"
        parsed.append(
            Job(
                id=str(job["id"]),
                item_index=int(job.get("itemIndex") or 0),
                status=str(job.get("status")),
                started_at=_moment(job.get("startedAt"), where),
            )
        )
    return parsed


def run_time(started_at: datetime, period_start: int, periodicity: timedelta) -> datetime:
    """The run a job started in: ``periodStart + floor((startedAt - periodStart) / periodicity)``."""
    step = int(periodicity.total_seconds())
    elapsed = int(started_at.timestamp()) - period_start
    if elapsed < 0:
        raise ValueError(f"a job started at {started_at.isoformat()}, before periodStart")
    return datetime.fromtimestamp(period_start + (elapsed // step) * step, UTC)


def job_window(
    started_at: datetime, period_start: int, periodicity: timedelta, period: timedelta
) -> Window:
    """The window ``[run time - period, run time)`` of the job that started at ``started_at``."""
    end = run_time(started_at, period_start, periodicity)
    return Window(end - period, end)


def _duration(export_id: str, value: Any, where: str) -> timedelta:
    if not isinstance(value, str):
        raise VendorError(VENDOR, f"recurring export {export_id} has no {where}")
    try:
        return exact_duration(value, where)
    except ValueError as exc:
        raise VendorError(VENDOR, f"recurring export {export_id}: {exc}") from None


def slot_status(
    export_id: str,
    window_start: datetime,
    answer: Any,
    url_for: Callable[[str], str],
    zip_name: Callable[[int, int], str],
) -> RemoteStatus:
    """The share of recurring request ``export_id`` whose window starts at ``window_start``, from
    ``GET /exports/{id}``'s ``answer``: running until every item's job of that window is done,
    failed (naming the job) when one failed or expired. ``url_for(job id)`` is the job's
    download, ``zip_name(item index, items)`` its local file name."""
    if not isinstance(answer, dict) or answer.get("type") != "recurring":
        raise VendorError(VENDOR, f"export {export_id} is not a recurring request")
    items = answer.get("items")
    if not isinstance(items, list) or not items:
        raise VendorError(VENDOR, f"recurring export {export_id} has no items")
    period_start = answer.get("periodStart")
    if not isinstance(period_start, int | float) or isinstance(period_start, bool):
        raise VendorError(VENDOR, f"recurring export {export_id} has no periodStart")
    periodicity = _duration(export_id, answer.get("periodicity"), "periodicity")
    periods = [
        _duration(export_id, (i.get("params") or {}).get("period"), f"items[{n}].params.period")
        for n, i in enumerate(items)
        if isinstance(i, dict)
    ]
    if len(periods) != len(items):
        raise VendorError(VENDOR, f"recurring export {export_id} lists an item that is no object")
    jobs: dict[int, Job] = {}
    for job in parse_jobs(export_id, answer):
        if job.started_at is None or not 0 <= job.item_index < len(items):
            continue
        try:
            window = job_window(
                job.started_at, int(period_start), periodicity, periods[job.item_index]
            )
        except ValueError as exc:
            raise VendorError(VENDOR, f"export {export_id} job {job.id}: {exc}") from None
        if window.start == window_start:
            jobs[job.item_index] = job
    done = [job for job in jobs.values() if job.status == "done"]
    progress = (len(done), len(items))
    detail = {
        "status": answer.get("status"),
        "window_start": window_start.isoformat(),
        "jobs": {str(i): jobs[i].id for i in sorted(jobs)},
    }
    bad = [job for job in jobs.values() if job.status in ("failed", "expired")]
    if bad:
        shown = ", ".join(
            f"job {j.id} (item {j.item_index}) {j.status}"
            + (
                ": its files expired and were deleted by the vendor"
                if j.status == "expired"
                else ""
            )
            for j in sorted(bad, key=lambda j: j.item_index)
        )
        return RemoteStatus(
            RemoteState.FAILED,
            error=f"recurring export {export_id}, the run whose window starts "
            f"{window_start.isoformat()}: {shown}",
            detail=detail,
            progress=progress,
        )
    if len(done) < len(items):
        return RemoteStatus(RemoteState.RUNNING, detail=detail, progress=progress)
    files = tuple(
        RemoteFile(url=url_for(jobs[i].id), name=zip_name(i, len(items))) for i in sorted(jobs)
    )
    return RemoteStatus(RemoteState.COMPLETED, files=files, detail=detail, progress=progress)
