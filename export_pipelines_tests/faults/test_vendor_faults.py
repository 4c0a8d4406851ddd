"""The network faults of issue 14, for every registered vendor, against its sandbox over HTTP.

Each vendor's client is built from its resource (as a run builds it), a real export is made in the
sandbox, and then a fault is armed on the route a step uses: the submit, the status poll, the file.
What is asserted is the outcome and how many times the fault fired (the sandbox counts down what
it armed): a throttle told by the vendor's own header is waited out, bursts of 5xx and dropped
connections are retried, a persistent outage fails after exactly ``max_attempts`` tries with a clear
message, an answer dripped byte by byte or absurdly large is abandoned, a cut or dropped download
is resumed to the same bytes, and a download slower than the floor is given up on.
"""

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from export_pipelines.sandbox.hellodata.config import HelloDataSandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.transport import (
    OutcomeUnknown,
    RequestRejected,
    TransportError,
    VendorUnavailable,
    download_to_file,
)
from export_pipelines.vendors import VENDORS
from export_pipelines.vendors.base import Completion, RemoteFile, RemoteState, VendorClient
from export_pipelines.vendors.hellodata.resource import WEBHOOK_PUBLIC_URL_ENV
from export_pipelines_tests.sandbox_setup import sandbox_config
from export_pipelines_tests.test_conformance import (
    Callbacks,
    first_partitioned_export,
    first_window,
    wait_for_callback,
    wait_until_done,
)


@dataclass(frozen=True)
class Routes:
    """A vendor's sandbox fault routes by role, and how it says "wait" on a 429 (its docs):
    ``throttle(reset)`` are the headers of a 429 whose quota resets at the Unix time ``reset``;
    ``absolute`` when they name that moment rather than a number of seconds."""

    submit: str
    poll: str | None
    file: str
    throttle: Callable[[float], dict[str, str]]
    absolute: bool


def _epoch(reset: float) -> str:
    return str(int(reset))


ROUTES = {
    # §4.5: Connhex services may send Retry-After with a 429.
    "connhex": Routes("create", "status", "download", lambda _: {"Retry-After": "1"}, False),
    "enterpret": Routes("submit", "fetch", "file", lambda _: {"Retry-After": "1"}, False),
    "hienergy": Routes(
        "create",
        "status",
        "file",
        lambda reset: {
            "X-RateLimit-Limit": "10000",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": _epoch(reset),
        },
        True,
    ),
    "rebilly": Routes(
        "create",
        "get",
        "signed-file",
        lambda reset: {"X-RateLimit-Retry-After": _epoch(reset)},
        True,
    ),
    "hellodata": Routes(
        "export", None, "file", lambda _: {"RateLimit": '"default";r=0;t=1'}, False
    ),
}
POLLED = sorted(v for v in VENDORS if VENDORS[v].completion is Completion.POLL)


def test_every_registered_vendor_names_its_fault_routes() -> None:
    assert set(ROUTES) == set(VENDORS), "add the new vendor's routes to ROUTES"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    callbacks_to_loopback = HelloDataSandboxConfig(
        completion_delay_seconds=0.3, allow_loopback_webhooks=True
    )
    with SandboxServer(sandbox_config(hellodata=callbacks_to_loopback)) as server:
        yield server


@pytest.fixture(scope="module")
def callbacks() -> Iterator[Callbacks]:
    endpoint = Callbacks()
    yield endpoint
    endpoint.close()


@dataclass
class Made:
    """A finished export in the sandbox: its vendor job and its first file."""

    vendor: str
    job_id: str
    file: RemoteFile
    body: dict[str, Any]


@pytest.fixture(autouse=True)
def _no_faults_left(sandbox: SandboxServer) -> Iterator[None]:
    sandbox.clear_faults()
    yield
    sandbox.clear_faults()


def client_for(sandbox: SandboxServer, vendor: str, **settings: Any) -> VendorClient:
    resource = VENDORS[vendor].resource_class(
        base_url=sandbox.base_url(vendor), api_key=sandbox.api_key(vendor), **settings
    )
    return resource.client()


