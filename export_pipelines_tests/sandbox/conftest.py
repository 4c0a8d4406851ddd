"""Sandbox servers on real sockets, and small plain-httpx helpers (deliberately not the client)."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from export_pipelines.sandbox import EnterpretSandboxConfig, SandboxConfig, SandboxServer

SUBMIT = "/export/external/v1/async/submit"
FETCH = "/export/external/v1/async/fetch"
LABELS = "/export/external/v1/labels"
RECORD_COUNT = 20_000


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """Jobs stay in progress until a test completes them: no test waits on a timer.

    The data runs a year past today so that relative windows ("last 30 hours") always hold records.
    """
    config = SandboxConfig(
        port=0,
        enterpret=EnterpretSandboxConfig(
            seed=7,
            record_count=RECORD_COUNT,
            completion_delay_seconds=600,
            dataset_start=datetime(2024, 1, 1, tzinfo=UTC),
            dataset_end=datetime(max(2027, datetime.now(UTC).year + 2), 1, 1, tzinfo=UTC),
        ),
    )
    with SandboxServer(config) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "server" in request.fixturenames:
        request.getfixturevalue("server").clear_faults()


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    """Authenticated client on the Enterpret base URL."""
    headers = {"Authorization": f"Bearer {server.api_key('enterpret')}"}
    with httpx.Client(base_url=server.base_url("enterpret"), headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def control(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/_sandbox", timeout=60) as client:
        yield client


def submit(api: httpx.Client, body: dict[str, Any]) -> str:
    response = api.post(SUBMIT, json=body)
    assert response.status_code == 200, response.text
    query_id = response.json()["queryID"]
    assert isinstance(query_id, str) and query_id.startswith("async-")
    return query_id


def fetch(api: httpx.Client, query_id: str) -> dict[str, Any]:
    response = api.post(FETCH, json={"queryID": query_id})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def complete(control: httpx.Client, query_id: str) -> dict[str, Any]:
    response = control.post(f"/enterpret/jobs/{query_id}/complete")
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    assert job["state"] == "completed"
    return job


def download(url: str) -> bytes:
    """A response file, fetched the way a signed URL is: without the API key."""
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response.content


def export(
    api: httpx.Client, control: httpx.Client, body: dict[str, Any]
) -> list[list[dict[str, Any]]]:
    """Submit, complete, fetch, download: the records of each response file, in order."""
    query_id = submit(api, body)
    complete(control, query_id)
    answer = fetch(api, query_id)
    assert answer["isCompleted"] is True
    return [json.loads(download(url))["records"] for url in answer["responseFiles"]]


def window_body(
    start: int | str, end: int | str, page_size: Any = 100, **list_records: Any
) -> dict[str, Any]:
    return {
        "listRecords": {"timerange": {"startTime": start, "endTime": end}, **list_records},
        "pageSize": page_size,
    }
