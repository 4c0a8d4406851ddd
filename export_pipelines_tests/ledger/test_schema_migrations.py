"""The ledger's versioned schema on SQLite and PostgreSQL: a first-release database upgraded in
place with its rows kept, a fresh one created at head, concurrent openers, a newer one refused."""

import multiprocessing
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, insert, inspect, text

from export_pipelines.ledger import (
    DeliveryOutcome,
    FileUpdate,
    JobState,
    Ledger,
    LedgerSchemaError,
    StandingState,
    schema,
)
from export_pipelines.ledger.models import Base, Delivery
from export_pipelines_tests.ledger import first_release

T0 = datetime(2024, 3, 1, 12, 0)  # naive UTC, as the first release stored it


def _engine(url: str) -> Engine:
    return create_engine(url)


def _first_release_database(url: str) -> None:
    """A ledger as the first release left it: its ``create_all``, one ingested and one running
    job, their events and files; no ``alembic_version``."""
    engine = _engine(url)
    first_release.FirstReleaseBase.metadata.create_all(engine)
    jobs = first_release.ExportJob.__table__
    common: dict[str, Any] = dict(
        vendor="enterpret",
        export="feedback_daily",
        partitioned=True,
        window_start=T0,
        window_end=T0.replace(day=2),
        fingerprint="a" * 64,
        request_body={"pageSize": 100, "filters": ["x"]},
        window_fixed=True,
        attempt=1,
        created_at=T0,
        updated_at=T0,
        submitted_by_run="run-old",
    )
    with engine.begin() as conn:
        for row in (
            dict(
                common,
                id=1,
                partition_key="2024-03-01",
                active_key="enterpret/feedback_daily/2024-03-01/" + "a" * 64,
                vendor_job_id="async-1",
                state="ingested",
                polls=3,
                submitted_at=T0,
                completed_at=T0,
                ingested_at=T0,
                rows=42,
                bytes=1234,
                vendor_rows=42,
            ),
            dict(
                common,
                id=2,
                partition_key="2024-03-02",
                active_key="enterpret/feedback_daily/2024-03-02/" + "a" * 64,
                vendor_job_id="async-2",
                state="running",
                polls=1,
                submitted_at=T0,
            ),
        ):
            conn.execute(insert(jobs), [row])
        conn.execute(
            insert(first_release.JobEvent.__table__),
            [
                dict(job_id=1, at=T0, state="submitting", detail="run-old"),
                dict(job_id=1, at=T0, state="running", detail="vendor job async-1"),
                dict(job_id=1, at=T0, state="ingested", detail="42 rows"),
                dict(job_id=2, at=T0, state="submitting", detail="run-old"),
            ],
        )
        conn.execute(
            insert(first_release.JobFile.__table__),
            [
                dict(job_id=1, index=i, name=f"part-{i}.json.gz", url=f"https://x/{i}", rows=21)
                for i in range(2)
            ],
        )
    engine.dispose()


def _revision(url: str) -> str | None:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return schema.current_revision(conn)
    finally:
        engine.dispose()


