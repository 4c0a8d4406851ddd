"""The sandbox's vendor registry: every vendor is one ``SandboxVendor`` and one registry line.

A made-up third vendor is registered by patching ``registry.VENDORS`` only, and then appears in the
config, the app, the controls, the faults, the banner, the serve flags and the demo's verifier: no
shared file needs an edit for it.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any

import click
import httpx
import pytest
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from export_pipelines.demo.verify import expected_ids
from export_pipelines.ledger import JobRecord
from export_pipelines.sandbox import SandboxConfig, SandboxServer, enterpret, hienergy, registry
from export_pipelines.sandbox.cli import vendor_sections
from export_pipelines.sandbox.faults import VendorRoutes, with_fault
from export_pipelines.sandbox.server import vendor_endpoints
from export_pipelines.sandbox.vendor import (
    MountContext,
    SandboxVendor,
    ServeFlag,
    VendorConfig,
    VendorMount,
)
from export_pipelines_tests.sandbox.hienergy_helpers import (
    api_client,
    complete,
    control_client,
    create,
    files_of,
    start_server,
    xlsx_rows,
)


class EchoConfig(VendorConfig):
    api_key: str = "echo-key"
    greeting: str = "hello"
    seed: int = 1


class EchoState:
    def __init__(self, config: EchoConfig) -> None:
        self.config = config
        self.pings = 0


def _echo_mount(config: EchoConfig, context: MountContext) -> VendorMount[EchoState]:
    state = EchoState(config)

    async def ping(request: Request) -> Response:
        async def answer() -> Response:
            state.pings += 1
            return JSONResponse({"greeting": config.greeting, "seed": config.seed})

        return await with_fault(context.faults.take("echo", "ping"), answer)

    def pings(request: Request) -> Response:
        return JSONResponse({"pings": state.pings})

    return VendorMount(
        name="echo",
        api_key=config.api_key,
        simulator=state,
        routes=[Route("/v2/ping", ping)],
        control_routes=[Route("/pings", pings)],
        fault_routes=VendorRoutes(frozenset({"ping"}), frozenset()),
        close=lambda: None,
        base_path="/v2",
    )


def _echo_expected(
    sandbox_url: str, vendor_job_id: str, request_body: Mapping[str, Any]
) -> Iterable[Mapping[str, Any]]:
    return [{"id": f"{vendor_job_id}-{n}"} for n in range(int(request_body["n"]))]


ECHO: SandboxVendor[EchoConfig, EchoState] = SandboxVendor(
    name="echo",
    config_model=EchoConfig,
    mount=_echo_mount,
    expected_records=_echo_expected,
    serve_flags=(ServeFlag("greeting", "greeting", click.STRING, "What echo says."),),
)


@pytest.fixture
def with_echo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "VENDORS", (*registry.VENDORS, ECHO))
    yield


def test_registry_lists_every_vendor_in_order() -> None:
    assert [vendor.name for vendor in registry.VENDORS] == [
        "enterpret",
        "hienergy",
        "rebilly",
        "hellodata",
        "connhex",
    ]
    assert registry.registered("hienergy") is hienergy.SANDBOX_VENDOR
    assert registry.registered("enterpret") is enterpret.SANDBOX_VENDOR
    with pytest.raises(
        KeyError, match="known: \\['connhex', 'enterpret', 'hellodata', 'hienergy', 'rebilly'\\]"
    ):
        registry.registered("nosuch")


def test_config_sections_come_from_the_registry() -> None:
    config = SandboxConfig(hienergy={"rows_per_part": 7})
    assert config.vendor_config(hienergy.SANDBOX_VENDOR).rows_per_part == 7
    assert config.vendor_config(enterpret.SANDBOX_VENDOR) == enterpret.EnterpretSandboxConfig()
    section = hienergy.HiEnergySandboxConfig(seed=4)
    assert (
        SandboxConfig(vendors={"hienergy": section}).vendor_config(hienergy.SANDBOX_VENDOR)
        is section
    )
    with pytest.raises(ValidationError, match="nosuch"):
        SandboxConfig(nosuch={})
    with pytest.raises(
        ValidationError,
        match="known: \\['connhex', 'enterpret', 'hellodata', 'hienergy', 'rebilly'\\]",
    ):
        SandboxConfig(vendors={"nosuch": {}})
    with pytest.raises(ValidationError, match="rows_per_part"):
        SandboxConfig(hienergy={"rows_per_part": 0})


def test_a_new_vendor_needs_only_its_registry_line(with_echo: None) -> None:
    config = SandboxConfig(port=0, echo={"greeting": "hoi"})
    assert config.vendor_config(ECHO).greeting == "hoi"
    with SandboxServer(config) as server:
        assert server.base_url("echo") == f"{server.url}/echo/v2"
        assert server.api_key("echo") == "echo-key"
        assert httpx.get(f"{server.base_url('echo')}/ping").json()["greeting"] == "hoi"
        assert server.simulator(ECHO).pings == 1
        assert httpx.get(f"{server.url}/_sandbox/echo/pings").json() == {"pings": 1}
        armed = httpx.post(
            f"{server.url}/_sandbox/faults", json={"vendor": "echo", "route": "ping", "status": 502}
        )
        assert armed.status_code == 201
        assert httpx.get(f"{server.base_url('echo')}/ping").status_code == 502
        vendors = httpx.get(f"{server.url}/_sandbox/vendors").json()
        assert vendors["echo"] == {"base_url": server.base_url("echo"), "api_key": "echo-key"}
        assert server.sandbox is not None
        banner = vendor_endpoints(server.sandbox, server.url)
        assert list(banner) == ["enterpret", "hienergy", "rebilly", "hellodata", "connhex", "echo"]
        assert banner["echo"] == (server.base_url("echo"), "echo-key")
    sections = vendor_sections(seed=3, completion_delay=None, flags={"echo_greeting": "hi"})
    assert sections["echo"] == {"seed": 3, "greeting": "hi"}
    job = _job("echo", "7", {"n": 2})
    assert expected_ids("http://unused", job, "7") == ["7-0", "7-1"]


def _job(vendor: str, vendor_job_id: str, request_body: dict[str, Any]) -> JobRecord:
    fields: dict[str, Any] = dict.fromkeys(JobRecord.__dataclass_fields__)
    fields.update(vendor=vendor, vendor_job_id=vendor_job_id, request_body=request_body)
    return JobRecord(**fields)


def test_hienergy_expected_records_recompute_a_report_from_the_control_endpoints() -> None:
    server = start_server(completion_delay_seconds=0, rows_per_part=100)
    try:
        with api_client(server) as api, control_client(server) as control:
            search = {"start_date": "2024-02-01", "end_date": "2024-02-20", "converted": False}
            report = create(api, {"report_type": "clicks_details_excel", "search_params": search})
            complete(control, report["id"])
            in_files = [row["id"] for c in files_of(api, report["id"]) for row in xlsx_rows(c)]
        job = _job("hienergy", str(report["id"]), {"report_type": "ignored"})
        ids = expected_ids(server.url, job, str(report["id"]))
        assert ids == [str(int(value)) for value in in_files] and len(ids) > 100
    finally:
        server.stop()


def test_serve_banner_lists_every_vendor_and_vendor_flags_apply(tmp_path: Any) -> None:
    command = [
        sys.executable,
        "-c",
        "from export_pipelines.sandbox.cli import sandbox; sandbox(prog_name='sandbox')",
        "serve",
        "--port=0",
        "--seed=9",
        "--completion-delay=0",
        "--enterpret-records=1000",
        "--hienergy-rows-per-part=7",
        "--hienergy-advertisers=50",
        "--hienergy-deals=30",
        "--hienergy-clicks=100",
        "--hienergy-rate-limit=500",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ)
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip("\n") for _ in range(4)]
        assert re.fullmatch(
            r"export ENTERPRET_BASE_URL=http://127\.0\.0\.1:\d+/enterpret", lines[0]
        )
        assert lines[1] == "export ENTERPRET_API_KEY=sandbox-enterpret-key"
        match = re.fullmatch(
            r"export HIENERGY_BASE_URL=(http://127\.0\.0\.1:\d+)/hienergy/api/v1", lines[2]
        )
        assert match, lines[2]
        assert lines[3] == "export HIENERGY_API_KEY=sandbox-hienergy-key"
        root = match.group(1)
        params = httpx.get(f"{root}/_sandbox/hienergy/generator").json()
        assert params["seed"] == 9
        assert (params["advertiser_count"], params["deal_count"], params["click_count"]) == (
            50,
            30,
            100,
        )
        headers = {"X-Api-Key": "sandbox-hienergy-key"}
        base = f"{root}/hienergy/api/v1"
        created = httpx.post(
            f"{base}/exports", json={"report_type": "advertisers_csv"}, headers=headers
        )
        assert created.status_code == 201
        assert created.headers["x-ratelimit-limit"] == "500"
        report_id = created.json()["export"]["id"]
        done = httpx.post(f"{root}/_sandbox/hienergy/reports/{report_id}/complete", timeout=60)
        assert done.status_code == 200
        export = httpx.get(f"{base}/exports/{report_id}", headers=headers).json()["export"]
        assert export["progress"] == {"parts_ready": 8, "total_parts": 8}  # 50 rows, 7 per part
    finally:
        process.terminate()
        try:
            assert process.wait(timeout=15) == 0
        except subprocess.TimeoutExpired:
            process.kill()
            raise


def test_hienergy_config_dates_and_failure_types_are_checked() -> None:
    with pytest.raises(ValidationError, match="dataset_end"):
        hienergy.HiEnergySandboxConfig(dataset_start=date(2025, 1, 1), dataset_end=date(2024, 1, 1))
    with pytest.raises(ValidationError, match="unknown report types"):
        hienergy.HiEnergySandboxConfig(fail_report_types=frozenset({"payouts_csv"}))
