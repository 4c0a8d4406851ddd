"""Which window a job of a recurring Connhex request covers (the vendor's docs are silent).

A recurring request runs at ``periodStart + k * periodicity`` and each run makes one job per item
(DECISIONS C-1, C-4, written out in ``decisions/connhex.py``). A job says only when it started,
at or after its run time and before the next one, so its run time is ``periodStart`` plus the whole
periodicities elapsed until ``startedAt``, and its window the item's ``period`` ending there
(C-3: ``[run time - period, run time)``). Computed on Unix seconds: ``periodicity`` is a fixed
length (no months or years), so no calendar enters.

This is what a pipeline needs to land each job in the partition its window belongs to; the
pipeline's side (one standing vendor request feeding many partitions) is not built yet, so the
catalog refuses ``type: recurring`` for now (see the adapter).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from export_pipelines.transport import VendorError
from export_pipelines.vendors.base import Window

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
