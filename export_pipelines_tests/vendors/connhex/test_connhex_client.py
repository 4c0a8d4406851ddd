"""Connhex's client against the sandbox over real HTTP: errors with the vendor's message, the queue
limit's 429, Retry-After honoured, a wrong token, and a lost create answer found by listing."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from export_pipelines.sandbox.connhex import ConnhexSandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.transport import (
    AuthenticationError,
    OutcomeUnknown,
    RequestRejected,
    RetryPolicy,
    VendorUnavailable,
)
from export_pipelines.vendors.base import RemoteState, Window
from export_pipelines.vendors.connhex import ADAPTER
from export_pipelines.vendors.connhex.client import ConnhexClient
from export_pipelines_tests.pipeline.connhex_support import ITEM_TARGETS
from export_pipelines_tests.sandbox_setup import sandbox_config

QUEUE = 2
WINDOW = Window(datetime(2024, 3, 4, 10, tzinfo=UTC), datetime(2024, 3, 4, 11, tzinfo=UTC))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """Jobs stay queued a minute, so that the queue limit is reached (by the last test)."""
    slow = ConnhexSandboxConfig(queued_seconds=60, max_queued_exports=QUEUE)
    with SandboxServer(sandbox_config(connhex=slow)) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_faults(sandbox: SandboxServer) -> Iterator[None]:
    sandbox.clear_faults()
    yield
    sandbox.clear_faults()


def _client(sandbox: SandboxServer, token: str | None = None, attempts: int = 1) -> ConnhexClient:
    return ConnhexClient(
        base_url=sandbox.base_url("connhex"),
        token=token or sandbox.api_key("connhex"),
        retry=RetryPolicy(max_attempts=attempts, base_delay_seconds=0.05),
    )


def _body(hour: int, **params: object) -> dict[str, object]:
    request = ADAPTER.parse_request(
        {
            "format": {"extension": "csv"},
            "items": [{"params": {**ITEM_TARGETS[0], "outputFormat": "long", **params}}],
        }
    )
    window = Window(WINDOW.start.replace(hour=hour), WINDOW.end.replace(hour=hour + 1))
    return ADAPTER.build_body(request, window)


def test_a_refused_body_fails_with_the_vendors_message(sandbox: SandboxServer) -> None:
    body = _body(1)
    body["items"][0]["params"]["channelId"] = "no-such-channel"  # type: ignore[index]
    with _client(sandbox) as client, pytest.raises(RequestRejected) as caught:
        client.submit(body)
    assert caught.value.status == 400
    assert "POST /exports answered HTTP 400: " in str(caught.value)
    assert "{" not in str(caught.value).split("HTTP 400: ")[1]  # the message, not the raw body


def test_a_wrong_token_is_an_authentication_error_without_the_token(
    sandbox: SandboxServer,
) -> None:
    with (
        _client(sandbox, token="not-the-token") as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.status("anything")
    assert "not-the-token" not in str(caught.value)


def test_a_429_with_retry_after_is_waited_out_and_a_longer_one_is_not(
    sandbox: SandboxServer,
) -> None:
    sandbox.add_fault("connhex", "status", status=429, retry_after=1, times=1)
    with _client(sandbox, attempts=3) as client:
        job = client.submit(_body(12, decimation={"ds": "15m", "dsf": "max"})).vendor_job_id
        assert client.status(job).state is RemoteState.RUNNING
    with _client(sandbox, attempts=1) as client:
        sandbox.add_fault("connhex", "status", status=429, retry_after=500, times=1)
        with pytest.raises(VendorUnavailable, match="500"):
            client.status(job)


def test_a_create_whose_answer_was_lost_is_found_by_listing(sandbox: SandboxServer) -> None:
    body = _body(14, transform="delta")
    sent_at = datetime.now(UTC)
    sandbox.add_fault("connhex", "create", status=500, after_processing=True, times=1)
    with _client(sandbox) as client:
        with pytest.raises((VendorUnavailable, OutcomeUnknown)):
            client.submit(body)
        found = client.find_submitted(body, sent_at)
        assert found is not None
        assert client.get(found.vendor_job_id)["items"][0]["params"]["transform"] == "delta"
        other = _body(15)
        assert client.find_submitted(other, sent_at) is None


def test_past_the_queue_limit_the_429_names_the_vendors_message(sandbox: SandboxServer) -> None:
    """Earlier tests left queued exports too: submits succeed until the account holds QUEUE."""
    created: list[str] = []
    with _client(sandbox) as client:
        with pytest.raises(VendorUnavailable) as caught:
            for hour in range(2, 2 + QUEUE + 1):
                created.append(client.submit(_body(hour)).vendor_job_id)
        assert all(client.status(job).state is RemoteState.RUNNING for job in created)
    assert len(created) <= QUEUE
    assert caught.value.status == 429
    assert "Maximum number of queued exports reached" in str(caught.value)
