"""``python -m export_pipelines_tests.bench.ledger``: the ledger's bookkeeping as history grows.

A status sensor's tick and the webhook receiver ask the ledger the same few things whatever its
size: the backlog to poll (``in_flight``), finished jobs to launch or recover (``awaiting_ingest``,
``awaiting_launch``), a callback's job by the vendor's id (``submitted_job``), and one write per
poll (``record_poll``). With 1,000, 10,000 and 100,000 jobs in the ledger (the in-flight backlog
held at the same size, everything else finished history with its events and files), on SQLite and
on PostgreSQL, this times each of them; the receiver's lookup also without its index (revision
0003), to show what the index buys. Results go to ``docs/benchmarks-ledger.md``.

Knobs: ``BENCH_LEDGER_SIZES`` (comma-separated job counts), ``BENCH_LEDGER_IN_FLIGHT`` (running
jobs per vendor), ``BENCH_LEDGER_BACKENDS`` (``sqlite,postgres``).
"""

import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

from export_pipelines.ledger import Ledger
from export_pipelines.ledger.models import ExportJob, JobEvent, JobFile

SIZES = [int(n) for n in os.environ.get("BENCH_LEDGER_SIZES", "1000,10000,100000").split(",")]
IN_FLIGHT = int(os.environ.get("BENCH_LEDGER_IN_FLIGHT", "250"))
BACKENDS = os.environ.get("BENCH_LEDGER_BACKENDS", "sqlite,postgres").split(",")
VENDORS = ("enterpret", "hienergy")
UPDATES = 1_000
LOOKUPS = 200
REPEAT = 5
ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "benchmarks-ledger.md"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-ledger-") as directory:
            yield f"sqlite:///{Path(directory) / 'ledger.sqlite'}"
    else:
        from export_pipelines_tests.services import postgres_schema

        with postgres_schema() as url:
            yield url


