"""The HiEnergy client against the sandbox over HTTP: create's three answers, chunked parts, URL
refresh, the list lookup after a lost answer, failures and errors."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.transport import (
    AuthenticationError,
    RequestRejected,
    RetryPolicy,
    VendorError,
)
from export_pipelines.vendors.base import RemoteState, RemoteStatus
from export_pipelines.vendors.hienergy.client import HiEnergyClient
from export_pipelines.vendors.hienergy.reports import parse_report
from export_pipelines_tests.sandbox_setup import hienergy_config, sandbox_config

PARTS_ROWS = 40


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Reports finish fast; a report above ``PARTS_ROWS`` rows comes in parts."""
    config = sandbox_config(hienergy=hienergy_config(delay_seconds=0.3, rows_per_part=PARTS_ROWS))
    with SandboxServer(config) as server:
        yield server


@pytest.fixture(scope="module")
def held() -> Iterator[SandboxServer]:
    """Reports stay in flight for the whole module: the 409 tests never race a timer."""
    with SandboxServer(sandbox_config(hienergy=hienergy_config(delay_seconds=600))) as server:
        yield server


def _client(server: SandboxServer, key: str | None = None) -> HiEnergyClient:
    return HiEnergyClient(
        base_url=server.base_url("hienergy"),
        api_key=key or server.api_key("hienergy"),
        retry=RetryPolicy(max_attempts=3, base_delay_seconds=0.05),
    )


def _done(client: HiEnergyClient, report_id: str) -> RemoteStatus:
    give_up = time.monotonic() + 60
    status = client.status(report_id)
    while status.state is RemoteState.RUNNING and time.monotonic() < give_up:
        time.sleep(0.1)
        status = client.status(report_id)
    return status


def _count_reports(server: SandboxServer) -> int:
    """Top-level reports the sandbox holds, through its own list endpoint (not the client)."""
    answer = httpx.get(
        f"{server.base_url('hienergy')}/exports",
        params={"limit": "100"},
        headers={"X-Api-Key": server.api_key("hienergy")},
        timeout=10,
    ).raise_for_status()
    return sum(1 for e in answer.json()["exports"] if e.get("parent_report_id") is None)


