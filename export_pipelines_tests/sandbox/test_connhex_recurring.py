"""Recurring Connhex requests: one job per item per ``periodicity`` from ``periodStart``, for
every run time passed on the sandbox's clock; each job's window found back from its ``startedAt``
(the C-1 rule of ``decisions.connhex``)."""

import math
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from export_pipelines.sandbox import SandboxServer
from export_pipelines.sandbox.connhex import ConnhexGenerator
from export_pipelines_tests.sandbox.connhex_helpers import (
    HOUR,
    api_client,
    body,
    complete,
    control_client,
    create,
    csv_rows,
    download,
    generator_of,
    item,
    start_server,
)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    running = start_server(queued_seconds=1200, completion_delay_seconds=0)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    with api_client(server) as client:
        yield client


@pytest.fixture
def control(server: SandboxServer) -> Iterator[httpx.Client]:
    with control_client(server) as client:
        client.delete("/exports").raise_for_status()
        yield client


@pytest.fixture
def generator(control: httpx.Client) -> ConnhexGenerator:
    return generator_of(control)


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def recurring(generator: ConnhexGenerator, period_start: int, **top: object) -> dict:
    items = [item(generator, 0, period="PT1H"), item(generator, 1, 1, period="PT2H")]
    return body(items, type="recurring", periodicity="PT1H", periodStart=period_start, **top)


def test_missed_runs_are_made_at_once_each_dated_within_its_period(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    now = control.get("/clock").json()["now"]
    period_start = int(now) - int(3.5 * HOUR)
    created = create(api, recurring(generator, period_start))
    assert created["periodStart"] == period_start
    assert [job["itemIndex"] for job in created["jobs"]] == [0, 1] * 4
    summary = complete(control, created["id"])
    for job in summary["jobs"]:
        started = epoch(job["startedAt"])
        run = period_start + math.floor((started - period_start) / HOUR) * HOUR
        assert run == job["runTime"]
        period = HOUR if job["itemIndex"] == 0 else 2 * HOUR
        assert (job["windowStart"], job["windowEnd"]) == (run - period, run)
    runs = sorted({job["runTime"] for job in summary["jobs"]})
    assert runs == [period_start + k * HOUR for k in range(4)]


def test_advancing_the_clock_makes_the_next_runs(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    now = int(control.get("/clock").json()["now"])
    created = create(api, recurring(generator, now + 60))
    assert created["jobs"] == [] and created["status"] == "notProcessed"
    assert control.post("/clock/advance", json={"seconds": 60}).status_code == 200
    first = api.get(f"/exports/{created['id']}/status").json()
    assert len(first["jobs"]) == 2
    summary = complete(control, created["id"])
    assert api.get(f"/exports/{created['id']}/status").json()["status"] == "done"
    older = summary["jobs"][1]

    control.post("/clock/advance", json={"seconds": 2 * HOUR}).raise_for_status()
    status = api.get(f"/exports/{created['id']}/status").json()
    assert len(status["jobs"]) == 6
    assert status["status"] == "notProcessed"  # the worst of done and notProcessed jobs
    refused = api.get(f"/exports/{created['id']}/download")
    assert refused.status_code == 400

    members = download(api, created["id"], older["id"])
    assert list(members) == ["export-1.csv"]
    rows = csv_rows(members["export-1.csv"])[1:]
    times = [epoch(row[4]) for row in rows]
    assert rows and older["runTime"] - 2 * HOUR <= min(times) and max(times) < older["runTime"]

    complete(control, created["id"])
    latest = download(api, created["id"])
    assert list(latest) == ["export-0.csv", "export-1.csv"]
    final = control.get(f"/exports/{created['id']}").json()["jobs"]
    assert [job["runTime"] for job in final[-2:]] == [now + 60 + 2 * HOUR] * 2


def test_a_recurring_request_keeps_running_on_the_real_clock() -> None:
    running = start_server(queued_seconds=0, completion_delay_seconds=0)
    try:
        with api_client(running) as api, control_client(running) as control:
            generator = generator_of(control)
            now = control.get("/clock").json()["now"]
            request = body(
                [item(generator, period="PT1S")],
                type="recurring",
                periodicity="PT1S",
                periodStart=int(now) + 1,
            )
            created = create(api, request)
            deadline = time.monotonic() + 60
            jobs: list[dict] = []
            while sum(job["status"] == "done" for job in jobs) < 3:
                assert time.monotonic() < deadline, jobs
                time.sleep(0.1)
                jobs = api.get(f"/exports/{created['id']}/status").json()["jobs"]
            runs = control.get(f"/exports/{created['id']}").json()["jobs"]
            assert [job["runTime"] for job in runs[:3]] == [int(now) + k for k in (1, 2, 3)]
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"periodicity": None}, "periodicity: is required"),
        ({"periodicity": "P1M"}, "periodicity: must be a fixed length"),
        ({"periodicity": "every hour"}, "periodicity: 'every hour' is not an ISO-8601 duration"),
        ({"periodStart": "soon"}, "periodStart: must be a number"),
        ({"type": "oneTime"}, "periodicity: only applies to a recurring request"),
    ],
)
def test_recurring_fields_are_validated(
    changes: dict, message: str, api: httpx.Client, generator: ConnhexGenerator
) -> None:
    request = recurring(generator, 0)
    for key, value in changes.items():
        if value is None:
            request.pop(key)
        else:
            request[key] = value
    refused = api.post("/exports", json=request)
    assert refused.status_code == 400
    assert message in refused.json()["error"]["message"]
