"""Every documented shape of Enterpret's fetch answer maps onto one state (DECISIONS N-2)."""

from datetime import UTC, datetime, timedelta

import pytest

from export_pipelines.decisions import enterpret as decided
from export_pipelines.transport import VendorError
from export_pipelines.vendors.base import RemoteState
from export_pipelines.vendors.enterpret.client import parse_fetch_answer

NOW = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("answer", [{}, {"isCompleted": False}])
def test_running_shapes(answer: dict) -> None:
    assert parse_fetch_answer(answer, fetched_at=NOW).state is RemoteState.RUNNING


@pytest.mark.parametrize(
    "answer",
    [
        {"responseFiles": ["https://f/0", "https://f/1"]},
        {"isCompleted": True, "responseFiles": ["https://f/0", "https://f/1"]},
    ],
)
def test_done_shapes_list_files_with_their_expiry(answer: dict) -> None:
    status = parse_fetch_answer(answer, fetched_at=NOW)
    assert status.state is RemoteState.COMPLETED
    assert [f.url for f in status.files] == ["https://f/0", "https://f/1"]
    assert [f.name for f in status.files] == ["part-00000.json", "part-00001.json"]
    assert status.files[0].expires_at == NOW + timedelta(seconds=decided.FILE_URL_TTL_SECONDS)


def test_done_without_records() -> None:
    for answer in ({"isCompleted": True, "responseFiles": []}, {"isCompleted": True}):
        status = parse_fetch_answer(answer, fetched_at=NOW)
        assert status.state is RemoteState.COMPLETED and status.files == ()


def test_failed_shape() -> None:
    status = parse_fetch_answer({"isCompleted": True, "error": "quota"}, fetched_at=NOW)
    assert status.state is RemoteState.FAILED and status.error == "quota"


@pytest.mark.parametrize(
    "answer", [[], "done", {"responseFiles": "https://f/0"}, {"responseFiles": [1]}]
)
def test_unexpected_shapes_are_errors_not_guesses(answer: object) -> None:
    with pytest.raises(VendorError):
        parse_fetch_answer(answer, fetched_at=NOW)