def _schema_drift(url: str) -> list[Any]:
    """What differs between the database's schema and today's models (empty when equal)."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()


def test_a_fresh_ledger_is_created_at_head_with_the_models_schema(ledger_url: str) -> None:
    Ledger(ledger_url)
    assert _revision(ledger_url) == schema.head()
    assert _schema_drift(ledger_url) == []


def test_a_first_release_ledger_is_upgraded_in_place_and_keeps_its_rows(ledger_url: str) -> None:
    _first_release_database(ledger_url)
    assert _revision(ledger_url) is None
    assert {d[0] for d in _schema_drift(ledger_url)} >= {"add_table", "add_column", "add_index"}

    ledger = Ledger(ledger_url)

    assert _revision(ledger_url) == schema.head()
    assert _schema_drift(ledger_url) == []
    done, running = ledger.jobs()
    assert (done.id, done.state, done.vendor_job_id, done.rows, done.polls) == (
        1,
        JobState.INGESTED,
        "async-1",
        42,
        3,
    )
    assert done.request_body == {"pageSize": 100, "filters": ["x"]}
    assert done.window_start == T0.replace(tzinfo=UTC)
    assert [(f.name, f.rows) for f in done.files] == [
        ("part-0.json.gz", 21),
        ("part-1.json.gz", 21),
    ]
    assert [state for _, state, _ in done.history] == ["submitting", "running", "ingested"]
    assert (done.submit_outcome, done.progress, done.superseded_by, done.ingest_attempt) == (
        None,
        None,
        None,
        0,
    )
    assert (running.state, running.vendor_job_id) == (JobState.RUNNING, "async-2")

    # The upgraded ledger works as a new one: the old running job is adopted, polled, delivered.
    adopted, must_submit = ledger.claim(
        vendor="enterpret",
        export="feedback_daily",
        partition_key="2024-03-02",
        partitioned=True,
        window=(T0.replace(day=2, tzinfo=UTC), T0.replace(day=3, tzinfo=UTC)),
        fingerprint="a" * 64,
        body={},
        window_fixed=True,
        run_id="run-new",
    )
    assert (adopted.id, must_submit) == (2, False)
    ledger.record_poll(2, (1, 2))
    assert ledger.get(2).progress == (1, 2)
    delivered = ledger.record_delivery(
        2, digest="d" * 64, files=[FileUpdate("p.json", "https://x/p", None)], vendor_rows=7
    )
    assert delivered is DeliveryOutcome.COMPLETED
    assert ledger.submitted_job("enterpret", "async-2") == ledger.get(2)
    assert ledger.get(2).state is JobState.COMPLETED


def test_a_first_release_ledger_that_later_code_half_upgraded_is_completed(
    ledger_url: str,
) -> None:
    """Before Alembic, ``create_all`` on open added the deliveries table to an old ledger but
    none of the new columns; such a ledger is upgraded like any other first-release one."""
    _first_release_database(ledger_url)
    engine = _engine(ledger_url)
    Delivery.__table__.create(engine)  # type: ignore[attr-defined]
    engine.dispose()

    ledger = Ledger(ledger_url)

    assert _revision(ledger_url) == schema.head()
    assert _schema_drift(ledger_url) == []
    assert [j.id for j in ledger.jobs()] == [1, 2]


def _open_at_once(url: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    engine = create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
    try:
        results.put(schema.upgrade(engine))
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()


def test_openers_starting_at_once_upgrade_the_ledger_once(ledger_url: str) -> None:
    _first_release_database(ledger_url)
    openers = 4
    fork = multiprocessing.get_context("fork")
    barrier, results = fork.Barrier(openers), fork.Queue()
    processes = [
        fork.Process(target=_open_at_once, args=(ledger_url, barrier, results))
        for _ in range(openers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)

    assert sorted(results.get(timeout=5) for _ in processes) == [schema.head()] * openers
    assert _schema_drift(ledger_url) == []
    engine = _engine(ledger_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM export_jobs")).scalar() == 2
    engine.dispose()


def test_a_ledger_newer_than_the_code_is_refused_and_left_alone(ledger_url: str) -> None:
    engine = _engine(ledger_url)
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        conn.execute(text("CREATE TABLE from_the_future (id INTEGER)"))
    engine.dispose()

    with pytest.raises(LedgerSchemaError) as refused:
        Ledger(ledger_url)

    message = str(refused.value)
    assert "schema revision '0099'" in message
    assert f"knows up to {schema.head()!r}" in message
    assert "newer release" in message
    assert _revision(ledger_url) == "0099"
    engine = _engine(ledger_url)
    assert "from_the_future" in inspect(engine).get_table_names()
    engine.dispose()


def _migrate(url: str, action: Any, revision: str) -> None:
    """Run one Alembic command on the ledger at ``url`` as the code's migrations define it."""
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(schema.MIGRATIONS))
            config.attributes["connection"] = conn
            action(config, revision)
    finally:
        engine.dispose()


def _at_first_release_then(url: str, revision: str) -> None:
    """A first release's ledger, upgraded to ``revision`` (just before the one under test)."""
    _first_release_database(url)
    _migrate(url, command.stamp, schema.FIRST_RELEASE)
    _migrate(url, command.upgrade, revision)


def _columns(url: str) -> set[str]:
    engine = _engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns("export_jobs")}
    finally:
        engine.dispose()


def _down_to(url: str, revision: str) -> int:
    """Downgrade to ``revision``; how many jobs the ledger still holds."""
    _migrate(url, command.downgrade, revision)
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM export_jobs")).scalar_one())
    finally:
        engine.dispose()


