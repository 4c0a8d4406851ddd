"""The Rebilly client against the sandbox over HTTP: create, poll, links, failures, errors, lookup."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from export_pipelines.sandbox import rebilly as rebilly_sandbox
from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.rebilly.config import RebillySandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.transport import (
    AuthenticationError,
    OutcomeUnknown,
    RequestRejected,
    RetryPolicy,
    VendorUnavailable,
)
from export_pipelines.vendors.base import RemoteState, RemoteStatus
from export_pipelines.vendors.rebilly.client import RebillyClient, rebilly_retry_after

BODY: dict[str, Any] = {
    "name": "client test",
    "resource": "transactions",
    "format": "csv",
    "dateRange": {
        "start": "2024-03-04T00:00:00Z",
        "end": "2024-03-05T00:00:00Z",
        "field": "processedTime",
    },
}


def _config(**rebilly: Any) -> SandboxConfig:
    settings = {"queued_seconds": 0.1, "completion_delay_seconds": 0.2, **rebilly}
    return SandboxConfig(port=0, rebilly=RebillySandboxConfig(**settings))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(_config()) as server:
        yield server


def _client(sandbox: SandboxServer, key: str | None = None, **options: Any) -> RebillyClient:
    return RebillyClient(
        base_url=sandbox.base_url("rebilly"),
        api_key=key or sandbox.api_key("rebilly"),
        retry=RetryPolicy(max_attempts=3, base_delay_seconds=0.05, retry_after=rebilly_retry_after),
        **options,
    )


def _until_done(client: RebillyClient, export_id: str) -> tuple[list[RemoteState], RemoteStatus]:
    states = [client.status(export_id).state]
    while states[-1] is RemoteState.RUNNING:
        time.sleep(0.05)
        states.append(client.status(export_id).state)
    return states, client.status(export_id)


def _control(sandbox: SandboxServer) -> httpx.Client:
    return httpx.Client(base_url=f"{sandbox.url}/_sandbox/rebilly", timeout=10)


def test_create_then_poll_until_completed_offers_the_signed_link(sandbox: SandboxServer) -> None:
    with _client(sandbox) as client:
        submitted = client.submit(BODY)
        assert submitted.status is not None and submitted.status.state is RemoteState.RUNNING
        states, done = _until_done(client, submitted.vendor_job_id)
    expected = list(
        rebilly_sandbox.SANDBOX_VENDOR.expected_records(sandbox.url, submitted.vendor_job_id, BODY)
    )
    assert states[0] is RemoteState.RUNNING and done.state is RemoteState.COMPLETED
    assert done.vendor_rows == len(expected) > 0
    (file,) = done.files
    assert "signature=" in file.url and file.name == "data-export.csv"
    assert file.expires_at is not None and file.expires_at > datetime.now(UTC)
    # The pre-signed link needs no key; the key goes only to the vendor's own download link.
    assert client.download_headers(file.url) == {}
    own = f"{sandbox.base_url('rebilly')}/files/file_1/download"
    assert client.download_headers(own) == {"REB-APIKEY": sandbox.api_key("rebilly")}
    assert client.download_headers("https://elsewhere.example/files/file_1/download") == {}
    body = httpx.get(file.url).text.splitlines()
    assert len(body) == len(expected) + 1  # the header row, then one line a record


def test_a_failed_export_reports_the_vendors_failure_reason(sandbox: SandboxServer) -> None:
    with _control(sandbox) as control:
        armed = control.post("/fail-next", json={"failureReason": "record-limit-exceeded"})
        assert armed.is_success, armed.text
    with _client(sandbox) as client:
        export_id = client.submit(BODY).vendor_job_id
        _, done = _until_done(client, export_id)
    assert done.state is RemoteState.FAILED
    assert done.error == "record-limit-exceeded" and done.files == ()


def test_an_invalid_request_names_the_invalid_fields(sandbox: SandboxServer) -> None:
    with _client(sandbox) as client, pytest.raises(RequestRejected) as error:
        client.submit({"name": "bad", "resource": "payments", "format": "csv"})
    assert error.value.status == 422
    message = str(error.value)
    assert "POST /data-exports answered HTTP 422: Invalid data" in message
    assert "invalid fields: resource:" in message


def test_a_wrong_key_is_an_authentication_error_without_the_key(sandbox: SandboxServer) -> None:
    with _client(sandbox, key="rk-wrong-key-4711") as client:
        with pytest.raises(AuthenticationError) as error:
            client.submit(BODY)
        assert error.value.status == 401 and "rk-wrong-key-4711" not in str(error.value)
        with pytest.raises(AuthenticationError):
            client.status("exp_anything")


def test_an_unknown_export_is_a_clear_404(sandbox: SandboxServer) -> None:
    with _client(sandbox) as client, pytest.raises(RequestRejected) as error:
        client.status("exp_does_not_exist")
    assert error.value.status == 404 and "GET /data-exports/exp_does_not_exist" in str(error.value)


def test_an_id_that_is_no_rebilly_id_never_reaches_a_url(sandbox: SandboxServer) -> None:
    with _client(sandbox) as client, pytest.raises(Exception, match="not a Rebilly resource id"):
        client.status("../files/x")


def test_a_lost_create_answer_is_found_by_listing(sandbox: SandboxServer) -> None:
    body = {**BODY, "name": "lost answer"}
    before = datetime.now(UTC)
    sandbox.add_fault("rebilly", "create", delay_seconds=2, after_processing=True)
    with _client(sandbox, timeout_seconds=0.5) as client, pytest.raises(OutcomeUnknown):
        client.submit(body)
    with _client(sandbox) as client:
        found = client.find_submitted(body, before)
        assert found is not None and found.status is not None
        with _control(sandbox) as control:
            exports = control.get("/exports").json()["exports"]
        mine = [e["id"] for e in exports if e["request"]["name"] == "lost answer"]
        assert mine == [found.vendor_job_id]
        # Another window, or an export created before the submit, is not ours.
        other = {**body, "dateRange": {**body["dateRange"], "end": "2024-03-06T00:00:00Z"}}
        assert client.find_submitted(other, before) is None
        assert client.find_submitted(body, datetime(2030, 1, 1, tzinfo=UTC)) is None


def test_a_rate_limited_create_waits_for_the_reset_the_vendor_names() -> None:
    with SandboxServer(_config(rate_limit_requests=1, rate_limit_window_seconds=2)) as server:
        with _client(server) as patient:
            patient.submit(BODY)
            # The second create within the window is answered 429 with X-RateLimit-Retry-After
            # (the reset's epoch second); the client waits until then and is let through.
            assert patient.submit(BODY).vendor_job_id
        impatient = RebillyClient(
            base_url=server.base_url("rebilly"),
            api_key=server.api_key("rebilly"),
            retry=RetryPolicy(max_attempts=1, retry_after=rebilly_retry_after),
        )
        with impatient, pytest.raises(VendorUnavailable) as error:
            impatient.submit(BODY)
        assert error.value.status == 429 and "Rate Limit Exceeded" in str(error.value)
