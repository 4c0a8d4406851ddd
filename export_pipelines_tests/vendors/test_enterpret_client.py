"""The Enterpret client against the sandbox over HTTP: submit, every fetch shape, labels, errors."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.transport import AuthenticationError, RequestRejected, RetryPolicy
from export_pipelines.vendors.base import RemoteState, SubmitOutcome
from export_pipelines.vendors.enterpret.client import EnterpretClient

BODY = {
    "listRecords": {"timerange": {"startTime": 1709251200, "endTime": 1709337600}},
    "pageSize": 30,
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(port=0, enterpret=EnterpretSandboxConfig(completion_delay_seconds=0.3))
    with SandboxServer(config) as server:
        yield server


def _client(sandbox: SandboxServer, key: str | None = None) -> EnterpretClient:
    return EnterpretClient(
        base_url=sandbox.base_url("enterpret"),
        api_key=key or sandbox.api_key("enterpret"),
        retry=RetryPolicy(max_attempts=3, base_delay_seconds=0.05),
    )


def test_submit_then_fetch_until_done(sandbox: SandboxServer) -> None:
    client = _client(sandbox)
    submitted = client.submit(BODY)
    assert submitted.outcome is SubmitOutcome.CREATED and submitted.status is None
    query_id = submitted.vendor_job_id
    states = [client.status(query_id).state]
    while states[-1] is RemoteState.RUNNING:
        time.sleep(0.1)
        states.append(client.status(query_id).state)
    done = client.status(query_id)
    expected = sandbox.enterpret.summary(query_id)["record_count"]
    assert states[0] is RemoteState.RUNNING and done.state is RemoteState.COMPLETED
    assert len(done.files) == -(-expected // 30)
    assert all(f.expires_at is not None for f in done.files)


def test_labels_known_and_unknown(sandbox: SandboxServer) -> None:
    client = _client(sandbox)
    label_id = next(iter(sandbox.enterpret.dataset.labels.by_id))
    assert client.label(label_id)["id"] == label_id
    with pytest.raises(RequestRejected) as error:
        client.label("no-such-label")
    assert error.value.status == 404


def test_a_wrong_key_is_an_authentication_error_without_the_key(sandbox: SandboxServer) -> None:
    with pytest.raises(AuthenticationError) as error:
        _client(sandbox, key="sk-not-the-key-987").submit(BODY)
    assert error.value.status == 401 and "sk-not-the-key-987" not in str(error.value)


def test_a_malformed_request_is_rejected_not_retried(sandbox: SandboxServer) -> None:
    before = len(sandbox.enterpret.jobs())
    with pytest.raises(RequestRejected) as error:
        _client(sandbox).submit({"listRecords": {}, "pageSize": 5})
    assert error.value.status == 400
    assert len(sandbox.enterpret.jobs()) == before


def test_submit_is_not_retried_after_a_500_but_is_after_a_429(sandbox: SandboxServer) -> None:
    client = _client(sandbox)
    sandbox.add_fault("enterpret", "submit", status=500, times=1)
    with pytest.raises(Exception, match="HTTP 500"):
        client.submit(BODY)
    sandbox.add_fault("enterpret", "submit", status=429, times=2, retry_after=0)
    assert client.submit(BODY).vendor_job_id.startswith("async-")
    sandbox.clear_faults()


def test_enterpret_cannot_be_asked_for_a_lost_submit(sandbox: SandboxServer) -> None:
    client = _client(sandbox)
    assert client.can_find_submitted is False
    with pytest.raises(NotImplementedError, match="no endpoint that lists exports"):
        client.find_submitted(BODY, datetime.now(UTC))
