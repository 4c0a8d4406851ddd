"""Polling a backlog of vendor jobs inside one sensor tick: concurrently, paced, within a budget.

A tick with a thousand jobs in flight cannot ask about them one after another (a second each is
a thousand seconds; the daemon allows a tick sixty). The vendor calls go to a small pool of threads,
at most ``concurrency`` at once and, where the vendor publishes a rate limit, no faster than
``per_second``; everything the ledger records stays on the tick's own thread, in the order the
answers come back, so the ledger sees one writer as before. Jobs are taken in backlog order (least
recently polled first) and each at most once, so a backlog larger than one tick's budget is worked
off across ticks, fairly: a job is asked about again only after every other has been.
"""

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from export_pipelines.ledger import JobRecord
from export_pipelines.vendors.base import RemoteStatus

#: Vendor calls in flight at once per tick, unless the catalog says otherwise.
DEFAULT_POLL_CONCURRENCY = 8


class _OverBudget(Exception):
    """The pace would start this call after the tick's budget: leave the job for the next tick."""


class Pace:
    """At most ``per_second`` calls started per second (None: as fast as the pool goes)."""

    def __init__(self, per_second: float | None, budget_ends: float) -> None:
        self.gap = 0.0 if per_second is None else 1.0 / per_second
        self.budget_ends = budget_ends
        self.next_start = time.monotonic()
        self.lock = threading.Lock()

    def wait_turn(self) -> None:
        with self.lock:
            start = max(time.monotonic(), self.next_start)
            if start > self.budget_ends:
                raise _OverBudget
            self.next_start = start + self.gap
        time.sleep(max(0.0, start - time.monotonic()))


@dataclass(frozen=True)
class Answer:
    """One job's poll: the vendor's status, or what went wrong asking."""

    job: JobRecord
    status: RemoteStatus | None = None
    error: Exception | None = None


def poll_backlog(
    jobs: Iterable[JobRecord],
    ask: Callable[[JobRecord], RemoteStatus],
    *,
    concurrency: int,
    per_second: float | None,
    budget_ends: float,
) -> Iterator[Answer]:
    """Ask about each job once, in order, until the budget ends; yield answers as they come.

    ``ask`` runs on the pool's threads (it must only talk to the vendor); the caller consumes the
    answers on its own thread. A job whose turn would come after the budget is not asked (it
    stays first in line for the next tick); one whose call fails yields the error, not a status.
    """
    pace = Pace(per_second, budget_ends)
    backlog = iter(jobs)

    def paced(job: JobRecord) -> RemoteStatus:
        pace.wait_turn()
        return ask(job)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="poll") as pool:
        pending: dict[Future[RemoteStatus], JobRecord] = {}

        def start_next() -> None:
            if time.monotonic() > budget_ends:
                return
            job = next(backlog, None)
            if job is not None:
                pending[pool.submit(paced, job)] = job

        for _ in range(concurrency):
            start_next()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    yield Answer(job, status=future.result())
                except _OverBudget:
                    continue
                except Exception as exc:  # one job's bad answer must not end the tick
                    yield Answer(job, error=exc)
                start_next()