def _body(day: str, **search: object) -> dict[str, object]:
    end = (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()
    return {
        "report_type": "advertisers_csv",
        "search_params": {"start_date": day, "end_date": end, **search},
    }


def test_a_new_report_is_created_then_completes_with_one_file(sandbox: SandboxServer) -> None:
    with _client(sandbox) as client:
        created = client.create(_body("2024-03-04"))
        assert created.outcome == "created"
        assert created.report.status in ("pending", "processing")
        status = _done(client, str(created.report.id))
    assert status.state is RemoteState.COMPLETED
    assert [f.name for f in status.files] == ["part-00000.csv"]
    (only,) = status.files
    assert only.expires_at is not None
    assert only.expires_at - datetime.now(UTC) <= timedelta(seconds=900)
    assert httpx.get(only.url, timeout=10).status_code == 200  # presigned: no key needed


def test_an_identical_request_in_flight_is_adopted_not_created(held: SandboxServer) -> None:
    before = _count_reports(held)
    with _client(held) as client:
        first = client.create(_body("2024-03-05"))
        second = client.create(_body("2024-03-05"))
        other = client.create(_body("2024-03-06"))
    assert (first.outcome, second.outcome, other.outcome) == ("created", "adopted", "created")
    assert second.report.id == first.report.id != other.report.id
    assert _count_reports(held) == before + 2


def test_an_identical_request_after_completion_is_deduped(sandbox: SandboxServer) -> None:
    with _client(sandbox) as client:
        first = client.create(_body("2024-03-07"))
        assert _done(client, str(first.report.id)).state is RemoteState.COMPLETED
        again = client.create(_body("2024-03-07"))
        assert again.outcome == "deduped" and again.report.id == first.report.id
        assert client.status_of(again.report, fetched_at=datetime.now(UTC)).state is (
            RemoteState.COMPLETED
        )
        reordered = client.create(
            {
                "search_params": _body("2024-03-07")["search_params"],
                "report_type": "advertisers_csv",
            }
        )
        assert reordered.outcome == "deduped"


def test_a_chunked_report_lists_its_parts_in_order_with_growing_progress(
    sandbox: SandboxServer,
) -> None:
    body = {
        "report_type": "clicks_details_excel",
        "search_params": {"start_date": "2024-03-01", "end_date": "2024-03-02"},
    }
    seen: list[tuple[int, int]] = []
    with _client(sandbox) as client:
        report_id = str(client.create(body).report.id)
        status = client.status(report_id)
        while status.state is RemoteState.RUNNING:
            if status.progress is not None:
                seen.append(status.progress)
            time.sleep(0.05)
            status = client.status(report_id)
        parent = client.report(report_id)
    assert status.state is RemoteState.COMPLETED and parent.chunked_export
    assert parent.progress is not None and parent.progress[0] == parent.progress[1] >= 3
    assert [f.name for f in status.files] == [
        f"part-{i:05d}.xlsx" for i in range(parent.progress[1])
    ]
    assert seen == sorted(seen)
    assert len({f.url for f in status.files}) == len(status.files)


def test_reading_a_report_again_hands_out_fresh_urls(sandbox: SandboxServer) -> None:
    with _client(sandbox) as client:
        report_id = str(client.create(_body("2024-03-08")).report.id)
        first = _done(client, report_id)
        time.sleep(1.1)
        second = client.status(report_id)
    assert first.files[0].url != second.files[0].url
    assert first.files[0].name == second.files[0].name
    assert second.files[0].expires_at > first.files[0].expires_at  # type: ignore[operator]


def test_a_submit_whose_answer_was_lost_is_found_in_the_list(held: SandboxServer) -> None:
    started = datetime.now(UTC)
    body = _body("2024-03-09", network="Impact")
    with _client(held) as client:
        assert client.find_submitted(body, started) is None
        made = client.create(body)
        found = client.find_submitted(body, started)
        assert found is not None and found.vendor_job_id == str(made.report.id)
        assert found.outcome == "adopted"
        assert client.find_submitted(_body("2024-03-09", network="CJ"), started) is None
        assert client.find_submitted(body, started + timedelta(hours=1)) is None


def test_a_wrong_key_is_an_authentication_error_without_the_key(sandbox: SandboxServer) -> None:
    with (
        pytest.raises(AuthenticationError) as error,
        _client(sandbox, "he-secret-key-42") as client,
    ):
        client.create(_body("2024-03-04"))
    assert error.value.status == 401
    assert "hienergy" in str(error.value) and "he-secret-key-42" not in str(error.value)


def test_an_unknown_report_is_rejected_naming_the_vendor_error(sandbox: SandboxServer) -> None:
    with pytest.raises(RequestRejected) as error, _client(sandbox) as client:
        client.status("987654321")
    assert error.value.status == 404
    assert "/exports/987654321" in str(error.value)


def test_a_failed_report_is_failed_with_the_vendors_message() -> None:
    config = sandbox_config(
        hienergy=hienergy_config(delay_seconds=0.1, fail_report_types=frozenset({"deals_excel"}))
    )
    with SandboxServer(config) as server, _client(server) as client:
        report_id = str(client.create({"report_type": "deals_excel"}).report.id)
        status = _done(client, report_id)
    assert status.state is RemoteState.FAILED and not status.files
    assert status.error is not None and status.error.startswith(f"report {report_id}: ")
    assert len(status.error) > len(f"report {report_id}: ")


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"report_type": "deals_excel", "status": "pending"}, "without an integer id"),
        ({"id": 7, "report_type": "deals_excel", "status": "queued"}, "'status' is 'queued'"),
        (
            {"id": 7, "report_type": "deals_excel", "status": "completed", "download_url": 5},
            "'download_url' is int, expected str",
        ),
        (
            {
                "id": 7,
                "report_type": "x",
                "status": "processing",
                "progress": {"parts_ready": 3, "total_parts": 2},
            },
            "says 3 of 2 parts are ready",
        ),
        (
            {"id": 7, "report_type": "x", "status": "pending", "download_expires_in_seconds": True},
            "'download_expires_in_seconds' is bool",
        ),
    ],
)
def test_a_malformed_export_object_is_an_error_naming_report_and_field(
    raw: dict[str, object], named: str
) -> None:
    with pytest.raises(VendorError) as error:
        parse_report(raw, where="GET /exports/7")
    assert named in str(error.value) and str(error.value).startswith("hienergy: ")


def test_a_completed_report_without_its_file_url_is_an_error(sandbox: SandboxServer) -> None:
    report = parse_report(
        {"id": 9, "report_type": "deals_excel", "status": "completed"}, where="GET /exports/9"
    )
    with (
        pytest.raises(VendorError, match="report 9 is completed without a download_url"),
        _client(sandbox) as client,
    ):
        client.status_of(report, fetched_at=datetime.now(UTC))