@pytest.fixture(scope="module")
def made(
    sandbox: SandboxServer, callbacks: Callbacks, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Made]:
    """One finished export per vendor, made once with no fault armed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(WEBHOOK_PUBLIC_URL_ENV, callbacks.url)
        exports = {}
        for vendor, adapter in VENDORS.items():
            spec = first_partitioned_export(vendor)
            body = adapter.build_body(spec.request, first_window(spec))
            with client_for(sandbox, vendor) as client:
                job_id = client.submit(body).vendor_job_id
                if adapter.completion is Completion.CALLBACK:
                    key = sandbox.api_key(vendor)
                    status = wait_for_callback(adapter, callbacks, key, job_id)
                else:
                    status = wait_until_done(client, job_id)
            assert status.state is RemoteState.COMPLETED and status.files, status
            exports[vendor] = Made(vendor, job_id, status.files[0], body)
    return exports


def left(sandbox: SandboxServer) -> list[int]:
    """How many firings each armed fault has left (a fault that fired all its times is gone)."""
    return [fault.remaining for fault in sandbox.faults.list()]


def arm(sandbox: SandboxServer, vendor: str, route: str, **fault: Any) -> None:
    sandbox.add_fault(vendor, route, **fault)


# The status poll.


@pytest.mark.parametrize("vendor", POLLED)
def test_a_throttle_told_by_the_vendors_own_header_is_waited_out(
    sandbox: SandboxServer, made: dict[str, Made], vendor: str
) -> None:
    route = ROUTES[vendor].poll
    assert route is not None
    reset = time.time() + 1.5
    arm(sandbox, vendor, route, status=429, headers=ROUTES[vendor].throttle(reset), times=2)
    with client_for(sandbox, vendor) as client:
        started = time.monotonic()
        status = client.status(made[vendor].job_id)
        waited = time.monotonic() - started
    assert status.state is RemoteState.COMPLETED
    assert left(sandbox) == []
    # It did not ask again before it was told to: twice "1 second", or not before the reset.
    if ROUTES[vendor].absolute:
        assert time.time() >= int(reset)
    else:
        assert waited >= 2.0, waited


@pytest.mark.parametrize("vendor", POLLED)
@pytest.mark.parametrize(
    "fault", [{"status": 503}, {"status": 502}, {"drop_connection": True}], ids=str
)
def test_bursts_of_errors_and_dropped_connections_are_retried(
    sandbox: SandboxServer, made: dict[str, Made], vendor: str, fault: dict[str, Any]
) -> None:
    route = ROUTES[vendor].poll
    assert route is not None
    arm(sandbox, vendor, route, times=2, **fault)
    with client_for(sandbox, vendor) as client:
        status = client.status(made[vendor].job_id)
    assert status.state is RemoteState.COMPLETED
    assert left(sandbox) == []


@pytest.mark.parametrize("vendor", POLLED)
def test_an_outage_fails_after_exactly_max_attempts_with_a_clear_message(
    sandbox: SandboxServer, made: dict[str, Made], vendor: str
) -> None:
    route = ROUTES[vendor].poll
    assert route is not None
    arm(sandbox, vendor, route, status=503, times=50)
    with (
        client_for(sandbox, vendor, max_attempts=3) as client,
        pytest.raises(VendorUnavailable) as raised,
    ):
        client.status(made[vendor].job_id)
    assert "503" in str(raised.value) and "after 3 attempt(s)" in str(raised.value)
    assert left(sandbox) == [47]


@pytest.mark.parametrize("vendor", POLLED)
def test_an_answer_dripped_byte_by_byte_is_abandoned_at_the_deadline(
    sandbox: SandboxServer, made: dict[str, Made], vendor: str
) -> None:
    route = ROUTES[vendor].poll
    assert route is not None
    arm(sandbox, vendor, route, drip_bytes_per_second=20, times=2)
    settings = {"max_attempts": 2, "answer_deadline_seconds": 1.0}
    with (
        client_for(sandbox, vendor, **settings) as client,
        pytest.raises(OutcomeUnknown) as raised,
    ):
        client.status(made[vendor].job_id)
    assert "still arriving after 1 s" in str(raised.value)
    assert "after 2 attempt(s)" in str(raised.value)
    assert left(sandbox) == []


@pytest.mark.parametrize("vendor", POLLED)
def test_an_absurdly_large_answer_is_refused_without_reading_it_all(
    sandbox: SandboxServer, made: dict[str, Made], vendor: str
) -> None:
    with (
        client_for(sandbox, vendor, max_answer_bytes=16) as client,
        pytest.raises(RequestRejected) as raised,
    ):
        client.status(made[vendor].job_id)
    assert "answered more than 16 bytes" in str(raised.value)


# The submit.


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_a_throttled_submit_waits_as_told_and_creates_one_job(
    sandbox: SandboxServer,
    made: dict[str, Made],
    callbacks: Callbacks,
    vendor: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(WEBHOOK_PUBLIC_URL_ENV, callbacks.url)
    throttle = ROUTES[vendor].throttle(time.time() + 1)
    arm(sandbox, vendor, ROUTES[vendor].submit, status=429, headers=throttle)
    body = dict(made[vendor].body)
    with client_for(sandbox, vendor) as client:
        submitted = client.submit(body)
    assert submitted.vendor_job_id
    assert left(sandbox) == []


# The file.


def _download(
    sandbox: SandboxServer, made: Made, dest: Path, **policy: Any
) -> tuple[int, str, int]:
    with client_for(sandbox, made.vendor) as client:
        download_policy = dataclasses.replace(client.download_policy, **policy)
        got = download_to_file(
            made.file.url,
            dest,
            vendor=made.vendor,
            policy=download_policy,
            lock_dir=dest.parent / "locks",
            headers=client.download_headers(made.file.url),
        )
    return got.bytes, got.sha256, got.resumes


@pytest.fixture(scope="module")
def clean(
    sandbox: SandboxServer, made: dict[str, Made], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[int, str]]:
    """Each vendor's file as a download with no fault gets it: size and SHA-256."""
    folder = tmp_path_factory.mktemp("clean")
    sums = {}
    for vendor, export in made.items():
        size, digest, _ = _download(sandbox, export, folder / vendor / export.file.name)
        sums[vendor] = (size, digest)
        assert size > 100, f"pick a {vendor} export whose file is over 100 bytes"
    return sums


