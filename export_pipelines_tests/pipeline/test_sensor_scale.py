"""The status sensor at scale (issue 14): a thousand jobs in flight polled inside one tick's budget,
concurrently and no more than the pool allows at once, and a backlog larger than a tick worked off
across ticks fairly, nothing polled twice before everything was polled once.

Every fetch is held by the sandbox (a ``delay_seconds`` fault on Enterpret's fetch route), so one
poll after another could not fit the budget: all of them fitting shows they ran side by side; the
sandbox's count of fetches it held shows each job was asked exactly once.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, insert, select

from export_pipelines.ledger import Ledger
from export_pipelines.ledger.models import ExportJob
from export_pipelines.pipeline.sensor import build_status_sensor
from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.test_status_sensor import _tick

BODY = {
    "listRecords": {"timerange": {"startTime": 1709251200, "endTime": 1709337600}},
    "pageSize": 50,
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Jobs stay in progress: every poll answers "running"."""
    config = SandboxConfig(port=0, enterpret=EnterpretSandboxConfig(completion_delay_seconds=3600))
    with SandboxServer(config) as server:
        yield server


def _in_flight(project: Project, ledger: Ledger, count: int) -> list[int]:
    """``count`` submitted jobs (claimed in the ledger, each a real sandbox export)."""
    ids = []
    for n in range(count):
        job, _ = ledger.claim(
            vendor="enterpret",
            export="feedback_daily",
            partition_key=f"p{n:05d}",
            partitioned=True,
            window=(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)),
            fingerprint=f"{n:064d}",
            body=BODY,
            window_fixed=True,
            run_id=None,
        )
        ledger.mark_submitted(job.id, project.sandbox.enterpret.submit(BODY).query_id)
        ids.append(job.id)
    return ids


@pytest.mark.slow
def test_a_thousand_jobs_in_flight_are_polled_once_each_inside_one_tick(project: Project) -> None:
    ledger = project.ledger()
    job_ids = _in_flight(project, ledger, 1000)
    # 0.25 s a fetch: 250 s one after another, far past the 50 s budget; 32 at once: about 8 s.
    held = project.sandbox.add_fault("enterpret", "fetch", delay_seconds=0.25, times=10_000)
    sensor = build_status_sensor("enterpret", time_budget_seconds=50.0, poll_concurrency=32)

    result = _tick(project, sensor)

    assert "polled 1000 of 1000 in-flight enterpret job(s)" in (result.skip_message or "")
    assert [ledger.get(j).polls for j in job_ids] == [1] * 1000
    [left] = project.sandbox.faults.list()
    assert left.id == held.id and left.fired == 1000  # the sandbox was asked 1,000 times


@pytest.mark.slow
def test_a_backlog_larger_than_a_tick_is_worked_off_fairly(project: Project) -> None:
    ledger = project.ledger()
    job_ids = _in_flight(project, ledger, 120)
    project.sandbox.add_fault("enterpret", "fetch", delay_seconds=0.2, times=10_000)
    # About 2 s a tick at 4 polls at once: some 40 jobs a tick, never all 120.
    sensor = build_status_sensor("enterpret", time_budget_seconds=2.0, poll_concurrency=4)

    rounds: list[set[int]] = []
    seen: set[int] = set()
    while len(seen) < len(job_ids):
        before = {j: ledger.get(j).polls for j in job_ids}
        _tick(project, sensor)
        after = {j: ledger.get(j).polls for j in job_ids}
        polled = {j for j in job_ids if after[j] > before[j]}
        assert polled, "a tick polled nothing"
        assert all(after[j] - before[j] == 1 for j in polled)  # nothing twice in a tick
        again = polled & seen
        # A tick that finishes the backlog may go on from its start (the first round's jobs),
        # never before every job was polled once.
        assert not again or seen | polled == set(job_ids), "polled again before all were polled"
        assert not again or again <= rounds[0], "the wrap-around did not start from the oldest"
        seen |= polled
        rounds.append(polled)
    assert len(rounds) > 1
    # The next tick goes on with the jobs polled fewest times (least recently), none of the others.
    before = {j: ledger.get(j).polls for j in job_ids}
    _tick(project, sensor)
    polled = {j for j in job_ids if ledger.get(j).polls > before[j]}
    assert polled and {before[j] for j in polled} == {min(before.values())}