def test_a_ledger_at_0003_gains_the_standing_requests_table_and_keeps_its_jobs(
    ledger_url: str,
) -> None:
    _at_first_release_then(ledger_url, "0003")
    engine = _engine(ledger_url)
    assert "standing_requests" not in inspect(engine).get_table_names()
    engine.dispose()

    ledger = Ledger(ledger_url)

    assert _revision(ledger_url) == schema.head()
    assert _schema_drift(ledger_url) == []
    assert [(j.id, j.state) for j in ledger.jobs()] == [
        (1, JobState.INGESTED),
        (2, JobState.RUNNING),
    ]
    claim = dict(
        vendor="connhex", export="points", fingerprint="b" * 64, body={"type": "recurring"}
    )
    record, mine = ledger.claim_standing(**claim, run_id="run-a")  # type: ignore[arg-type]
    assert mine and record.state is StandingState.CREATING
    again, mine = ledger.claim_standing(**claim, run_id="run-b")  # type: ignore[arg-type]
    assert (again.id, mine) == (record.id, False)
    assert ledger.standing_created(record.id, "req-1").vendor_request_id == "req-1"

    # Down again: the table goes, the jobs stay.
    assert _down_to(ledger_url, "0003") == 2
    engine = _engine(ledger_url)
    assert "standing_requests" not in inspect(engine).get_table_names()
    engine.dispose()


def test_a_ledger_at_0004_gains_sub_window_parents_and_keeps_its_jobs(ledger_url: str) -> None:
    _at_first_release_then(ledger_url, "0004")
    assert "parent_id" not in _columns(ledger_url)

    ledger = Ledger(ledger_url)

    assert _revision(ledger_url) == schema.head()
    assert _schema_drift(ledger_url) == []
    assert [(j.id, j.state, j.parent_id) for j in ledger.jobs()] == [
        (1, JobState.INGESTED, None),
        (2, JobState.RUNNING, None),
    ]
    # A too-large job split: its halves name it as parent, and stand for its window.
    ledger.mark_failed(2, "the vendor reported failure: record-limit-exceeded")
    split = ledger.mark_split(2, "split into halves")
    assert split.state is JobState.SPLIT
    halves = []
    for index, (start, end) in enumerate(((0, 12), (12, 24))):
        half, mine = ledger.claim(
            vendor="enterpret",
            export="feedback_daily",
            partition_key="2024-03-02",
            partitioned=True,
            window=(
                datetime(2024, 3, 2, start % 24, tzinfo=UTC),
                datetime(2024, 3, 2 + end // 24, end % 24, tzinfo=UTC),
            ),
            fingerprint=str(index) * 64,
            body={"half": index},
            window_fixed=True,
            run_id="run-split",
            parent_id=2,
        )
        assert mine and half.parent_id == 2
        halves.append(half.id)
    assert [j.id for j in ledger.leaves(ledger.get(2))] == halves
    assert ledger.root_of(ledger.get(halves[1])).id == 2
    assert ledger.depth(ledger.get(halves[0])) == 1

    # Down again: the column goes, the jobs stay.
    assert _down_to(ledger_url, "0004") == 4
    assert "parent_id" not in _columns(ledger_url)


def test_a_ledger_at_0005_gains_deferred_submits_and_keeps_its_jobs(ledger_url: str) -> None:
    _at_first_release_then(ledger_url, "0005")
    assert "not_before" not in _columns(ledger_url)

    ledger = Ledger(ledger_url)

    assert _revision(ledger_url) == schema.head() == "0006"
    assert _schema_drift(ledger_url) == []
    assert [(j.id, j.state, j.not_before) for j in ledger.jobs()] == [
        (1, JobState.INGESTED, None),
        (2, JobState.RUNNING, None),
    ]
    # A submit refused until the vendor's quota resets: deferred, due once the reset has come.
    job, mine = ledger.claim(
        vendor="enterpret",
        export="feedback_daily",
        partition_key="2024-03-03",
        partitioned=True,
        window=(datetime(2024, 3, 3, tzinfo=UTC), datetime(2024, 3, 4, tzinfo=UTC)),
        fingerprint="c" * 64,
        body={"pageSize": 100},
        window_fixed=True,
        run_id="run-deferred",
    )
    assert mine
    resets = datetime(2024, 3, 3, 14, tzinfo=UTC)
    deferred = ledger.mark_deferred(job.id, resets, "HTTP 429: quota spent")
    assert (deferred.state, deferred.not_before, deferred.deferrals) == (
        JobState.DEFERRED,
        resets,
        1,
    )
    before = resets.replace(hour=12)
    assert ledger.quota_spent_until("enterpret", before) == resets
    assert ledger.due_deferred("enterpret", before) == []
    assert [j.id for j in ledger.due_deferred("enterpret", resets)] == [job.id]
    assert ledger.quota_spent_until("enterpret", resets) is None

    # Down again: the column goes, the jobs stay.
    assert _down_to(ledger_url, "0005") == 3
    assert "not_before" not in _columns(ledger_url)