def _seed(url: str, size: int, in_flight: int = IN_FLIGHT) -> None:
    """``size`` jobs across two vendors: ``in_flight`` running per vendor, a few completed
    awaiting their run, the rest ingested, each with three events and one file (what a real job
    leaves)."""
    Ledger(url)  # the schema at head
    engine = create_engine(url)
    running = in_flight * len(VENDORS)
    jobs, events, files = [], [], []
    for n in range(1, size + 1):
        vendor = VENDORS[n % len(VENDORS)]
        state = "running" if n <= running else "completed" if n <= running + 10 else "ingested"
        at = T0 + timedelta(minutes=n)
        jobs.append(
            dict(
                id=n,
                vendor=vendor,
                export="feedback_daily",
                partition_key=f"p{n:07d}",
                partitioned=True,
                window_start=at,
                window_end=at,
                fingerprint="f" * 64,
                request_body={"pageSize": 100},
                window_fixed=True,
                active_key=f"{vendor}/feedback_daily/p{n:07d}/{'f' * 64}",
                vendor_job_id=f"job-{n}",
                state=state,
                attempt=1,
                polls=n % 7,
                created_at=at,
                submitted_at=at,
                updated_at=at,
                last_polled_at=at if n % 3 else None,
                submit_outcome="created",
                ingest_attempt=0 if state != "ingested" else 1,
            )
        )
        events += [dict(job_id=n, at=at, state=s, detail=None) for s in ("submitting", "running")]
        if state != "running":
            events.append(dict(job_id=n, at=at, state=state, detail=None))
            files.append(dict(job_id=n, index=0, name="part-0.json", url="https://x/0"))
    with engine.begin() as conn:
        for table, rows in ((ExportJob, jobs), (JobEvent, events), (JobFile, files)):
            for start in range(0, len(rows), 20_000):
                conn.execute(insert(table.__table__), rows[start : start + 20_000])  # type: ignore[attr-defined]
        if engine.dialect.name == "postgresql":
            for table in ("export_jobs", "export_job_events", "export_job_files"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            conn.execute(text("ANALYZE"))
    engine.dispose()


def _median_ms(action: Callable[[], Any], repeat: int = REPEAT) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _measure(url: str, size: int) -> dict[str, float]:
    ledger = Ledger(url)
    rng = random.Random(size)
    ids = [rng.randint(1, size) for _ in range(UPDATES)]
    lookups = [f"job-{rng.randint(1, size)}" for _ in range(LOOKUPS)]

    def backlog() -> None:
        assert len(ledger.in_flight("enterpret")) == IN_FLIGHT

    def recovery() -> None:
        ledger.awaiting_ingest("enterpret")
        ledger.awaiting_launch("enterpret")

    def receiver() -> None:
        for vendor_job_id in lookups:
            ledger.submitted_job(VENDORS[int(vendor_job_id[4:]) % 2], vendor_job_id)

    def polls() -> None:
        for job_id in ids:
            ledger.record_poll(job_id)

    def batched_polls() -> None:
        ledger.record_polls([(job_id, None) for job_id in ids])

    results = {
        "backlog_ms": _median_ms(backlog),
        "recovery_ms": _median_ms(recovery),
        "lookups_ms": _median_ms(receiver, 3),
        "updates_ms": _median_ms(polls, 1),
        "batched_updates_ms": _median_ms(batched_polls, 3),
    }
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_export_jobs_vendor_job"))
    results["lookups_unindexed_ms"] = _median_ms(receiver, 1)
    with engine.begin() as conn:
        conn.execute(
            text("CREATE INDEX ix_export_jobs_vendor_job ON export_jobs (vendor, vendor_job_id)")
        )
    engine.dispose()
    return results


#: The large backlog: running jobs per vendor, and what a status tick reads of it
#: (``pipeline.sensor.MAX_POLLS_PER_TICK``).
LARGE_BACKLOG = int(os.environ.get("BENCH_LEDGER_LARGE_BACKLOG", "10000"))
TICK_READS = 1000


def _large_backlog(url: str) -> dict[str, float]:
    """A backlog of LARGE_BACKLOG running jobs per vendor: what a tick reads of it (the first
    TICK_READS, least recently polled) against reading it all, as ticks did before."""
    _seed(url, 2 * LARGE_BACKLOG + 1000, in_flight=LARGE_BACKLOG)
    ledger = Ledger(url)

    def tick_read() -> None:
        assert len(ledger.in_flight("enterpret", limit=TICK_READS)) == TICK_READS
        ledger.count_in_flight("enterpret")

    def whole() -> None:
        assert len(ledger.in_flight("enterpret")) == LARGE_BACKLOG

    return {"tick_ms": _median_ms(tick_read, 3), "whole_ms": _median_ms(whole, 3)}


def _row(backend: str, size: int, r: dict[str, float]) -> str:
    per_lookup = r["lookups_ms"] / LOOKUPS
    per_unindexed = r["lookups_unindexed_ms"] / LOOKUPS
    return (
        f"| {backend} | {size:,} | {r['backlog_ms']:.0f} | {r['recovery_ms']:.1f} "
        f"| {r['updates_ms']:.0f} | {r['batched_updates_ms']:.0f} "
        f"| {per_lookup:.2f} | {per_unindexed:.2f} |"
    )


def main() -> None:
    load = os.getloadavg()[0]  # how busy the machine was: the rows' one context
    rows = []
    for backend in BACKENDS:
        for size in SIZES:
            with _database(backend) as url:
                started = time.perf_counter()
                _seed(url, size)
                seeded = time.perf_counter() - started
                results = _measure(url, size)
                rows.append(_row(backend, size, results))
                print(f"{backend} {size:>7} jobs (seeded in {seeded:.1f}s): {results}", flush=True)
    large = []
    for backend in BACKENDS:
        with _database(backend) as url:
            measured = _large_backlog(url)
            print(f"{backend} backlog of {LARGE_BACKLOG}: {measured}", flush=True)
            large.append(
                f"| {backend} | {LARGE_BACKLOG:,} | {measured['tick_ms']:.0f} "
                f"| {measured['whole_ms']:.0f} |"
            )
    header = [
        "# Ledger benchmarks",
        "",
        f"`python -m export_pipelines_tests.bench.ledger`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load:.1f} when it started (compare rows, not "
        "machines).",
        "",
        f"Each ledger holds the given number of jobs over two vendors: {IN_FLIGHT} running per "
        "vendor (the backlog a tick polls, the same at every size), 10 completed awaiting their "
        "run, the rest ingested history, each job with its events and a file. Times in "
        "milliseconds, medians of repeated runs:",
        "",
        f"- **backlog**: `in_flight(vendor)`, the status sensor's selection of the jobs due for "
        f"a tick ({IN_FLIGHT} jobs with their history);",
        "- **recovery**: `awaiting_ingest` + `awaiting_launch`, the tick's search for finished "
        "jobs to launch or relaunch;",
        f"- **{UPDATES:,} status updates**: `record_poll` on random jobs, one transaction each "
        "(what each poll of a tick wrote before the sensor batched them), and the same as one "
        "`record_polls` batch (one transaction per 200 polls is what the sensor writes);",
        f"- **receiver lookup**: `submitted_job(vendor, vendor_job_id)` per webhook callback, "
        f"mean of {LOOKUPS}, with the index of revision 0003 and with it dropped.",
        "",
        "| backend | jobs | backlog | recovery | 1,000 updates, one by one | 1,000 updates, "
        "batched | receiver lookup | lookup without index |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"A backlog of {LARGE_BACKLOG:,} running jobs per vendor: what a status tick reads of it "
        f"(`in_flight(vendor, limit={TICK_READS})`, the least recently polled, and "
        "`count_in_flight` for its report) against the whole backlog with its history, as "
        "every tick read it before. Milliseconds, medians of 3:",
        "",
        "| backend | in flight | a tick's read | the whole backlog |",
        "|---|---:|---:|---:|",
        *large,
        "",
    ]
    RESULTS.write_text("\n".join(header))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