def _backlog_of(ledger: Ledger, count: int, query_ids: list[str]) -> dict[int, str]:
    """``count`` running jobs written to the ledger in one transaction (as ten thousand submits
    would leave them), each polling one of ``query_ids`` in turn: the vendor's jobs are real,
    ten thousand of them are not needed to see which ledger jobs a tick asks about. Each job's
    vendor job id, by ledger job."""
    at, now = datetime(2024, 3, 1, tzinfo=UTC), datetime.now(UTC)  # submitted now: no deadline
    rows = [
        dict(
            vendor="enterpret",
            export="feedback_daily",
            partition_key=f"b{n:05d}",
            partitioned=True,
            window_start=at,
            window_end=at,
            fingerprint="b" * 64,
            request_body=BODY,
            window_fixed=True,
            active_key=f"enterpret/feedback_daily/b{n:05d}/{'b' * 64}",
            vendor_job_id=query_ids[n % len(query_ids)],
            state="running",
            attempt=1,
            polls=0,
            created_at=now,
            submitted_at=now,
            updated_at=now,
            submit_outcome="created",
        )
        for n in range(count)
    ]
    engine = create_engine(ledger.url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(ExportJob.__table__), rows)  # type: ignore[arg-type]
    finally:
        engine.dispose()
    return {job.id: job.vendor_job_id or "" for job in ledger.in_flight("enterpret")}


def _polls(ledger: Ledger) -> dict[int, int]:
    """Every job's poll count, in one query (ten thousand ``get`` calls would be the test's
    slowest part)."""
    engine = create_engine(ledger.url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(select(ExportJob.id, ExportJob.polls)).tuples().all())
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_backlog_of_ten_thousand_is_read_a_tick_at_a_time_least_recently_polled_first(
    project: Project,
) -> None:
    """Ten thousand jobs in flight: each tick reads and polls at most ``max_polls_per_tick`` of
    them, the least recently polled, none twice, none a tick before polled again before every
    other was; a job whose poll fails (the vendor does not know it) is asked once and goes to the
    back of the line rather than being first again every tick."""
    ledger = project.ledger()
    real = [project.sandbox.enterpret.submit(BODY).query_id for _ in range(19)]
    unknown = ["not-a-query-id"]
    polling = _backlog_of(ledger, 10_000, unknown + real)
    job_ids = list(polling)
    assert len(job_ids) == 10_000
    failing = {j for j, query_id in polling.items() if query_id in unknown}
    assert len(failing) == 500
    per_tick = 1_000
    sensor = build_status_sensor(
        "enterpret", time_budget_seconds=50.0, poll_concurrency=8, max_polls_per_tick=per_tick
    )

    order = sorted(job_ids)  # never polled: oldest first by id
    for tick in range(3):
        before = _polls(ledger)
        result = _tick(project, sensor)
        after = _polls(ledger)
        asked = [j for j in job_ids if after[j] > before[j]]
        assert len(asked) == per_tick, (tick, len(asked))
        assert all(after[j] == 1 for j in asked)  # once each, never twice
        assert sorted(asked) == order[tick * per_tick : (tick + 1) * per_tick]
        broken = len(failing & set(asked))
        assert broken == per_tick // 20  # one poll in 20 is of a job the vendor does not know
        message = result.skip_message or ""
        assert f"polled {per_tick - broken} of 10000 in-flight enterpret job(s)" in message
        assert f"{broken} failed to poll" in message
    # The failing jobs asked so far are behind every job not yet asked.
    assert [j.id for j in ledger.in_flight("enterpret", limit=per_tick)] == order[3000:4000]
