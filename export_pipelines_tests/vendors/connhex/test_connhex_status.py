"""Reading Connhex's answers: the status of a request's jobs, its error bodies, a listed twin."""

from datetime import UTC, datetime

import pytest

from export_pipelines.transport import VendorError
from export_pipelines.vendors.base import RemoteState, RemoteStatus
from export_pipelines.vendors.connhex.client import (
    ConnhexClient,
    covers,
    describe_error,
    parse_status,
)
from export_pipelines.vendors.connhex.recurring import slot_status

URL = "https://apis.example.com/exports/r1/download"


def _jobs(*statuses: str) -> list[dict[str, object]]:
    return [{"id": f"j{i}", "itemIndex": i, "status": s} for i, s in enumerate(statuses)]


def test_done_is_completed_with_the_zip_and_progress_counts_jobs() -> None:
    status = parse_status("r1", {"status": "done", "jobs": _jobs("done", "done")}, URL)
    assert status.state is RemoteState.COMPLETED
    assert [(f.url, f.name) for f in status.files] == [(URL, "export.zip")]
    assert status.progress == (2, 2)
    running = parse_status("r1", {"status": "inProgress", "jobs": _jobs("done", "inProgress")}, URL)
    assert (running.state, running.progress) == (RemoteState.RUNNING, (1, 2))
    queued = parse_status("r1", {"status": "notProcessed", "jobs": []}, URL)
    assert queued.state is RemoteState.RUNNING


@pytest.mark.parametrize(
    ("state", "words"), [("failed", "is failed"), ("expired", "expired and were deleted")]
)
def test_failed_and_expired_are_failures_naming_the_jobs(state: str, words: str) -> None:
    status = parse_status("r1", {"status": state, "jobs": _jobs("done", state)}, URL)
    assert status.state is RemoteState.FAILED
    assert words in (status.error or "")
    assert f"job j1 {state}" in (status.error or "")


@pytest.mark.parametrize(
    "answer",
    [
        {"status": "finished", "jobs": []},
        {"status": "done"},
        {"status": "done", "jobs": _jobs("done", "inProgress")},
        ["done"],
    ],
)
def test_answers_outside_the_protocol_are_errors(answer: object) -> None:
    with pytest.raises(VendorError):
        parse_status("r1", answer, URL)


def test_both_error_body_shapes_are_read() -> None:
    assert describe_error('{"error": {"message": "Maximum number of queued exports reached"}}') == (
        "Maximum number of queued exports reached"
    )
    assert describe_error('{"errors": [{"detail": "a"}, {"detail": "b"}]}') == "a; b"
    assert describe_error("<html>") is None


def test_a_listed_request_covers_what_was_sent_whatever_it_adds() -> None:
    sent = {"type": "oneTime", "items": [{"params": {"from": 1, "to": 2}}]}
    echoed = {
        "id": "r1",
        "type": "oneTime",
        "items": [{"params": {"from": 1.0, "to": 2, "outputFormat": "long"}}],
    }
    assert covers(sent, echoed)
    assert not covers(sent, {**echoed, "items": [{"params": {"from": 1, "to": 3}}]})
    assert not covers(sent, {**echoed, "items": []})


def test_the_token_goes_to_the_vendors_download_route_only() -> None:
    with ConnhexClient(base_url="https://apis.example.com", token="s3cret") as client:
        assert client.download_headers(client.download_url("r1")) == {
            "Authorization": "Bearer s3cret"
        }
        assert client.download_headers("https://files.example.net/exports/r1/download") == {}
        with pytest.raises(VendorError, match="not a Connhex export id"):
            client.download_url("../admin")


def test_a_recurring_jobs_window_is_the_period_ending_at_its_run() -> None:
    from datetime import UTC, datetime, timedelta

    from export_pipelines.vendors.connhex.recurring import job_window, parse_jobs

    start = int(datetime(2024, 3, 30, tzinfo=UTC).timestamp())
    jobs = parse_jobs(
        "r1",
        {
            "jobs": [
                {"id": "j0", "itemIndex": 0, "status": "done", "startedAt": start + 5},
                {"id": "j1", "itemIndex": 0, "status": "done", "startedAt": "2024-03-31T00:00:07Z"},
                {"id": "j2", "itemIndex": 0, "status": "inProgress", "startedAt": None},
            ]
        },
    )
    day = timedelta(days=1)
    windows = [job_window(j.started_at, start, day, day) for j in jobs if j.started_at]
    assert [(w.start.isoformat(), w.end.isoformat()) for w in windows] == [
        ("2024-03-29T00:00:00+00:00", "2024-03-30T00:00:00+00:00"),
        ("2024-03-30T00:00:00+00:00", "2024-03-31T00:00:00+00:00"),
    ]
    with pytest.raises(ValueError, match="before periodStart"):
        job_window(datetime(2024, 3, 1, tzinfo=UTC), start, day, day)


def _recurring(jobs: list[dict[str, object]], items: int = 2) -> dict[str, object]:
    item = {"params": {"period": "PT1H"}}
    return {
        "id": "r1",
        "type": "recurring",
        "status": "inProgress",
        "periodicity": "PT1H",
        "periodStart": 1_709_514_000,  # 2024-03-04T01:00Z: run 0's window is the hour before
        "items": [item] * items,
        "jobs": jobs,
    }


def test_a_slot_is_its_windows_jobs_one_per_item() -> None:
    hour_1 = datetime(2024, 3, 4, 1, tzinfo=UTC)  # run 1, at 02:00

    def status(jobs: list[dict[str, object]]) -> RemoteStatus:
        return slot_status("r1", hour_1, _recurring(jobs), lambda j: f"u/{j}", lambda i, n: f"{i}")

    run_0: list[dict[str, object]] = [
        {"id": "a0", "itemIndex": 0, "status": "done", "startedAt": "2024-03-04T01:00:01Z"},
        {"id": "b0", "itemIndex": 1, "status": "failed", "startedAt": "2024-03-04T01:00:02Z"},
    ]
    # Run 1 not made yet (run 0's failure is another partition's): running, never failed.
    assert status(run_0).state is RemoteState.RUNNING
    # Made, one item's job not started (no startedAt: its window is unknown): still running.
    waiting: list[dict[str, object]] = [
        *run_0,
        {"id": "a1", "itemIndex": 0, "status": "done", "startedAt": "2024-03-04T02:59:59Z"},
        {"id": "b1", "itemIndex": 1, "status": "notProcessed", "startedAt": None},
    ]
    assert (status(waiting).state, status(waiting).progress) == (RemoteState.RUNNING, (1, 2))
    done = [*waiting[:3], dict(waiting[3], status="done", startedAt="2024-03-04T02:00:00Z")]
    completed = status(done)
    assert completed.state is RemoteState.COMPLETED
    assert [(f.url, f.name) for f in completed.files] == [("u/a1", "0"), ("u/b1", "1")]
    expired = [*done[:3], dict(done[3], status="expired")]
    failed = status(expired)
    assert failed.state is RemoteState.FAILED
    assert "job b1 (item 1) expired: its files expired" in (failed.error or "")
    with pytest.raises(VendorError, match="not a recurring request"):
        slot_status("r1", hour_1, {"type": "oneTime"}, str, lambda i, n: "")