@pytest.mark.parametrize("vendor", sorted(VENDORS))
@pytest.mark.parametrize(
    "fault",
    [{"cut_after_bytes": 50}, {"drop_connection": True}, {"status": 503}],
    ids=["cut mid-file", "dropped before the body", "503"],
)
def test_a_broken_download_ends_with_the_same_bytes(
    sandbox: SandboxServer,
    made: dict[str, Made],
    clean: dict[str, tuple[int, str]],
    tmp_path: Path,
    vendor: str,
    fault: dict[str, Any],
) -> None:
    arm(sandbox, vendor, ROUTES[vendor].file, times=2, **fault)
    size, digest, resumes = _download(sandbox, made[vendor], tmp_path / made[vendor].file.name)
    assert (size, digest) == clean[vendor]
    assert left(sandbox) == []
    if "cut_after_bytes" in fault:
        assert resumes == 2  # each cut left 50 more bytes on disk, resumed with Range


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_a_download_slower_than_the_floor_is_given_up_on(
    sandbox: SandboxServer, made: dict[str, Made], tmp_path: Path, vendor: str
) -> None:
    arm(sandbox, vendor, ROUTES[vendor].file, drip_bytes_per_second=20, times=10)
    dest = tmp_path / made[vendor].file.name
    with pytest.raises(TransportError) as raised:
        _download(sandbox, made[vendor], dest, min_bytes_per_second=100_000, stall_seconds=0.5)
    assert "kept breaking" in str(raised.value) and "stalled" in str(raised.value)
    assert not dest.exists()
    assert left(sandbox) == [5]  # five attempts (the default), each dripping past the floor
